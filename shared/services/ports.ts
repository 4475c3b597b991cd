import type { Readable } from 'node:stream';
import type { BatchRecord } from '../domain/batch.js';
import type { BatchCounts } from '../domain/batch-counts.js';
import type { DeviceEvent, DeviceRecord } from '../domain/device.js';
import type { IdempotencyRecord } from '../domain/idempotency.js';
import type { DeviceClause, FollowUp } from '../domain/follow-ups.js';
import type { DeviceState, WaitStep } from '../domain/lifecycle.js';
import type { OutgoingMessage, QueueName } from '../messages/index.js';
import type { HealthReport } from './health.js';

/**
 * The ports the use cases own: what they need of storage, queues and blobs, in their own
 * terms. Adapters implement them (`shared/adapters/`); use cases never import an adapter.
 * Graph's port is in `autopilot-port.ts`.
 */

/** A stored value with the ETag that guards its next write. */
export interface Versioned<T> {
  readonly value: T;
  readonly etag: string;
}

/** Devices in `state`, and when given, waiting for one of `waitingFor`, and of the file `batchId`. */
export type StateClause = DeviceClause;

/**
 * Devices and their history. Writes are ETag-guarded and carry their history event in the
 * same transaction: ConcurrencyConflictError when the record moved on, EntityExistsError
 * when a create finds it there.
 */
/** A device's record and every history event it counts, oldest first. */
export interface DeviceWithHistory {
  readonly record: Versioned<DeviceRecord>;
  readonly history: DeviceEvent[];
}

export interface DeviceStore {
  get(serialNumber: string): Promise<Versioned<DeviceRecord> | undefined>;
  create(record: DeviceRecord, event: DeviceEvent): Promise<Versioned<DeviceRecord>>;
  /** `current` is the version `next` was made from: its ETag guards the write. */
  save(next: DeviceRecord, current: Versioned<DeviceRecord>, event?: DeviceEvent): Promise<Versioned<DeviceRecord>>;
  history(serialNumber: string): Promise<DeviceEvent[]>;
  /**
   * The record and its history read together, in one query of the device's partition: the
   * history ends where the record is (an event the record does not count yet is left out).
   */
  withHistory(serialNumber: string): Promise<DeviceWithHistory | undefined>;
  /**
   * Devices matching any clause, from an index of waiting devices: what is read grows with the
   * devices waiting, never with the settled fleet. Only states a follow-up waits on can be asked
   * for (not enrolled without `group-tag`, failed, rejected or deregistered); records come without
   * their hardware hash, which `save` then leaves as stored.
   */
  matching(clauses: readonly StateClause[]): AsyncIterable<Versioned<DeviceRecord>>;
  /**
   * Devices about to move under `into` (`followUpOf` of their next state), many at once: what
   * the store must write before each of their transactions is written for all of them together.
   * Only saves, which it spares a round trip each; a device announced that does not move is harmless.
   */
  announce?(into: FollowUp, devices: readonly Pick<DeviceRecord, 'serialNumber' | 'batchId' | 'line'>[]): Promise<void>;
}

/** Supplier files. EntityExistsError / ConcurrencyConflictError as for devices. */
export interface BatchStore {
  get(batchId: string): Promise<Versioned<BatchRecord> | undefined>;
  create(batch: BatchRecord): Promise<Versioned<BatchRecord>>;
  save(batch: BatchRecord, etag: string): Promise<Versioned<BatchRecord>>;
  /** Files still open with this status, from the store's list of open files: settled ones are never read. */
  withStatus(status: 'processing' | 'complete'): AsyncIterable<Versioned<BatchRecord>>;
}

/**
 * A device as one file sees it: its latest state while the device belongs to the file, or its
 * last state there once a later file took it (`movedTo`). `accepted` is false for a device
 * this file's row rejected at intake.
 */
export interface BatchDeviceEntry {
  readonly serialNumber: string;
  readonly line: number;
  readonly state: DeviceState;
  readonly reasons: readonly string[];
  readonly note: string | undefined;
  readonly waitingFor: WaitStep | undefined;
  /** The device's event count when this entry was written: an entry never moves backwards. */
  readonly eventCount: number;
  readonly accepted: boolean;
  /** The later file the device moved to; its state here is frozen from then on. */
  readonly movedTo: string | undefined;
}

/** A rejected row that recorded no device under its file: its line, its serial ('' without one) and its reason codes. */
export type RejectedRowEntry = Pick<BatchDeviceEntry, 'line' | 'serialNumber' | 'reasons'>;

/**
 * The devices of each file, one partition per batch: a batch summary and its final report read
 * one partition instead of scanning the devices table. Written after each transition; a write
 * never replaces an entry with a higher `eventCount`. A rejected row that recorded no device
 * under the file has an entry of its own, so the file's summary lists every rejected row.
 */
