import { parseArgs } from 'node:util';

/** The benchmark's command line, checked. */

export interface PipelineOptions {
  devices: number;
  files: number;
  scale: number;
  /** App settings for the product run, from --set. */
  overrides: Record<string, string>;
  skipBaseline: boolean;
  untilRegistered: boolean;
  cleanupGraceSeconds: number;
  cpuProfDir: string | undefined;
  /** As given, for the message when the run gives up. */
  timeoutMinutes: string;
  timeoutMs: number;
}

export function readOptions(): PipelineOptions {
  const { values: flags } = parseArgs({
    options: {
      devices: { type: 'string', default: '10000' },
      files: { type: 'string', default: '20' },
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
      /** How long (simulated seconds) to wait after the last device settles for the import records to be cleaned up. */
      'cleanup-grace': { type: 'string', default: '14400' },
      /** Write a V8 CPU profile of the product process into this directory. */
      'cpu-prof-dir': { type: 'string' },
      /** Give up on the product run after this many real minutes. */
      'timeout-minutes': { type: 'string', default: '30' },
    },
  });

  const devices = Number(flags.devices);
  const files = Number(flags.files);
  const scale = Number(flags.scale);
  const overrides = Object.fromEntries(
    (flags.set ?? []).map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`--set wants KEY=VALUE, got "${pair}"`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
  if (!Number.isInteger(devices) || !Number.isInteger(files) || devices % files !== 0)
    throw new Error('--devices must be a multiple of --files');
  if (!(scale > 0)) throw new Error('--scale must be positive');

  return {
    devices,
    files,
    scale,
    overrides,
    skipBaseline: flags['skip-baseline'] === true,
    untilRegistered: flags['until-registered'] === true,
    cleanupGraceSeconds: Number(flags['cleanup-grace']),
    cpuProfDir: flags['cpu-prof-dir'],
    timeoutMinutes: flags['timeout-minutes'],
    timeoutMs: Number(flags['timeout-minutes']) * 60_000,
  };
}
