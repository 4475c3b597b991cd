import type { ChildProcess } from 'node:child_process';
import { BlobServiceClient } from '@azure/storage-blob';
import type { RequestLogEntry, RequestStats } from '../../local/graph-simulator/index.js';
import type { EntityTraffic } from '../../local/servicebus-broker/index.js';
import { startLocalInfrastructure } from '../../local/stack.js';
import type { GraphRequestCounts } from '../../shared/adapters/graph/graph-metrics.js';
import type { TableOperationCounts } from '../../shared/adapters/tables/table-metrics.js';
import { INTAKE_CONTAINER } from '../../shared/domain/blob-layout.js';
import { QUEUES } from '../../shared/messages/index.js';
import { processCpuSeconds } from '../process-cpu.js';
import { Fleet, sumTableOperations } from './fleet.js';
import { int, log } from './format.js';
import { machineState, type MachineState } from './machine.js';
import type { PipelineOptions } from './options.js';
import type { HandlerTiming, PollRecord, TimedState, WorkerFinal } from './protocol.js';
import { productSettings } from './settings.js';
import { startSimulator } from './simulator.js';
import { buildProductWorker, nextMessage, startWorker, type WorkerProcess } from './worker-process.js';
import type { Workload } from './workload.js';

/**
 * The product run: Azurite, the Service Bus test broker and the simulator in this process, the
 * product in child processes of its own (one per instance); upload the files, then wait until
 * every device has settled and no import record is left (or the clean-up grace, the timeout,
 * --until-registered or --until-enrolled ends it).
 */

/** Service Bus traffic per queue, from the broker. */
export type BusTraffic = Record<string, EntityTraffic>;

export interface MilestoneFigures {
  /** Real ms since epoch. */
  at: number;
  tableOperations: TableOperationCounts;
  serviceBus: BusTraffic;
}

/** What every instance reported, put together. */
export interface MergedFinal {
  firstReached: Record<TimedState, number[]>;
  events: Record<string, number>;
  /** Each instance's first warning and error lines, prefixed with the instance. */
  warnings: string[];
  requeuedDevices: number;
  cpuSeconds: number;
  handlers: Record<string, HandlerTiming>;
  polls: PollRecord[];
  failedInvocations: number;
  tableOperations: TableOperationCounts;
  graphRequests: GraphRequestCounts;
}

export interface InstanceFigures {
  startRssMib: number;
  final: WorkerFinal;
}

