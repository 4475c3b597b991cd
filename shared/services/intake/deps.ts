import type { Clock } from '../../domain/clock.js';
import type { SupplierPolicy } from '../../domain/suppliers.js';
import type { Logger } from '../../log.js';
import type { BatchDeviceIndex, BatchStore, BlobFiles, DeviceStore, MessageQueue } from '../ports.js';

export interface IntakeDeps {
  readonly blobs: BlobFiles;
  readonly devices: Pick<DeviceStore, 'get' | 'create' | 'save' | 'matching'>;
  /** Each recorded row's entry in the file's index; without it (tests that never read a batch) none is written. */
  readonly batchIndex?: BatchDeviceIndex;
  readonly batches: Pick<BatchStore, 'get' | 'create' | 'save'>;
  readonly queue: Pick<MessageQueue, 'send'>;
  readonly suppliers: readonly SupplierPolicy[];
  readonly limits: { readonly maxFileBytes: number; readonly maxRows: number; readonly importChunkSize: number };
  readonly log: Logger;
  readonly now: Clock;
  /** Rows recorded at once; Table Storage calls overlap this much. */
  readonly concurrency?: number;
}

export interface IntakeResult {
  readonly batchId: string | undefined;
  readonly status: 'complete' | 'rejected' | 'duplicate' | 'skipped';
  readonly counts: Readonly<Record<string, number>>;
  readonly reportBlob: string;
}

/** Conflicting writes tolerated on one row or batch before the error is let through. */
export const MAX_CONFLICT_RETRIES = 8;
