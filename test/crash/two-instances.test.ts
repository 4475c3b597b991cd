import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, describe, expect, it } from 'vitest';
import type { GraphSimulator } from '../../local/graph-simulator/index.js';
import { startInfra, type RunningInfra } from '../../local/run-infra.js';
import { sampleHashFileBytes } from '../../local/sample-data.js';
import { batchIdOf } from '../../shared/domain/batch.js';
import { EVENTS } from '../../shared/events.js';

/**
 * Two instances of the app on one storage account, one broker and one simulator (started as
 * `npm run infra` starts them), each `npm start` in a process of its own with its own API port
 * and `.local/`. A few hundred devices in two files; one instance is killed (SIGKILL, nothing
 * cleaned up) while the first devices are being imported, and started again. Then: every device
 * enrolled, none imported twice, no Autopilot identity doubled, the Graph budget never exceeded
 * in any sliding 20 s of the simulator's clock, and no two runs of a poll at once across both
 * instances (their JSON logs carry each run's start and end).
 */

const repo = path.resolve(__dirname, '..', '..');
const tsx = path.join(repo, 'node_modules', 'tsx', 'dist', 'cli.mjs');

const TIME_SCALE = 60;
const DEVICES_PER_FILE = 150;
const FILES = 2;
// Low enough that clean-up (one DELETE per device) and the status reads run into it.
const BUDGET = { writes: 40, requests: 200 };

interface Instance {
  readonly name: string;
  readonly root: string;
  child: ChildProcess;
  output: string;
  /** When this instance's earlier lives were killed (ms since epoch): their open runs ended then. */
  readonly kills: number[];
}

const work = mkdtempSync(path.join(tmpdir(), 'ztp-crash-'));
let infra: RunningInfra | undefined;
const instances: Instance[] = [];