export interface ProductRun {
  /** Simulated ms at which the last file was in storage. */
  t0: number;
  final: MergedFinal;
  instances: InstanceFigures[];
  milestones: Partial<Record<'registered' | 'enrolled', MilestoneFigures>>;
  serviceBus: BusTraffic;
  requests: readonly RequestLogEntry[];
  simulatorStats: RequestStats;
  /** Simulated ms at which Autopilot enrolled each device (from the simulator's managed devices). */
  autopilotEnrolledAt: number[];
  importRecordsLeft: number;
  timedOut: boolean;
  /** Real ms → simulated ms. */
  toSim: (realMs: number) => number;
  /** CPU seconds spent during the run by Azurite and by this process (the simulator), beside the product's own. */
  azuriteCpuSeconds: number | undefined;
  simulatorCpuSeconds: number;
  /** Real seconds from t0 to the end of the run. */
  realSeconds: number;
  machineAtEnd: MachineState;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A deadline that does not keep the benchmark alive once what it guards has settled. */
const deadline = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

export async function runProduct(options: PipelineOptions, workload: Workload): Promise<ProductRun> {
  const started = Date.now();
  const elapsed = (): string => `${int((Date.now() - started) / 1000)} s`;
  const workerFile = await buildProductWorker();
  log(`product: compiled at ${elapsed()}`);
  const infrastructure = await startLocalInfrastructure({ azurite: { cpuProfDir: options.azuriteCpuProfDir } });
  const sim = await startSimulator(options.scale);
  const azuriteCpuAtStart = processCpuSeconds(infrastructure.azurite.pid);
  const ownCpuAtStart = process.cpuUsage();
  const busTraffic = (): BusTraffic =>
    Object.fromEntries(Object.values(QUEUES).map((queue) => [queue, infrastructure.broker.traffic(queue)]));
  const n = workload.devices.length;
  const milestones: ProductRun['milestones'] = {};
  const fleet = new Fleet(n, (name) => {
    const reached = fleet.milestones[name]!;
    milestones[name] = { at: reached.at, tableOperations: reached.tableOperations, serviceBus: busTraffic() };
  });
  const workers: WorkerProcess[] = [];
  try {
    const env = {
      AzureWebJobsStorage: infrastructure.storageConnectionString,
      ServiceBusConnection: infrastructure.serviceBusConnectionString,
      BENCH_SETTINGS: JSON.stringify(productSettings(options, sim.baseUrl)),
    };
    for (let instance = 0; instance < options.instances; instance++) {
      workers.push(
        startWorker(
          env,
          {
            file: workerFile,
            instance,
            instances: options.instances,
            cpuProfDir: options.cpuProfDir,
            nodeArgs: options.nodeArgs,
            heapProfileDir: options.heapProfileDir,
          },
          (progress) => fleet.add(instance, progress),
        ),
      );
    }
    const ready = await Promise.all(workers.map((worker) => nextMessage(worker.messages, 'ready')));
    log(`product: ${workers.length} process${workers.length === 1 ? '' : 'es'} ready at ${elapsed()}`);

    const container = BlobServiceClient.fromConnectionString(infrastructure.storageConnectionString).getContainerClient(INTAKE_CONTAINER);
    await container.createIfNotExists();
    const uploadStarted = Date.now();
    await Promise.all(workload.files.map((file) => container.getBlockBlobClient(file.blobName).uploadData(file.bytes)));
    const t0Real = Date.now();
    const t0 = sim.clock.now();
    const toSim = (realMs: number): number => t0 + (realMs - t0Real) * options.scale;
    const sinceT0 = (): number => (sim.clock.now() - t0) / 1000;
    log(`product: ${workload.files.length} files uploaded in ${int(t0Real - uploadStarted)} ms real; t0 = now`);

    let settledAt: number | undefined;
    let lastPrint = 0;
    let timedOut = false;
    let aborted: string | undefined;
    for (;;) {
      // Only decides when to stop: the times come from the product's own log lines.
      await sleep(1_000);
      const records = sim.importedRecords().length;
      if (Date.now() - lastPrint > 5_000) {
        lastPrint = Date.now();
        const stats = sim.stats();
        log(
          `  t+${int(sinceT0())} s  received ${int(fleet.reached('received'))}  importing ${int(fleet.reached('importing'))}  registered ${int(fleet.reached('registered'))}` +
            `  profile ${int(fleet.reached('profile-assigned'))}  enrolled ${int(fleet.reached('enrolled'))}  | Graph ${int(stats.total)} (429: ${stats.throttled})  import records ${int(records)}`,
        );
      }
      if (options.untilRegistered && fleet.reached('registered') >= n) break;
      if (fleet.settled() >= n) settledAt ??= sim.clock.now();
      if (options.untilEnrolled && settledAt !== undefined) break;
      if (settledAt !== undefined && (records === 0 || (sim.clock.now() - settledAt) / 1000 > options.cleanupGraceSeconds)) break;
      const lost = lostProcess(infrastructure.azurite.pid, workers);
      if (lost) {
        aborted = `${lost} during the run: the figures are void`;
        log(`product: ${aborted}`);
        break;
      }
      if (Date.now() - t0Real > options.timeoutMs) {
        timedOut = true;
        log(`product: gave up after ${options.timeoutMinutes} real minutes`);
        break;
      }
    }

    if (aborted) {
      for (const { child } of workers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      throw new Error(`product run aborted: ${aborted}`);
    }
    const realSeconds = (Date.now() - t0Real) / 1000;
    log(`product: asking the product to stop at ${elapsed()}`);
    for (const worker of workers) worker.child.send({ type: 'stop' });
    const finals = await Promise.race([
      Promise.all(workers.map((worker) => nextMessage(worker.messages, 'final'))),
      deadline(180_000).then(() => Promise.reject(new Error('a product process did not report within 3 minutes of being asked to stop'))),
    ]);
    log(`product: every process reported at ${elapsed()}`);
    for (const final of finals)
      if (final.stopped !== 'stopped') log(`product: process ${final.instance} reported without a clean stop (${final.stopped})`);
    const autopilotEnrolledAt = sim
      .managedDevices()
      .map((device) => Date.parse(String(device.enrolledDateTime)))
      .sort((a, b) => a - b);
    const azuriteCpu = processCpuSeconds(infrastructure.azurite.pid);
    const ownCpu = process.cpuUsage(ownCpuAtStart);
    return {
      t0,
      final: merge(finals, fleet),
      instances: finals.map((final, index) => ({ startRssMib: ready[index]!.rssMib, final })),
      milestones,
      serviceBus: busTraffic(),
      azuriteCpuSeconds: azuriteCpu === undefined || azuriteCpuAtStart === undefined ? undefined : azuriteCpu - azuriteCpuAtStart,
      simulatorCpuSeconds: (ownCpu.user + ownCpu.system) / 1e6,
      realSeconds,
      requests: sim.requestLog(),
      simulatorStats: sim.stats(),
      autopilotEnrolledAt,
      importRecordsLeft: sim.importedRecords().length,
      timedOut,
      toSim,
      machineAtEnd: machineState(),
    };
  } finally {
    // Each product process exits by itself once it has reported (writing its profiles, if asked).
    await Promise.all(
      workers.map(async ({ child }) => {
        if (await exitedWithin(child, 15_000)) return;
        child.kill('SIGTERM');
        if (!(await exitedWithin(child, 5_000))) child.kill('SIGKILL');
      }),
    );
    // An emulator still busy with what the product left behind must not keep the report waiting.
    const stopping = async (what: string, stop: Promise<void>): Promise<void> => {
      const outcome = await Promise.race([stop.then(() => 'stopped'), deadline(30_000).then(() => 'timeout')]);
      if (outcome === 'timeout') log(`product: ${what} did not stop within 30 s; going on`);
    };
    await stopping('the simulator', sim.stop());
    await stopping('Azurite and the broker', infrastructure.stop());
    try {
      process.kill(infrastructure.azurite.pid, 'SIGKILL');
    } catch {
      // Already gone, as it should be.
    }
  }
}

/** Whether the process has ended, or ends within `ms`. */
async function exitedWithin(child: ChildProcess, ms: number): Promise<boolean> {
  const ended = (): boolean => child.exitCode !== null || child.signalCode !== null;
  if (!ended()) await Promise.race([new Promise((resolve) => child.once('exit', resolve)), deadline(ms)]);
  return ended();
}

/** Azurite or a product process that is no longer there, if any (another program may end them). */
function lostProcess(azuritePid: number, workers: readonly WorkerProcess[]): string | undefined {
  try {
    process.kill(azuritePid, 0);
  } catch {
    return `Azurite (pid ${azuritePid}) ended`;
  }
  const gone = workers.find(({ child }) => child.exitCode !== null || child.signalCode !== null);
  return gone
    ? `product process ${gone.instance} (pid ${gone.child.pid ?? '?'}) ended (${gone.child.signalCode ?? `exit ${gone.child.exitCode ?? '?'}`})`
    : undefined;
}

function merge(finals: readonly WorkerFinal[], fleet: Fleet): MergedFinal {
  const events: Record<string, number> = {};
  const handlers: Record<string, HandlerTiming> = {};
  const graphRequests: GraphRequestCounts = {};
  for (const final of finals) {
    for (const [name, count] of Object.entries(final.events)) events[name] = (events[name] ?? 0) + count;
    for (const [kind, timing] of Object.entries(final.handlers)) {
      const into = (handlers[kind] ??= { invocations: 0, totalMs: 0, maxMs: 0 });
      into.invocations += timing.invocations;
      into.totalMs += timing.totalMs;
      into.maxMs = Math.max(into.maxMs, timing.maxMs);
    }
    for (const [method, byStatus] of Object.entries(final.graphRequests)) {
      const into = (graphRequests[method] ??= {});
      for (const [status, count] of Object.entries(byStatus)) into[status] = (into[status] ?? 0) + count;
    }
  }
  const sum = (pick: (final: WorkerFinal) => number): number => finals.reduce((total, final) => total + pick(final), 0);
  return {
    firstReached: fleet.firstReached(),
    events,
    warnings: finals.flatMap((final) => final.warnings.map((line) => `instance ${final.instance}: ${line}`)),
    requeuedDevices: sum((final) => final.requeuedDevices),
    cpuSeconds: sum((final) => final.cpuSeconds),
    handlers,
    polls: finals.flatMap((final) => final.polls).sort((a, b) => a.at - b.at),
    failedInvocations: sum((final) => final.failedInvocations),
    tableOperations: sumTableOperations(finals.map((final) => final.tableOperations)),
    graphRequests,
  };
}
