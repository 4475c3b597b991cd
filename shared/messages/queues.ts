/** Service Bus queues the app uses; infra creates them with duplicate detection on. */
export const QUEUES = {
  /** Chunks of received devices to submit to Autopilot. */
  import: 'ztp-import',
  /** Scheduled follow-ups: import status, group tag, profile assignment, enrolment, clean-up; re-drives of a file uploaded again; intakes the sweeper runs again. */
  followup: 'ztp-followup',
  /** Service-desk re-provisioning requests accepted by the webhook. */
  reprovision: 'ztp-reprovision',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

const NAMES: ReadonlySet<string> = new Set(Object.values(QUEUES));

export function isQueueName(value: string): value is QueueName {
  return NAMES.has(value);
}
