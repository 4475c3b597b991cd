import type { Clock } from '../../domain/clock.js';
import type { WaitPolicy } from '../../domain/waiting.js';
import type { Logger } from '../../log.js';
import type { AutopilotPort } from '../autopilot-port.js';
import type { BatchDeviceIndex, DeviceStore, MessageQueue } from '../ports.js';
import type { TickDeps } from './ticks.js';
import type { RetryPolicy } from './work.js';

/** Everything the pipeline handlers need; built once by the runtime. */
export interface PipelineDeps extends PipelinePolicy {
  readonly devices: Pick<DeviceStore, 'get' | 'create' | 'save' | 'matching' | 'announce'>;
  /** Each transition's entry in its file's index; without it (tests that never read a batch) none is written. */
  readonly batchIndex?: BatchDeviceIndex;
  readonly graph: AutopilotPort;
  readonly queue: Pick<MessageQueue, 'send' | 'schedule'>;
  readonly ticks: TickDeps;
  readonly log: Logger;
  readonly now: Clock;
}

/** The pipeline's timings and sizes, already divided by ZTP_TIME_SCALE where they are waits. */
export interface PipelinePolicy {
  readonly waits: WaitPolicy;
  readonly retry: RetryPolicy;
  /** Starts every import id this deployment creates (its records, and only those, are cleaned up). */
  readonly importIdPrefix: string;
  /** Devices per Graph import request (the adapter's chunk size). */
  readonly importRequestSize: number;
  /** Devices per import message (ZTP_IMPORT_CHUNK_SIZE, as the intake queues them). */
  readonly importChunkSize: number;
  /** How long after its claim an import chunk may still send a device under it (real ms). */
  readonly claimSendMs: number;
  /**
   * How old a claim must be, when the import poll lists the records, for its absence from
   * the listing to mean its call never reached Autopilot (real ms; past claimSendMs).
   */
  readonly claimGraceMs: number;
  /** Below this many waiting devices, per-device reads are cheaper than listing the tenant. */
  readonly perDeviceReadLimit: number;
  /** Waiting devices a poll run holds at once: it moves a page on, checks its lock, reads the next. */
  readonly pollPageSize: number;
}
