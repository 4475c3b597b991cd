/**
 * Every table the product uses, by what it holds. The repositories default to these names and
 * the infrastructure creates exactly these (the infra test compares them with infra/main.bicep).
 */
export const TABLES = {
  /** Device records and their history, one partition per device. */
  devices: 'devices',
  /** Devices waiting on a follow-up, partitions by follow-up, file and range of lines (the index the polls read). */
  waiting: 'waiting',
  /** Supplier files, one row each. */
  batches: 'batches',
  /** Each file's devices and rejected rows, one partition per file. */
  batchDevices: 'batchdevices',
  /** The periodic polls' leases and run locks. */
  ticks: 'ticks',
  /** The sweeper's dead-letter cursors, set-aside messages and intake failures, by partition. */
  sweeper: 'sweeper',
  /** Re-provisioning webhook requests by idempotency key, for 24 hours. */
  idempotency: 'idempotency',
  /** The tenant-wide Graph request budget. */
  graphBudget: 'graphbudget',
  /** The app-wide dependency check: its newest result and who takes the next. */
  health: 'health',
} as const;
