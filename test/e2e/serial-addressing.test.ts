import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/ztp.js';
import { getDeviceOptions } from '../../functions/get-device.js';
import { intakeHashFileOptions } from '../../functions/intake-hash-file.js';
import { DevHost } from '../../local/dev-host/index.js';
import { INTAKE_CONTAINER, RESULTS_CONTAINER } from '../../shared/domain/blob-layout.js';
import { encodeHardwareHashBase64 } from '../../shared/domain/hardware-hash.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Every serial the intake accepts can be looked up: product.md rejects a serial only for
 * control characters, quotes, commas or more than 128 characters, so a supplier's file may
 * hold serials with `/`, `?`, `#`, spaces and `%`. Through the dev host's real routes (which
 * decode %2F before matching, as the Functions host does in Azure) and `ztp status`.
 */

const SERIALS = ['ZTP/SLASH-1', 'ZTP?QUERY-2', 'ZTP#HASH-3', 'ZTP SPACE-4', 'ZTP%PCT-5', 'Z/?# %+6', 'ZTP%2FENC-7'];

let stack: TestStack;
let host: DevHost;

function hashFileFor(serials: readonly string[]): Buffer {
  const lines = ['Device Serial Number,Windows Product ID,Hardware Hash,Group Tag'];
  for (const serialNumber of serials) {
    const hash = encodeHardwareHashBase64({
      serialNumber,
      manufacturer: 'HP',
      model: 'HP EliteBook 840 G10',
      tpmVersion: '2.0',
      targetBytes: 1200,
    });
    lines.push(`${serialNumber},,${hash},MPS-STD`);
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n`);
}

async function ztp(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env: { AzureWebJobsStorage: stack.config.storageConnectionString },
    cwd: process.cwd(),
  });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  stack = await startTestStack();
  host = new DevHost({
    serviceBusConnectionString: stack.broker.connectionString,
    storageConnectionString: stack.config.storageConnectionString,
    log: stack.runtime.log,
    blobPollMs: 100,
  })
    .storageBlob('intakeHashFile', intakeHashFileOptions)
    .http('getDevice', getDeviceOptions);
  await host.start();

  const blobs = BlobServiceClient.fromConnectionString(stack.config.storageConnectionString);
  await blobs.getContainerClient(INTAKE_CONTAINER).getBlockBlobClient('contoso/odd-serials.csv').uploadData(hashFileFor(SERIALS));
  const report = blobs.getContainerClient(RESULTS_CONTAINER).getBlobClient('contoso/odd-serials.csv.result.csv');
  for (const until = Date.now() + 30_000; !(await report.exists()); await new Promise((resolve) => setTimeout(resolve, 100))) {
    if (Date.now() > until) throw new Error('the report of contoso/odd-serials.csv was never written');
  }
}, 120_000);

afterAll(async () => {
  await host?.stop();
  await stack?.stop();
});

describe('serials with /, ?, #, spaces and %', () => {
  it.each(SERIALS)('%s: accepted, and found through GET /api/devices?serial=', async (serial) => {
    const response = await fetch(`${host.httpBaseUrl}/api/devices?serial=${encodeURIComponent(serial)}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { device: { serialNumber: string; state: string }; history: { to: string }[] };
    expect(body.device).toMatchObject({ serialNumber: serial, state: 'received' });
    expect(body.history.map((event) => event.to)).toEqual(['received']);
  });

  it.each(SERIALS.filter((serial) => !serial.includes('/')))('%s: found in the path as well, percent-encoded', async (serial) => {
    const response = await fetch(`${host.httpBaseUrl}/api/devices/${encodeURIComponent(serial)}`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { device: { serialNumber: string } }).device.serialNumber).toBe(serial);
  });

  it('a serial with / cannot travel in the path (the host decodes %2F first): the route is not found', async () => {
    const response = await fetch(`${host.httpBaseUrl}/api/devices/${encodeURIComponent('ZTP/SLASH-1')}`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'not-found' } });
  });

  it.each(SERIALS)('%s: shown by ztp status, as text and as JSON', async (serial) => {
    const text = await ztp(['status', serial]);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Device ${serial}: received`);
    const json = await ztp(['status', serial, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ device: { serialNumber: serial, state: 'received' }, history: [{ to: 'received' }] });
  });
});
