import type { DeviceEvent, DeviceRecord } from './domain/device.js';
import type { Logger } from './log.js';

/**
 * Lifecycle events: one pino line per device transition, with stable field names.
 * The full catalogue (every event name, its fields, when it fires) is docs/events.md.
 */

export const EVENTS = {
  deviceTransition: 'device.transition',
  batchReceived: 'batch.received',
  batchResumed: 'batch.resumed',
  batchCompleted: 'batch.completed',
  batchRejected: 'batch.rejected',
  batchDuplicate: 'batch.duplicate',
  batchReopened: 'batch.reopened',
  batchSettled: 'batch.settled',
  batchStuck: 'batch.stuck',
  batchIndexFailed: 'batch.index-failed',
  batchIndexRepaired: 'batch.index-repaired',
  uploadAccepted: 'upload.accepted',
  uploadRefused: 'upload.refused',
  uploadError: 'upload.error',
  intakeBlobMissing: 'intake.blob-missing',
  intakeRowRefused: 'intake.row-refused',
  rowOwnedByOtherSupplier: 'intake.owned-by-other-supplier',
  intakePoisoned: 'intake.poisoned',
  intakeRerun: 'intake.rerun',
  importPoll: 'pipeline.import-poll',
  importRetry: 'pipeline.import-retry',
  importBisected: 'pipeline.import-bisected',
  autopilotPoll: 'pipeline.autopilot-poll',
  retagDeferred: 'pipeline.retag-deferred',
  profileAssignmentFailed: 'pipeline.profile-assignment-failed',
  conflict: 'pipeline.conflict',
  deviceStepFailed: 'pipeline.device-step-failed',
  reprovisionPoll: 'pipeline.reprovision-poll',
  redriveRun: 'redrive.run',
  reprovisionRequested: 'reprovision.requested',
  reprovisionAccepted: 'reprovision.accepted',
  reprovisionRefused: 'reprovision.refused',
  reprovisionReplayed: 'reprovision.replayed',
  reprovisionError: 'reprovision.error',
  reprovisionActionSent: 'reprovision.action-sent',
  reprovisionCompleted: 'reprovision.completed',
  reprovisionFailed: 'reprovision.failed',
  reprovisionStalled: 'reprovision.stalled',
  importRefused: 'graph.import-refused',
  syncSkipped: 'graph.sync-skipped',
  graphHold: 'graph.hold',
  budgetClockSkew: 'graph.budget-clock-skew',
  messageRescheduled: 'message.rescheduled',
  messagePoisoned: 'message.poisoned',
  messageRetriesExhausted: 'message.retries-exhausted',
  sweeperRun: 'sweeper.run',
  sweeperTickRevived: 'sweeper.tick-revived',
  sweeperRequeued: 'sweeper.requeued',
  sweeperReprovisionResent: 'sweeper.reprovision-resent',
  sweeperStepFailed: 'sweeper.step-failed',
  deadLetterFound: 'deadletter.found',
  healthDegraded: 'health.degraded',
  healthRecordFailed: 'health.record-failed',
} as const;

export function logTransition(log: Logger, record: DeviceRecord, event: DeviceEvent): void {
  log.info(
    {
      event: EVENTS.deviceTransition,
      serial: record.serialNumber,
      supplier: record.supplierId,
      batchId: event.batchId,
      from: event.from ?? null,
      to: event.to,
      reason: event.reason,
      correlationId: event.correlationId,
      generation: event.generation,
      ...(record.waitingFor ? { waitingFor: record.waitingFor } : {}),
      ...(event.detail ? { detail: event.detail } : {}),
    },
    `${record.serialNumber}: ${event.from ?? '(new)'} -> ${event.to} (${event.reason})`,
  );
}