export interface BatchDeviceIndex {
  /**
   * Writes the device's entry as the device now is. Writes of many devices go out together, so
   * an entry may lag its device by a moment; of writes of one entry arriving together, the
   * highest `eventCount` wins. `accepted` is written only when given (the write that brings the
   * device into the file decides it); a stored `movedTo` is kept.
   */
  record(batchId: string, entry: Omit<BatchDeviceEntry, 'movedTo' | 'accepted'> & { readonly accepted?: boolean }): Promise<void>;
  /**
   * The entry of a rejected row that recorded no device under this file, keyed by its line
   * (written again as it is: a re-run of the file leaves one). It reads back as a `rejected`
   * entry the file did not accept, at event count 0; it never is, or replaces, a device's entry.
   */
  recordRejectedRow(batchId: string, row: RejectedRowEntry): Promise<void>;
  /** Marks the device's entry (at its `line` of the file) in `batchId` as moved to `movedTo` (nothing when it has none). */
  markMoved(batchId: string, device: Pick<BatchDeviceEntry, 'serialNumber' | 'line'>, movedTo: string): Promise<void>;
  /** Every entry of the batch, its devices' and its rejected rows' (in no set order). */
  entries(batchId: string): AsyncIterable<BatchDeviceEntry>;
  /** The file's devices counted as their entries stand (a read per 1,000 lines, not per device). */
  tally(batchId: string): Promise<BatchTally>;
  /** The entries a summary lists one by one: every rejected row, and the file's failed and stalled devices. */
  listed(batchId: string): AsyncIterable<BatchDeviceEntry>;
}

/** A file's counts (see batch-counts.ts), and when an entry of the file last changed (undefined: none yet). */
export interface BatchTally {
  readonly counts: BatchCounts;
  readonly changedAt: string | undefined;
}

/** When a poll's next run is due. */
export interface TickLease {
  readonly scheduledFor: string | undefined;
  readonly etag: string | undefined;
}

/** Who is running a poll now, until when, and whether another run was asked for meanwhile. */
export interface TickRunLock {
  readonly owner: string | undefined;
  readonly until: string | undefined;
  readonly rerun: boolean;
  readonly etag: string | undefined;
}

/** One lease and one run lock per poll; writes fail with a conflict error when another instance moved first. */
export interface TickLeaseStore {
  get(tick: string): Promise<TickLease>;
  /**
   * The lease as this instance last read or wrote it, without a round trip; stale when another
   * instance has written since (a write at its ETag then fails).
   */
  lastKnown(tick: string): TickLease | undefined;
  set(tick: string, scheduledFor: string, etag: string | undefined): Promise<void>;
  getLock(tick: string): Promise<TickRunLock>;
  /** Resolves to the lock's new ETag. */
  setLock(tick: string, lock: Omit<TickRunLock, 'etag'>, etag: string | undefined): Promise<string>;
}

/** How far the dead letters of one queue have been reported. */
export interface DeadLetterCursor {
  readonly lastSequenceNumber: string | undefined;
  readonly etag: string | undefined;
}

export interface DeadLetterCursorStore {
  get(queue: string): Promise<DeadLetterCursor>;
  /** ConcurrencyConflictError / EntityExistsError when another run moved it first. */
  advance(queue: string, lastSequenceNumber: string, etag: string | undefined): Promise<void>;
}

/**
 * A message set aside because it could not be read: what it said about itself, why, and its
 * body (so an operator can fix and replay it; logs never carry it).
 */
export interface PoisonRecord {
  readonly queue: QueueName;
  readonly messageId: string;
  readonly kind: string | undefined;
  readonly correlationId: string | undefined;
  readonly reason: string;
  readonly description: string;
  readonly parkedAt: string;
  /** The body as received (JSON text unless it was text already), cut to MAX_PARKED_BODY characters. */
  readonly body: string | undefined;
}

/** The reason of a set-aside record for work that failed on its last transient retry (the others are PoisonReason's). */
export const RETRIES_EXHAUSTED = 'retries-exhausted';

/** A table property holds 64 KiB, i.e. 32K UTF-16 characters; a body longer than this is kept cut short. */
export const MAX_PARKED_BODY = 30_000;

export interface PoisonStore {
  /** True when this call set it aside; false when a redelivery finds it there already. */
  park(record: PoisonRecord): Promise<boolean>;
  list(): AsyncIterable<PoisonRecord>;
}

/** Where a supplier file's trigger gave up on it (both are read by the sweeper). */
export type IntakeFailureSource = 'blob-trigger-poison' | 'event-grid-dead-letter';

/**
 * A supplier file whose trigger gave up: the blob trigger put it on its poison queue after its
 * retries, or Event Grid dead-lettered its BlobCreated event (the app was unreachable for the
 * event's lifetime). What the source says about it; never the file's content.
 */
export interface IntakeFailure {
  readonly source: IntakeFailureSource;
  /** The blob under hash-uploads: `{supplierId}/{fileName}`. */
  readonly blobName: string;
  /** The blob version that failed, when the source names it. */
  readonly etag: string | undefined;
  /** The source's own words: the dead-letter reason and last outcome, or the function that gave up. */
  readonly reason: string;
  readonly attempts: number | undefined;
  /** ISO 8601, when the source says. */
  readonly failedAt: string | undefined;
  /** What removing it from its source needs; failures that share one are removed together. */
  readonly receipt: string;
}

