import { parseArgs } from 'node:util';

/** The benchmark's command line, checked. */

export interface PipelineOptions {
  devices: number;
  files: number;
  rowsPerFile: number;
  /** Product processes sharing one Azurite, broker and simulator, as Functions instances share the app's. */
  instances: number;
  scale: number;
  /** App settings for the product run, from --set. */
  overrides: Record<string, string>;
  skipBaseline: boolean;
  untilRegistered: boolean;
  untilEnrolled: boolean;
  cleanupGraceSeconds: number;
  cpuProfDir: string | undefined;
  /** Node.js options for each product process, from --node-arg (e.g. a heap cap, to see what it does to peak RSS). */
  nodeArgs: string[];
  azuriteCpuProfDir: string | undefined;
  heapProfileDir: string | undefined;
  /** As given, for the message when the run gives up. */
  timeoutMinutes: string;
  timeoutMs: number;
  /** The command as typed, for the printout: figures are reported with the command that made them. */
  commandLine: string;
}

/** Files of at most this many rows when neither --files nor --rows-per-file says otherwise: a large supplier delivery. */
const LARGEST_DEFAULT_FILE = 10_000;
/** Up to 10,000 devices, the historical workload: 20 files (500 rows each at 10,000). */
const DEFAULT_FILES = 20;

export function readOptions(argv: readonly string[] = process.argv.slice(2)): PipelineOptions {
  const { values: flags } = parseArgs({
    args: [...argv],
    options: {
      devices: { type: 'string', default: '10000' },
      /** Default: 20 files up to 10,000 devices, files of 10,000 rows above (50,000 = 5 files). */
      files: { type: 'string' },
      'rows-per-file': { type: 'string' },
      instances: { type: 'string', default: '1' },
      /** Simulated seconds per real second, for the simulator and ZTP_TIME_SCALE alike. */
      scale: { type: 'string', default: '60' },
      /** An app setting for the product run, e.g. --set GRAPH_PAGE_SIZE=100 (repeatable). */
      set: { type: 'string', multiple: true, default: [] },
      'skip-baseline': { type: 'boolean', default: false },
      /**
       * Stop the product run once every device is registered: with it, --scale 1 measures the
       * time to registered on a real-time clock in a few minutes (enrolment alone takes 49 minutes).
       */
      'until-registered': { type: 'boolean', default: false },
      /** Stop once every device is enrolled, without waiting for the import records' clean-up. */
      'until-enrolled': { type: 'boolean', default: false },
      /** How long (simulated seconds) to wait after the last device settles for the import records to be cleaned up. */
      'cleanup-grace': { type: 'string', default: '14400' },
      /** Write a V8 CPU profile of each product process into this directory. */
      'cpu-prof-dir': { type: 'string' },
      /** A Node.js option for each product process, e.g. --node-arg=--max-old-space-size=192 (repeatable). */
      'node-arg': { type: 'string', multiple: true, default: [] },
      /** Write a V8 CPU profile of Azurite into this directory when it stops. */
      'azurite-cpu-prof-dir': { type: 'string' },
      /** Write a V8 sampling heap profile of each product process, taken at its peak RSS, into this directory. */
      'heap-profile-dir': { type: 'string' },
      /** Give up on the product run after this many real minutes. */
      'timeout-minutes': { type: 'string', default: '30' },
    },
  });

  const devices = Number(flags.devices);
  const instances = Number(flags.instances);
  const scale = Number(flags.scale);
  if (!Number.isInteger(devices) || devices <= 0) throw new Error('--devices must be a positive whole number');
  const { files, rowsPerFile } = fileLayout(devices, flags.files, flags['rows-per-file']);
  const overrides = Object.fromEntries(
    (flags.set ?? []).map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`--set wants KEY=VALUE, got "${pair}"`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
  if (!Number.isInteger(instances) || instances < 1) throw new Error('--instances must be a whole number ≥ 1');
  if (!(scale > 0)) throw new Error('--scale must be positive');
  const nodeArgs = flags['node-arg'] ?? [];
  for (const arg of nodeArgs) if (!arg.startsWith('--')) throw new Error(`--node-arg wants a Node.js option, got "${arg}"`);

  return {
    devices,
    files,
    rowsPerFile,
    instances,
    scale,
    overrides,
    skipBaseline: flags['skip-baseline'] === true,
    untilRegistered: flags['until-registered'] === true,
    untilEnrolled: flags['until-enrolled'] === true,
    cleanupGraceSeconds: Number(flags['cleanup-grace']),
    cpuProfDir: flags['cpu-prof-dir'],
    nodeArgs,
    azuriteCpuProfDir: flags['azurite-cpu-prof-dir'],
    heapProfileDir: flags['heap-profile-dir'],
    timeoutMinutes: flags['timeout-minutes'],
    timeoutMs: Number(flags['timeout-minutes']) * 60_000,
    commandLine: ['npm run bench:pipeline', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' '),
  };
}

/** Files × rows = devices, from whichever of the two is given (both must agree). */
function fileLayout(devices: number, filesFlag: string | undefined, rowsFlag: string | undefined): { files: number; rowsPerFile: number } {
  const given = (flag: string | undefined, name: string): number | undefined => {
    if (flag === undefined) return undefined;
    const value = Number(flag);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number`);
    return value;
  };
  let files = given(filesFlag, '--files');
  let rowsPerFile = given(rowsFlag, '--rows-per-file');
  if (files === undefined && rowsPerFile === undefined) {
    if (devices <= LARGEST_DEFAULT_FILE) files = DEFAULT_FILES;
    else rowsPerFile = LARGEST_DEFAULT_FILE;
  }
  files ??= devices / rowsPerFile!;
  rowsPerFile ??= devices / files;
  if (!Number.isInteger(files) || !Number.isInteger(rowsPerFile) || files * rowsPerFile !== devices)
    throw new Error(`--devices (${devices}) must be --files × --rows-per-file`);
  return { files, rowsPerFile };
}
