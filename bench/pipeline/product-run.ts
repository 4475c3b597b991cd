import { BlobServiceClient } from '@azure/storage-blob';
import type { RequestLogEntry } from '../../local/graph-simulator/index.js';
import { startLocalInfrastructure } from '../../local/stack.js';
import { INTAKE_CONTAINER } from '../../shared/domain/blob-layout.js';
import { processCpuSeconds } from '../process-cpu.js';
import { int, log } from './format.js';
import type { PipelineOptions } from './options.js';
import type { WorkerFinal } from './protocol.js';
import { SIMULATOR_TOKEN, startSimulator } from './simulator.js';
import { nextMessage, startWorker, type WorkerProcess } from './worker-process.js';
import { BENCH_SUPPLIER, type Workload } from './workload.js';

/**
 * The product run: Azurite, the Service Bus test broker and the simulator in this process, the
 * product in a child process of its own; upload the files, then wait until every device has
 * settled and no import record is left (or the clean-up grace, the timeout or --until-registered
 * ends it).
 */

export interface ProductRun {
  /** Simulated ms at which the last file was in storage. */
  t0: number;
  final: WorkerFinal;
  startRssMib: number;
  requests: readonly RequestLogEntry[];
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
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runProduct(options: PipelineOptions, workload: Workload): Promise<ProductRun> {
  const infrastructure = await startLocalInfrastructure();
  const sim = await startSimulator(options.scale);
  const azuriteCpuAtStart = processCpuSeconds(infrastructure.azurite.pid);
  const ownCpuAtStart = process.cpuUsage();
  let worker: WorkerProcess | undefined;
  try {
    const settings: Record<string, string> = {
      ZTP_SUPPLIERS: JSON.stringify([BENCH_SUPPLIER]),
      GRAPH_BASE_URL: sim.baseUrl,
      GRAPH_STATIC_TOKEN: SIMULATOR_TOKEN,
      ZTP_TIME_SCALE: String(options.scale),
      LOG_LEVEL: 'info',
      ...options.overrides,
    };
    worker = startWorker(
      {
        AzureWebJobsStorage: infrastructure.storageConnectionString,
        ServiceBusConnection: infrastructure.serviceBusConnectionString,
        BENCH_SETTINGS: JSON.stringify(settings),
      },
      options.cpuProfDir,
    );
    const ready = await nextMessage(worker.messages, 'ready');

    const container = BlobServiceClient.fromConnectionString(infrastructure.storageConnectionString).getContainerClient(INTAKE_CONTAINER);
    await container.createIfNotExists();
    const uploadStarted = Date.now();
    await Promise.all(workload.files.map((file) => container.getBlockBlobClient(file.blobName).uploadData(file.bytes)));
    const t0Real = Date.now();
    const t0 = sim.clock.now();
    const toSim = (realMs: number): number => t0 + (realMs - t0Real) * options.scale;
    const sinceT0 = (): number => (sim.clock.now() - t0) / 1000;
    log(`product: ${workload.files.length} files uploaded in ${int(t0Real - uploadStarted)} ms real; t0 = now`);

    const n = workload.devices.length;
    let settledAt: number | undefined;
    let lastPrint = 0;
    let timedOut = false;
    for (;;) {
      // Only decides when to stop: the times come from the product's own log lines.
      await sleep(1_000);
      const progress = worker.latest();
      const settled = progress ? progress.settled : 0;
      const records = sim.importedRecords().length;
      if (Date.now() - lastPrint > 5_000) {
        lastPrint = Date.now();
        const reached = progress?.reached;
        const stats = sim.stats();
        log(
          `  t+${int(sinceT0())} s  received ${int(reached?.received ?? 0)}  importing ${int(reached?.importing ?? 0)}  registered ${int(reached?.registered ?? 0)}` +
            `  profile ${int(reached?.['profile-assigned'] ?? 0)}  enrolled ${int(reached?.enrolled ?? 0)}  | Graph ${int(stats.total)} (429: ${stats.throttled})  import records ${int(records)}`,
        );
      }
      if (options.untilRegistered && (progress?.reached.registered ?? 0) >= n) break;
      if (settled >= n) settledAt ??= sim.clock.now();
      if (settledAt !== undefined && (records === 0 || (sim.clock.now() - settledAt) / 1000 > options.cleanupGraceSeconds)) break;
      if (Date.now() - t0Real > options.timeoutMs) {
        timedOut = true;
        log(`product: gave up after ${options.timeoutMinutes} real minutes`);
        break;
      }
    }

    worker.child.send({ type: 'stop' });
    const final = await Promise.race([
      nextMessage(worker.messages, 'final'),
      sleep(120_000).then(() => Promise.reject(new Error('the product process did not report within 2 minutes of being asked to stop'))),
    ]);
    const autopilotEnrolledAt = sim
      .managedDevices()
      .map((device) => Date.parse(String(device.enrolledDateTime)))
      .sort((a, b) => a - b);
    const azuriteCpu = processCpuSeconds(infrastructure.azurite.pid);
    const ownCpu = process.cpuUsage(ownCpuAtStart);
    return {
      t0,
      final,
      azuriteCpuSeconds: azuriteCpu === undefined || azuriteCpuAtStart === undefined ? undefined : azuriteCpu - azuriteCpuAtStart,
      simulatorCpuSeconds: (ownCpu.user + ownCpu.system) / 1e6,
      realSeconds: (Date.now() - t0Real) / 1000,
      startRssMib: ready.rssMib,
      requests: sim.requestLog(),
      autopilotEnrolledAt,
      importRecordsLeft: sim.importedRecords().length,
      timedOut,
      toSim,
    };
  } finally {
    // The product exits by itself once it has reported (writing its CPU profile, if asked).
    if (worker && worker.child.exitCode === null) {
      const child = worker.child;
      await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(15_000)]);
      if (child.exitCode === null) child.kill('SIGTERM');
    }
    await sim.stop();
    await infrastructure.stop();
  }
}
