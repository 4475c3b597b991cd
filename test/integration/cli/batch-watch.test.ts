import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { main } from '../../../cli/ztp.js';
import { BlobStore } from '../../../shared/adapters/blobs/blob-store.js';
import { BatchDeviceRepository } from '../../../shared/adapters/tables/batch-device-index.js';
import { BatchRepository } from '../../../shared/adapters/tables/batch-repository.js';
import { DeviceRepository } from '../../../shared/adapters/tables/device-repository.js';
import type { BatchRecord } from '../../../shared/domain/batch.js';
import { RESULTS_CONTAINER } from '../../../shared/domain/blob-layout.js';
import type { DeviceRecord } from '../../../shared/domain/device.js';
import { ResultReportWriter } from '../../../shared/domain/result-report.js';
import { createLogger } from '../../../shared/log.js';
import { applyTransition, recordNewDevice } from '../../../shared/services/device-lifecycle.js';
import type { Versioned } from '../../../shared/services/ports.js';
import { settleBatches } from '../../../shared/services/settle.js';

/**
 * `ztp batch --watch` against Azurite: the loop reads the file's index partition while the
 * devices move on and the sweeper's settle step settles the file, and ends then.
 */

const unique = randomUUID().replace(/-/g, '').slice(0, 12);
const tables = { devices: `wdev${unique}`, batches: `wbatch${unique}`, batchDevices: `wbdev${unique}` };
const batchId = `${unique}${'a'.repeat(20)}`;
const start = new Date('2026-03-02T09:00:00.000Z');
const log = createLogger({ level: 'silent' });

let connectionString: string;
let devices: DeviceRepository;
let batches: BatchRepository;
let batchIndex: BatchDeviceRepository;
let blobs: BlobStore;

beforeAll(async () => {
  connectionString = inject('storageConnectionString');
  devices = DeviceRepository.connect(connectionString, tables.devices);
  batches = BatchRepository.connect(connectionString, tables.batches);
  batchIndex = BatchDeviceRepository.connect(connectionString, tables.batchDevices);
  blobs = BlobStore.connect(connectionString);
  await Promise.all([devices.ensure(), batches.ensure(), batchIndex.ensure()]);
});

const batch: BatchRecord = {
  batchId,
  supplierId: 'contoso',
  fileName: 'watch.csv',
  blobName: 'contoso/watch.csv',
  contentSha256: `${batchId}${'0'.repeat(32)}`,
  sizeBytes: 300,
  status: 'complete',
  receivedAt: start.toISOString(),
  completedAt: start.toISOString(),
  format: 'intune',
  encoding: 'utf-8',
  fileRejection: undefined,
  counts: { rows: 3, accepted: 3, rejected: 0 },
  reportBlob: `contoso/watch-${unique}.csv.result.csv`,
  correlationId: 'corr-watch',
};

describe('ztp batch --watch against Azurite', () => {
  it('follows a file until it settles, one plain line per change when stdout is not a terminal', async () => {
    await batches.create(batch);
    const report = new ResultReportWriter();
    const saved = new Map<string, Versioned<DeviceRecord>>();
    for (const [index, serialNumber] of ['W-1', 'W-2', 'W-3'].entries()) {
      report.add({ line: index + 2, serialNumber, outcome: 'accepted' });
      const input = { serialNumber, supplierId: 'contoso', batchId, line: index + 2 };
      saved.set(serialNumber, await recordNewDevice({ devices, batchIndex }, log, input, 'received', 'accepted-from-file', 'c', start));
    }
    await blobs.writeText(RESULTS_CONTAINER, batch.reportBlob!, report.toString());
    // The CLI reads with a repository of its own: what this process wrote must be stored first.
    await batchIndex.written();

    let clock = start.getTime();
    const move = async (
      serialNumber: string,
      to: DeviceRecord['state'],
      reason: 'import-submitted' | 'import-complete' | 'owned-by-other-tenant',
    ) => {
      const next = await applyTransition({ devices, batchIndex }, log, saved.get(serialNumber)!, {
        to,
        reason,
        correlationId: 'c',
        now: new Date(clock),
        changes: reason === 'owned-by-other-tenant' ? { reasons: ['owned-by-other-tenant'] } : {},
      });
      saved.set(serialNumber, next);
    };
    // What happens between two reads of the watch: the devices move on, then the sweeper settles the file.
    const steps = [
      async () => {
        await move('W-1', 'importing', 'import-submitted');
        await move('W-2', 'importing', 'import-submitted');
      },
      async () => undefined,
      async () => {
        await move('W-1', 'registered', 'import-complete');
        await move('W-2', 'failed', 'owned-by-other-tenant');
        await move('W-3', 'importing', 'import-submitted');
      },
      async () => {
        await move('W-3', 'registered', 'import-complete');
        await settleBatches({ batches, batchIndex, devices, blobs, log, now: () => new Date(clock) }, 'sweep');
      },
    ];

    let stdout = '';
    let stderr = '';
    const code = await main(['batch', batchId, '--watch', '--interval', '30'], {
      stdout: (text) => (stdout += text),
      stderr: (text) => (stderr += text),
      env: { AzureWebJobsStorage: connectionString },
      cwd: process.cwd(),
      tables,
      isTTY: false,
      now: () => new Date(clock),
      sleep: async (ms) => {
        clock += ms;
        const step = steps.shift();
        if (!step) throw new Error('the watch went on after the file settled');
        await step();
        await batchIndex.written();
      },
    });

    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(steps).toHaveLength(0);
    expect(stdout.split('\n').filter(Boolean)).toEqual([
      '2026-03-02T09:00:00.000Z  complete  0/3 with an outcome  received 3  -',
      '2026-03-02T09:00:30.000Z  complete  0/3 with an outcome  received 1, importing 2  0.0 devices/min',
      '2026-03-02T09:01:30.000Z  complete  2/3 with an outcome  importing 1, registered 1, failed 1  2.0 devices/min',
      '2026-03-02T09:02:00.000Z  settled  3/3 with an outcome  registered 2, failed 1  3.0 devices/min',
    ]);
    expect((await batches.get(batchId))?.value).toMatchObject({ status: 'settled', settledAt: '2026-03-02T09:02:00.000Z' });
    const text = await blobs.readText(RESULTS_CONTAINER, batch.reportBlob!);
    expect(text).toContain('"3","W-2","failed","owned-by-other-tenant"');
  });

  it('stops on Ctrl-C with exit 130', async () => {
    const other = `${unique}${'b'.repeat(20)}`;
    await batches.create({ ...batch, batchId: other, contentSha256: `${other}${'0'.repeat(32)}` });
    let interrupt: (() => void) | undefined;
    let released = false;
    let stdout = '';
    const code = await main(['batch', other, '--watch'], {
      stdout: (text) => (stdout += text),
      stderr: () => undefined,
      env: { AzureWebJobsStorage: connectionString },
      cwd: process.cwd(),
      tables,
      isTTY: true,
      onInterrupt: (listener) => {
        interrupt = listener;
        return () => void (released = true);
      },
      sleep: async () => interrupt?.(),
    });
    expect(code).toBe(130);
    expect(released).toBe(true);
    expect(stdout).toContain('\x1b[H\x1b[J');
    expect(stdout).toContain('0/0 (100%) with an outcome');
  });
});
