import { ServiceBusClient } from '@azure/service-bus';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { intakeHashFileOptions } from '../../functions/intake-hash-file.js';
import { DevHost } from '../../local/dev-host/index.js';
import { sampleHashFileBytes } from '../../local/sample-data.js';
import { parseMessage, QUEUES, type ImportChunkPayload } from '../../shared/messages/index.js';
import { ingestHashFile } from '../../shared/services/intake/index.js';
import { startTestStack, type TestStack } from '../support/stack.js';

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function parseReport(text: string): string[][] {
  expect(text.charCodeAt(0)).toBe(0xfeff);
  return text
    .slice(1)
    .trim()
    .split('\r\n')
    .map((line) => [...line.matchAll(/"((?:[^"]|"")*)"/g)].map((m) => m[1]!.replace(/""/g, '"')));
}

describe('supplier intake end to end: Azurite -> intake -> tables, Service Bus, report', () => {
  let stack: TestStack;
  let host: DevHost;
  let blobs: BlobServiceClient;

  beforeAll(async () => {
    stack = await startTestStack({ ZTP_IMPORT_CHUNK_SIZE: '5', ZTP_MAX_ROWS: '100' });
    host = new DevHost({
      serviceBusConnectionString: stack.broker.connectionString,
      storageConnectionString: stack.storageConnectionString,
      log: stack.runtime.log,
      blobPollMs: 100,
    }).storageBlob('intakeHashFile', intakeHashFileOptions);
    await host.start();
    blobs = BlobServiceClient.fromConnectionString(stack.storageConnectionString);
  });

  afterAll(async () => {
    await host?.stop();
    await stack?.stop();
  });

  const upload = async (name: string, bytes: Buffer): Promise<void> => {
    await blobs.getContainerClient('hash-uploads').getBlockBlobClient(name).uploadData(bytes);
  };
  const report = (name: string): Promise<string> =>
    waitFor(`report ${name}`, async () => {
      const blob = blobs.getContainerClient('hash-results').getBlobClient(name);
      return (await blob.exists()) ? (await blob.downloadToBuffer()).toString('utf8') : undefined;
    });
  // The SDK keeps one peek cursor per entity and client, so each look uses a fresh client.
  const importMessages = async (): Promise<ImportChunkPayload[]> => {
    const client = new ServiceBusClient(stack.broker.connectionString);
    const receiver = client.createReceiver(QUEUES.import);
    const peeked = await receiver.peekMessages(1000);
    await client.close();
    return peeked.map((m) => {
      const parsed = parseMessage(QUEUES.import, m.body);
      if (!parsed.ok || parsed.message.kind !== 'import-chunk') throw new Error(`not an import chunk: ${JSON.stringify(m.body)}`);
      return parsed.message.payload;
    });
  };

  // A Windows PowerShell 5.1 style file: UTF-16 LE with BOM, CRLF, with realistic bad rows.
  const file = sampleHashFileBytes(
    {
      rows: 24,
      seed: 42,
      groupTags: ['MPS-STD', 'MPS-KIOSK'],
      bad: { 'invalid-hash': 1, 'hash-serial-mismatch': 1, 'duplicate-in-file': 1, 'group-tag-not-allowed': 1, 'missing-serial': 1 },
    },
    'utf-16le',
  );
  const accepted = file.rows.filter((row) => row.expectedStatus === 'accepted');
  const rejected = file.rows.filter((row) => row.expectedStatus === 'rejected');

  it('records every row, queues the accepted devices in chunks and reports each row back', async () => {
    await upload('contoso/delivery-001.csv', file.bytes);
    const text = await report('contoso/delivery-001.csv.result.csv');
    const [header, ...rows] = parseReport(text);
    expect(header).toEqual(['Line', 'Serial Number', 'Outcome', 'Reason Code', 'Reason']);
    expect(rows).toHaveLength(file.rows.length);
    for (const [index, sample] of file.rows.entries()) {
      const row = rows[index]!;
      expect(Number(row[0])).toBe(sample.line);
      expect(row[2]).toBe(sample.expectedStatus);
      if (sample.expectedStatus === 'rejected') expect(row[3]).toBe(sample.expectedErrors[0]);
    }

    for (const sample of accepted) {
      const device = await stack.runtime.devices.get(sample.device.serialNumber);
      expect(device?.value.state).toBe('received');
      expect(device?.value.hardwareHash).toBe(sample.device.hardwareHash);
      expect(device?.value.groupTag).toBe(sample.device.groupTag ?? 'MPS-STD');
      const history = await stack.runtime.devices.history(sample.device.serialNumber);
      expect(history.map((e) => e.to)).toEqual(['received']);
    }
    const rejectedWithSerial = rejected.filter((row) => row.bad !== 'missing-serial' && row.bad !== 'duplicate-in-file');
    for (const sample of rejectedWithSerial) {
      const device = await stack.runtime.devices.get(sample.device.serialNumber);
      expect(device?.value.state, sample.bad).toBe('rejected');
      expect(device?.value.reasons).toContain(sample.expectedErrors[0]);
    }

    const chunks = await importMessages();
    const queued = chunks.flatMap((c) => c.serialNumbers);
    expect(queued.sort()).toEqual(accepted.map((row) => row.device.serialNumber).sort());
    expect(Math.max(...chunks.map((c) => c.serialNumbers.length))).toBeLessThanOrEqual(5);

    const source = chunks[0]!.source;
    if (source.kind !== 'file') throw new Error(`chunk from ${source.kind}, not from the file`);
    const { batchId } = source;
    const batch = await stack.runtime.batches.get(batchId);
    expect(batch?.value).toMatchObject({
      status: 'complete',
      supplierId: 'contoso',
      fileName: 'delivery-001.csv',
      encoding: 'utf-16le',
      format: 'intune',
    });
    expect(batch?.value.counts).toMatchObject({ rows: file.rows.length, accepted: accepted.length, rejected: rejected.length });

    const transitions = stack.logLines.filter((line) => line.event === 'device.transition');
    expect(transitions.length).toBe(accepted.length + rejectedWithSerial.length);
    expect(transitions[0]).toMatchObject({ supplier: 'contoso', batchId, from: null });
    expect(JSON.stringify(stack.logLines)).not.toContain(accepted[0]!.device.hardwareHash.slice(0, 200));
  });

  it('changes nothing when the same content arrives again, under any name', async () => {
    const before = await importMessages();
    const transitionsBefore = stack.logLines.filter((line) => line.event === 'device.transition').length;
    await upload('contoso/delivery-001-resent.csv', file.bytes);
    const copy = await report('contoso/delivery-001-resent.csv.result.csv');
    expect(copy).toBe(await report('contoso/delivery-001.csv.result.csv'));
    // The same blob written again (a new ETag) is a redelivered trigger.
    await upload('contoso/delivery-001.csv', file.bytes);
    await waitFor('second duplicate event', async () =>
      stack.logLines.filter((l) => l.event === 'batch.duplicate').length >= 2 ? true : undefined,
    );
    await host.idle();
    expect((await importMessages()).length).toBe(before.length);
    expect(stack.logLines.filter((line) => line.event === 'device.transition').length).toBe(transitionsBefore);
    const history = await stack.runtime.devices.history(accepted[0]!.device.serialNumber);
    expect(history).toHaveLength(1);
  });

  it('rejects a file from an unknown supplier folder whole, with a report', async () => {
    await upload('nobody/file.csv', file.bytes);
    const [, row] = parseReport(await report('nobody/file.csv.result.csv'));
    expect(row).toEqual(['', '', 'rejected', 'unknown-supplier', expect.stringContaining('"nobody" is not a configured supplier')]);
  });

  it('rejects a file over the row limit whole: nothing recorded, nothing queued', async () => {
    const big = sampleHashFileBytes({ rows: 101, seed: 7 }, 'utf-8');
    const before = (await importMessages()).length;
    await upload('fabrikam/too-big.csv', big.bytes);
    const [, row] = parseReport(await report('fabrikam/too-big.csv.result.csv'));
    expect(row?.[2]).toBe('rejected');
    expect(row?.[3]).toBe('too-many-rows');
    expect(await stack.runtime.devices.get(big.rows[0]!.device.serialNumber)).toBeUndefined();
    expect((await importMessages()).length).toBe(before);
  });

  it('records a new group tag for a known device and queues it again', async () => {
    const first = accepted.find((row) => row.device.groupTag === 'MPS-STD' || row.device.groupTag === undefined)!;
    const line = `Device Serial Number,Windows Product ID,Hardware Hash,Group Tag\r\n${first.device.serialNumber},,${first.device.hardwareHash},MPS-KIOSK\r\n`;
    await upload('contoso/retag.csv', Buffer.from(line, 'utf8'));
    const [, row] = parseReport(await report('contoso/retag.csv.result.csv'));
    expect(row?.[2]).toBe('accepted');
    const device = await stack.runtime.devices.get(first.device.serialNumber);
    expect(device?.value).toMatchObject({ state: 'received', groupTag: 'MPS-KIOSK', generation: 2 });
    const history = await stack.runtime.devices.history(first.device.serialNumber);
    expect(history.map((e) => e.reason)).toEqual(['accepted-from-file', 'group-tag-changed']);
  });
  it('finishes a file whose first run crashed half way, without duplicates', async () => {
    const crashFile = sampleHashFileBytes({ rows: 30, seed: 99, groupTags: ['MPS-STD'] }, 'utf-8');
    // The last test: the host stops watching, and intake runs directly, as the function would,
    // first with a device store that dies mid-way.
    await host.stop();
    await blobs.getContainerClient('hash-uploads').getBlockBlobClient('contoso/crashy.csv').uploadData(crashFile.bytes);
    const deps = stack.runtime.intakeDeps();
    let creates = 0;
    const dying = {
      ...deps,
      devices: {
        ...deps.devices,
        get: deps.devices.get.bind(deps.devices),
        save: deps.devices.save.bind(deps.devices),
        create: async (...args: Parameters<typeof deps.devices.create>) => {
          if (++creates > 12) throw new Error('simulated crash');
          return deps.devices.create(...args);
        },
      },
    };
    const before = (await importMessages()).length;
    await expect(ingestHashFile(dying, 'contoso/crashy.csv', 'crash-1')).rejects.toThrow('simulated crash');
    const result = await ingestHashFile(deps, 'contoso/crashy.csv', 'crash-2');
    expect(result.status).toBe('complete');
    expect(result.counts).toMatchObject({ rows: 30, accepted: 30 });
    for (const row of crashFile.rows) {
      const history = await stack.runtime.devices.history(row.device.serialNumber);
      expect(history, row.device.serialNumber).toHaveLength(1);
    }
    const queued = (await importMessages()).slice(before).flatMap((c) => c.serialNumbers);
    expect(queued.sort()).toEqual(crashFile.rows.map((r) => r.device.serialNumber).sort());
    // A third run (a redelivered trigger) is a duplicate: nothing more is queued.
    expect((await ingestHashFile(deps, 'contoso/crashy.csv', 'crash-3')).status).toBe('duplicate');
    expect((await importMessages()).length).toBe(before + 6);
  });
});
