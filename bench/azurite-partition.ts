import { TableClient, type TransactionAction } from '@azure/data-tables';
import { startAzurite } from '../local/azurite.js';
import { processCpuSeconds } from './process-cpu.js';

/**
 * What one Table write costs Azurite as the partition it lands in grows: one-entity
 * transactions into an empty partition, into a partition of 10,000 and of 30,000 rows, and into
 * another partition of the same table. Azurite's cost per write grows with the rows already in
 * its partition, which Azure Table Storage's does not; the pipeline benchmark's figures with
 * the `waiting` index (a partition per follow-up, every device of a large delivery in one) are
 * read with this in mind. `npx tsx bench/azurite-partition.ts` (~4 min).
 */

const SAMPLES = 200;
const azurite = await startAzurite();
try {
  const table = TableClient.fromConnectionString(azurite.connectionString, 'probe', { allowInsecureConnection: true });
  await table.createTable();
  const fill = async (partition: string, rows: number): Promise<void> => {
    for (let start = 0; start < rows; start += 100) {
      const actions: TransactionAction[] = [];
      for (let i = start; i < Math.min(rows, start + 100); i++)
        actions.push([
          'upsert',
          { partitionKey: partition, rowKey: `r${String(i).padStart(6, '0')}`, state: 'importing', padding: 'x'.repeat(400) },
        ]);
      await table.submitTransaction(actions);
    }
  };
  const measure = async (label: string, partition: string): Promise<void> => {
    const cpuBefore = processCpuSeconds(azurite.pid) ?? 0;
    const started = performance.now();
    for (let i = 0; i < SAMPLES; i++) await table.submitTransaction([['upsert', { partitionKey: partition, rowKey: `m${i}`, state: 'x' }]]);
    const ms = (performance.now() - started) / SAMPLES;
    const cpuMs = (((processCpuSeconds(azurite.pid) ?? 0) - cpuBefore) / SAMPLES) * 1000;
    console.log(`${label.padEnd(48)} ${ms.toFixed(1).padStart(6)} ms per one-entity transaction, Azurite CPU ${cpuMs.toFixed(1)} ms`);
  };
  await measure('empty table, new partition', 'p0');
  for (const rows of [10_000, 30_000]) {
    const started = performance.now();
    await fill(`big${rows}`, rows);
    console.log(`(${rows} rows written to one partition in transactions of 100 in ${((performance.now() - started) / 1000).toFixed(0)} s)`);
    await measure(`partition of ${rows} rows`, `big${rows}`);
    await measure(`another partition of the same table`, `other${rows}`);
  }
} finally {
  await azurite.stop();
}