afterAll(async () => {
  for (const instance of instances) killGroup(instance.child, 'SIGKILL');
  await infra?.stop();
  rmSync(work, { recursive: true, force: true });
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function spawnInstance(instance: Pick<Instance, 'name' | 'root'>, settings: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [tsx, path.join(repo, 'local', 'start.ts')], {
    cwd: repo,
    // Its own process group, so that SIGKILL takes the instance and nothing else, as a crash would.
    detached: true,
    env: {
      ...process.env,
      ...settings,
      ZTP_API_PORT: '0',
      ZTP_LOCAL_ROOT: instance.root,
      LOG_LEVEL: 'debug',
      GRAPH_WRITES_PER_20S: String(BUDGET.writes),
      GRAPH_REQUESTS_PER_20S: String(BUDGET.requests),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return child;
}

async function startInstance(name: string, settings: Record<string, string>): Promise<Instance> {
  const root = path.join(work, name);
  mkdirSync(root, { recursive: true });
  const instance: Instance = { name, root, child: spawnInstance({ name, root }, settings), output: '', kills: [] };
  instances.push(instance);
  await running(instance);
  return instance;
}

async function restart(instance: Instance, settings: Record<string, string>): Promise<void> {
  instance.child = spawnInstance(instance, settings);
  instance.output = '';
  await running(instance);
}

async function running(instance: Instance): Promise<void> {
  const take = (chunk: Buffer): void => void (instance.output = `${instance.output}${chunk.toString()}`.slice(-20_000));
  instance.child.stdout!.on('data', take);
  instance.child.stderr!.on('data', take);
  const until = Date.now() + 60_000;
  while (!instance.output.includes('ztp local stack is running')) {
    if (Date.now() > until || instance.child.exitCode !== null) throw new Error(`${instance.name} did not start:\n${instance.output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function apiBase(instance: Instance): string {
  const endpoints = JSON.parse(readFileSync(path.join(instance.root, '.local', 'stack.json'), 'utf8')) as { apiBaseUrl: string };
  return endpoints.apiBaseUrl;
}

/** Every JSON line an instance logged, over all its lives (the log file is appended to). */
function logLines(instance: Instance): Record<string, unknown>[] {
  const file = path.join(instance.root, '.local', 'stack.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        // The last line of a killed life may be cut off.
        return [];
      }
    });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

interface Run {
  readonly instance: string;
  readonly tick: string;
  readonly owner: string;
  readonly from: number;
  readonly to: number;
}

/** Each poll run of an instance, from its start to its end (or to the kill that cut it short). */
function pollRuns(instance: Instance): Run[] {
  const lines = logLines(instance);
  const ended = new Map(
    lines.filter((line) => line.event === EVENTS.pollRunEnded).map((line) => [String(line.owner), Date.parse(String(line.time))] as const),
  );
  return lines
    .filter((line) => line.event === EVENTS.pollRunStarted)
    .map((line) => {
      const from = Date.parse(String(line.time));
      const to = ended.get(String(line.owner)) ?? instance.kills.find((kill) => kill >= from) ?? Number.POSITIVE_INFINITY;
      return { instance: instance.name, tick: String(line.tick), owner: String(line.owner), from, to };
    });
}

describe('two instances, one killed mid-import and started again', () => {
  it('lose nothing, double nothing, keep the budget and run each poll once at a time', { timeout: 600_000 }, async () => {
    const started = Date.now();
    infra = await startInfra({
      root: path.join(work, 'infra'),
      env: { ZTP_TIME_SCALE: String(TIME_SCALE) },
      simulator: {
        // Autopilot's waits shortened (simulated seconds) so the whole way to enrolled takes a few real seconds.
        latencies: {
          importSeconds: [30, 90],
          groupMembershipSeconds: [30, 60],
          profileAssignmentSeconds: [60, 120],
          enrolmentSeconds: [60, 180],
        },
      },
    });
    const sim: GraphSimulator = infra.simulator!;
    const settings = { ...infra.settings };
    expect(settings.ZTP_TIME_SCALE).toBe(String(TIME_SCALE));

    const a = await startInstance('a', settings);
    const b = await startInstance('b', settings);

    const files = Array.from({ length: FILES }, (_, index) =>
      sampleHashFileBytes({ rows: DEVICES_PER_FILE, seed: 9100 + index, groupTagShare: 1, groupTags: ['MPS-STD', 'MPS-KIOSK'] }),
    );
    const serials = files.flatMap((file) => file.rows.map((row) => row.device.serialNumber));
    expect(new Set(serials).size).toBe(FILES * DEVICES_PER_FILE);
    const batchIds = files.map((file) => batchIdOf('demo', createHash('sha256').update(file.bytes).digest('hex')));
    const uploads = BlobServiceClient.fromConnectionString(settings.AzureWebJobsStorage!).getContainerClient('hash-uploads');
    await Promise.all(files.map((file, index) => uploads.getBlockBlobClient(`demo/delivery-${index}.csv`).uploadData(file.bytes)));

    // The first import request answered: one instance dies while the rest are on their way.
    await waitFor(
      'the first import request',
      () => (sim.requestLog().some((entry) => entry.route.endsWith('/import')) ? true : undefined),
      60_000,
      10,
    );
    const importingIn = (instance: Instance): number =>
      logLines(instance).filter((line) => line.event === EVENTS.deviceTransition && line.to === 'importing').length;
    const victim = importingIn(b) > importingIn(a) ? b : a;
    killGroup(victim.child, 'SIGKILL');
    victim.kills.push(Date.now());
    const registeredAtKill = sim.autopilotIdentities().length;
    expect(registeredAtKill, 'the kill came before every device was registered').toBeLessThan(serials.length);
    await new Promise((resolve) => victim.child.once('exit', resolve));

    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await restart(victim, settings);

    // Every device enrolled, as both files' summaries count them.
    const survivor = victim === a ? b : a;
    await waitFor(
      'every device enrolled',
      async () => {
        const counts = await Promise.all(
          batchIds.map(async (batchId) => {
            const response = await fetch(`${apiBase(survivor)}/batches/${batchId}`);
            if (response.status !== 200) return 0;
            const body = (await response.json()) as { devices: { byState: Record<string, number> } };
            return body.devices.byState.enrolled ?? 0;
          }),
        );
        return counts.reduce((sum, count) => sum + count, 0) === serials.length ? true : undefined;
      },
      300_000,
      1_000,
    );
    const states = await Promise.all(
      serials.map(async (serial) => {
        const response = await fetch(`${apiBase(victim)}/devices?serial=${encodeURIComponent(serial)}`);
        return ((await response.json()) as { device: { state: string } }).device.state;
      }),
    );
    expect(states.filter((state) => state !== 'enrolled')).toEqual([]);

    // None imported twice; one Autopilot identity per device.
    const imports = sim.importsBySerial();
    expect(Object.keys(imports).sort()).toEqual(serials.map((serial) => serial.toUpperCase()).sort());
    expect(Object.entries(imports).filter(([, count]) => count !== 1)).toEqual([]);
    const identities = sim.autopilotIdentities();
    expect(identities).toHaveLength(serials.length);
    expect(new Set(identities.map((identity) => identity.serialNumber)).size).toBe(serials.length);

    // The budget held in every sliding 20 s of the clock it is counted on, across both instances.
    const stats = sim.stats();
    expect(stats.throttled).toBe(0);
    expect(stats.busiest.simulated.writes, JSON.stringify(stats.busiest)).toBeLessThanOrEqual(BUDGET.writes);
    expect(stats.busiest.simulated.requests, JSON.stringify(stats.busiest)).toBeLessThanOrEqual(BUDGET.requests);

    // Stopped as Ctrl-C stops them, so that every run they began has logged its end.
    await Promise.all(
      instances.map(async (instance) => {
        const exited = new Promise((resolve) => instance.child.once('exit', resolve));
        killGroup(instance.child, 'SIGINT');
        const stopped = await Promise.race([exited.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 30_000))]);
        expect(stopped, `${instance.name} did not stop on SIGINT:\n${instance.output}`).toBe(true);
      }),
    );

    // Never two runs of one poll at once, across instances and lives.
    const runs = instances.flatMap(pollRuns).sort((x, y) => x.from - y.from);
    expect(runs.filter((run) => run.tick === 'imports').length).toBeGreaterThan(1);
    const overlaps: string[] = [];
    for (const [index, run] of runs.entries()) {
      for (const later of runs.slice(index + 1)) {
        if (later.tick === run.tick && later.from < run.to) overlaps.push(`${JSON.stringify(run)} and ${JSON.stringify(later)}`);
      }
    }
    expect(overlaps).toEqual([]);
    const lost = instances.flatMap(logLines).filter((line) => line.event === EVENTS.pollRunLockLost);
    expect(lost).toEqual([]);
    // Both instances moved devices on: the work was shared, not done by one while the other idled.
    const moved = Object.fromEntries(
      instances.map((instance) => [instance.name, logLines(instance).filter((line) => line.event === EVENTS.deviceTransition).length]),
    );
    for (const instance of instances) expect(moved[instance.name], JSON.stringify(moved)).toBeGreaterThan(0);

    console.log(
      `crash test: ${serials.length} devices enrolled in ${Math.round((Date.now() - started) / 1000)} s; ` +
        `killed ${victim.name} with ${registeredAtKill} registered; busiest ${JSON.stringify(stats.busiest.simulated)}; ` +
        `${runs.length} poll runs (${JSON.stringify(Object.fromEntries(instances.map((i) => [i.name, runs.filter((r) => r.instance === i.name).length])))}); ` +
        `transitions ${JSON.stringify(moved)}; Graph ${stats.total} requests`,
    );
  });
});
