import type { StorageAccess } from '../storage-access.js';
import { z } from 'zod';
import type { HealthRecord, HealthRecordStore } from '../../services/ports.js';
import { HEALTH_CHECKS, type HealthReport } from '../../services/health.js';
import { TableStore, type EntityProps } from './table-store.js';
import { TABLES } from './table-names.js';

/**
 * The app-wide dependency check: one row every instance reads, written only with its ETag
 * (see services/app-health.ts). A result the row cannot be read back as is no result.
 */
type Row = EntityProps & { checkedAt?: string; status?: string; checks?: string; claimedBy?: string; claimedUntil?: string };

const PARTITION = 'health';
const ROW = 'dependencies';

const checkSchema = z.object({ ok: z.boolean(), ms: z.number(), reason: z.string().optional() });
const reportSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  checks: z.object(Object.fromEntries(HEALTH_CHECKS.map((name) => [name, checkSchema])) as Record<string, typeof checkSchema>),
});

function checkedOf(row: Row): HealthRecord['checked'] {
  if (!row.checkedAt || !row.checks) return undefined;
  let checks: unknown;
  try {
    checks = JSON.parse(row.checks);
  } catch {
    return undefined;
  }
  const report = reportSchema.safeParse({ status: row.status, checks });
  return report.success ? { at: row.checkedAt, report: report.data as HealthReport } : undefined;
}

export class HealthRecordRepository implements HealthRecordStore {
  constructor(private readonly store: TableStore<Row>) {}

  static connect(storage: StorageAccess | string, tableName: string = TABLES.health): HealthRecordRepository {
    return new HealthRecordRepository(TableStore.connect<Row>(storage, tableName));
  }

  ensure(): Promise<void> {
    return this.store.ensureTable();
  }

  async read(): Promise<{ record: HealthRecord; etag: string | undefined }> {
    const row = await this.store.get(PARTITION, ROW);
    if (!row) return { record: {}, etag: undefined };
    const checked = checkedOf(row.value);
    const { claimedBy, claimedUntil } = row.value;
    return {
      record: { ...(checked ? { checked } : {}), ...(claimedBy && claimedUntil ? { claim: { by: claimedBy, until: claimedUntil } } : {}) },
      etag: row.etag,
    };
  }

  async write(record: HealthRecord, etag: string | undefined): Promise<string> {
    const value: Row = {
      checkedAt: record.checked?.at ?? '',
      status: record.checked?.report.status ?? '',
      checks: record.checked ? JSON.stringify(record.checked.report.checks) : '',
      claimedBy: record.claim?.by ?? '',
      claimedUntil: record.claim?.until ?? '',
    };
    return etag === undefined ? this.store.insert(PARTITION, ROW, value) : this.store.update(PARTITION, ROW, value, etag);
  }
}