/** The trigger's own failure records: read a few at a time, removed once recorded here. */
export interface IntakeFailureFeed {
  take(max: number): Promise<IntakeFailure[]>;
  /** Removes the item `receipt` names from its source; nothing when it is gone already. */
  remove(receipt: string): Promise<void>;
}

/** Intake failures as the app keeps them for operators, one per source, blob and version. */
export interface IntakeFailureStore {
  /** True when this call recorded it; false when it was recorded before (a run that stopped half way). */
  record(failure: Omit<IntakeFailure, 'receipt'>, recordedAt: Date): Promise<boolean>;
  count(): Promise<number>;
}

/**
 * Idempotency records of the re-provisioning webhook, one per key. EntityExistsError when a
 * create finds the key taken, ConcurrencyConflictError when a save finds it moved on.
 */
export interface IdempotencyStore {
  get(key: string): Promise<Versioned<IdempotencyRecord> | undefined>;
  create(record: IdempotencyRecord): Promise<Versioned<IdempotencyRecord>>;
  save(record: IdempotencyRecord, etag: string): Promise<Versioned<IdempotencyRecord>>;
  /** Removes records expired before `now`; returns how many. */
  purgeExpired(now: Date): Promise<number>;
}

/**
 * Signatures the webhook accepted, for as long as their timestamp could still pass: a captured
 * signed request cannot be replayed against another device (the route's serial is not signed).
 */
export interface SignatureLedger {
  /** Records `signature` (a digest of it) as used for `fingerprint`; false when it was already used for another request. */
  claimSignature(signature: string, fingerprint: string, now: Date, expiresAt: Date): Promise<boolean>;
}

/** What a dead-lettered message says about itself; never its body. */
export interface DeadLetteredMessage {
  /** 64-bit, as a decimal string: a number would lose precision. */
  readonly sequenceNumber: string;
  readonly messageId: string | undefined;
  /** The envelope kind (the message's subject). */
  readonly kind: string | undefined;
  readonly correlationId: string | undefined;
  readonly deadLetterReason: string | undefined;
  readonly deadLetterErrorDescription: string | undefined;
  /** ISO 8601. */
  readonly enqueuedTime: string | undefined;
  readonly deliveryCount: number | undefined;
}

export interface PeekDeadLettersOptions {
  /** Only messages with a higher sequence number; from the first one when absent. */
  readonly afterSequenceNumber?: string;
  readonly maxMessages: number;
  readonly abortSignal?: AbortSignal;
}

/** Work on the queues: sent now or scheduled, with the deterministic ids `shared/messages` gives them. */
export interface MessageQueue {
  send(queue: QueueName, messages: readonly OutgoingMessage[]): Promise<void>;
  /** Stale scheduled work is never cancelled: handlers recognise it (generation, state) and drop it. */
  schedule(queue: QueueName, messages: readonly OutgoingMessage[], at: Date): Promise<void>;
  /** Reads the dead-letter sub-queue without locking or removing anything. */
  peekDeadLetters(queue: QueueName, options: PeekDeadLettersOptions): Promise<DeadLetteredMessage[]>;
}

export interface BlobInfo {
  readonly container: string;
  readonly name: string;
  readonly size: number;
  readonly etag: string;
  readonly contentMd5?: string;
}

/** Supplier files and reports. */
export interface BlobFiles {
  info(container: string, name: string): Promise<BlobInfo | undefined>;
  /** Pinned to `etag` when given: a blob replaced mid-read fails the read instead of mixing two files. */
  openRead(container: string, name: string, etag?: string): Promise<Readable>;
  writeText(container: string, name: string, text: string, contentType?: string): Promise<void>;
  readText(container: string, name: string): Promise<string | undefined>;
}

/** A blob opened for reading, with what a reader passes on about it. */
export interface OpenedBlob {
  readonly body: Readable;
  readonly size: number;
  readonly contentType: string | undefined;
}

/** Supplier files arriving over HTTP, and their reports going back. */
export interface BlobStreams {
  /**
   * Writes `source` as the blob, streamed: it appears whole once `source` ends, or not at all
   * when `source` fails or `abortSignal` fires (a blob already there stays as it was).
   */
  writeStream(
    container: string,
    name: string,
    source: Readable,
    options: { readonly contentType: string; readonly abortSignal: AbortSignal },
  ): Promise<void>;
  /** The blob as a stream; undefined when there is none. */
  openIfPresent(container: string, name: string): Promise<OpenedBlob | undefined>;
}

/**
 * The app-wide dependency check, one record for every instance: the newest result and when it
 * was taken, and which instance is taking the next one (until when).
 */
export interface HealthRecord {
  readonly checked?: { readonly at: string; readonly report: HealthReport };
  readonly claim?: { readonly by: string; readonly until: string };
}

export interface HealthRecordStore {
  /** The record, and the ETag that guards its next write (none while there is no record). */
  read(): Promise<{ readonly record: HealthRecord; readonly etag: string | undefined }>;
  /** ConcurrencyConflictError / EntityExistsError when another instance wrote first. Returns the new ETag. */
  write(record: HealthRecord, etag: string | undefined): Promise<string>;
}
