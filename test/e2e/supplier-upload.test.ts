import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runValidate } from '../../cli/commands/validate.js';
import { writeStackEndpoints } from '../../cli/stack-endpoints.js';
import { main } from '../../cli/ztp.js';
import { getSupplierReportOptions } from '../../functions/get-supplier-report.js';
import { intakeHashFileOptions } from '../../functions/intake-hash-file.js';
import { putSupplierFileOptions } from '../../functions/put-supplier-file.js';
import { DevHost } from '../../local/dev-host/index.js';
import { sampleHashFileBytes } from '../../local/sample-data.js';
import { batchIdOf } from '../../shared/domain/batch.js';
import { INTAKE_CONTAINER } from '../../shared/domain/blob-layout.js';
import { mintSupplierKey } from '../../shared/domain/supplier-keys.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The supplier upload API through the real dev host (its HTTP server, streamed bodies as the
 * Functions host hands them over, the blob trigger), on Azurite and the Service Bus test
 * broker: two suppliers fenced to their own files by their keys, every refusal, an upload
 * taken through the one intake to its report, and a body that is streamed, not held.
 */

const MAX_FILE_BYTES = 8 * 1024 * 1024;
const CONTOSO_KEY = mintSupplierKey();
const CONTOSO_ROTATED_KEY = mintSupplierKey();
const FABRIKAM_KEY = mintSupplierKey();
const SUPPLIERS = [
  {
    id: 'contoso',
    name: 'Contoso Ltd',
    allowedGroupTags: ['MPS-STD', 'MPS-KIOSK'],
    defaultGroupTag: 'MPS-STD',
    uploadKeySha256: [CONTOSO_KEY.sha256, CONTOSO_ROTATED_KEY.sha256],
  },
  { id: 'fabrikam', name: 'Fabrikam', allowedGroupTags: [], uploadKeySha256: [FABRIKAM_KEY.sha256] },
  // Blob drops only: no key, so no way in through the API.
  { id: 'northwind', name: 'Northwind Traders', allowedGroupTags: [] },
];

let stack: TestStack;
let host: DevHost;
let blobs: BlobServiceClient;
let api: string;

beforeAll(async () => {
  stack = await startTestStack({ ZTP_SUPPLIERS: JSON.stringify(SUPPLIERS), ZTP_MAX_FILE_BYTES: String(MAX_FILE_BYTES) });
  host = new DevHost({
    serviceBusConnectionString: stack.broker.connectionString,
    storageConnectionString: stack.storageConnectionString,
    log: stack.runtime.log,
    blobPollMs: 100,
  })
    .storageBlob('intakeHashFile', intakeHashFileOptions)
    .http('putSupplierFile', putSupplierFileOptions)
    .http('getSupplierReport', getSupplierReportOptions);
  await host.start();
  api = `${host.httpBaseUrl}/api`;
  blobs = BlobServiceClient.fromConnectionString(stack.storageConnectionString);
}, 120_000);

afterAll(async () => {
  await host?.stop();
  await stack?.stop();
});

const fileUrl = (supplier: string, name: string): string => `${api}/suppliers/${supplier}/files/${encodeURIComponent(name)}`;
const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

interface Accepted {
  batchId: string;
  supplierId: string;
  fileName: string;
  sizeBytes: number;
  sha256: string;
  reportUrl: string;
  validation: { summary: { total: number; accepted: number; rejected: number }; rows: unknown[]; error?: unknown };
}

async function put(supplier: string, name: string, body: RequestInit['body'], headers: Record<string, string>): Promise<Response> {
  return fetch(fileUrl(supplier, name), { method: 'PUT', headers, body, duplex: 'half' } as RequestInit);
}

const intakeBlob = (name: string) => blobs.getContainerClient(INTAKE_CONTAINER).getBlockBlobClient(name);

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function validateJson(bytes: Buffer, supplier: string): Promise<unknown> {
  const path = join(mkdtempSync(join(tmpdir(), 'ztp-upload-')), 'file.csv');
  writeFileSync(path, bytes);
  let stdout = '';
  await runValidate([path, '--supplier', supplier, '--json'], {
    stdout: (text) => (stdout += text),
    stderr: () => undefined,
    env: { ZTP_SUPPLIERS: JSON.stringify(SUPPLIERS) },
  });
  return JSON.parse(stdout) as unknown;
}

describe('a good upload', () => {
  const file = sampleHashFileBytes(
    { rows: 6, seed: 71, groupTags: ['MPS-STD', 'MPS-KIOSK'], bad: { 'hash-serial-mismatch': 1, 'group-tag-not-allowed': 1 } },
    'utf-16le',
  );

  it('answers 202 with the batch id and the validation ztp validate gives, then the intake records that batch and its report is served', async () => {
    const response = await put('contoso', 'delivery 2024-05.csv', file.bytes, { ...bearer(CONTOSO_KEY.key), 'content-type': 'text/csv' });
    expect(response.status).toBe(202);
    const body = (await response.json()) as Accepted;
    const sha256 = createHash('sha256').update(file.bytes).digest('hex');
    expect(body).toMatchObject({
      batchId: batchIdOf('contoso', sha256),
      supplierId: 'contoso',
      fileName: 'delivery 2024-05.csv',
      sizeBytes: file.bytes.length,
      sha256,
      reportUrl: `${api}/suppliers/contoso/files/delivery%202024-05.csv/report`,
    });
    expect(body.validation).toEqual(await validateJson(file.bytes, 'contoso'));
    expect(body.validation.summary).toEqual({ total: 6, accepted: 4, rejected: 2 });

    // The one intake path: the blob trigger takes the file from where a blob drop would put it.
    const stored = await intakeBlob('contoso/delivery 2024-05.csv').downloadToBuffer();
    expect(stored.equals(file.bytes)).toBe(true);
    const report = await waitFor('the report', async () => {
      const got = await fetch(body.reportUrl, { headers: bearer(CONTOSO_KEY.key) });
      return got.status === 200 ? got : undefined;
    });
    expect(report.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = (await report.text())
      .replace(/^\uFEFF/, '')
      .trim()
      .split('\r\n');
    expect(lines).toHaveLength(1 + 6);
    expect(lines.filter((line) => line.includes('"rejected"'))).toHaveLength(2);

    const batch = await stack.runtime.batches.get(body.batchId);
    expect(batch?.value).toMatchObject({
      batchId: body.batchId,
      supplierId: 'contoso',
      blobName: 'contoso/delivery 2024-05.csv',
      contentSha256: sha256,
      status: 'complete',
    });
    expect(stack.logLines.find((line) => line.event === 'upload.accepted')).toMatchObject({
      supplier: 'contoso',
      batchId: body.batchId,
      counts: { total: 6, accepted: 4, rejected: 2 },
    });
  });

  it('takes the second key of a rotation as well', async () => {
    const other = sampleHashFileBytes({ rows: 2, seed: 72, groupTags: ['MPS-STD'] }, 'utf-8');
    const response = await put('contoso', 'rotated.csv', other.bytes, bearer(CONTOSO_ROTATED_KEY.key));
    expect(response.status).toBe(202);
    expect(((await response.json()) as Accepted).validation.summary).toEqual({ total: 2, accepted: 2, rejected: 0 });
  });

  it('answers 404 for the report of a file never uploaded', async () => {
    const response = await fetch(`${fileUrl('contoso', 'never-sent.csv')}/report`, { headers: bearer(CONTOSO_KEY.key) });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'report-not-found' } });
  });
});

describe('suppliers reach only their own files', () => {
  const small = sampleHashFileBytes({ rows: 1, seed: 73, groupTags: ['MPS-STD'] }, 'utf-8').bytes;

  it.each([
    ['contoso', 'fabrikam', CONTOSO_KEY.key],
    ['fabrikam', 'contoso', FABRIKAM_KEY.key],
    ['contoso', 'northwind', CONTOSO_KEY.key],
  ])("%s's key is refused on %s's files (403), for uploads and reports, and nothing is written", async (owner, target, key) => {
    const upload = await put(target, 'theirs.csv', small, bearer(key));
    expect(upload.status).toBe(403);
    expect(await upload.json()).toEqual({ error: { code: 'other-supplier', message: expect.any(String) } });
    const report = await fetch(`${fileUrl(target, 'delivery 2024-05.csv')}/report`, { headers: bearer(key) });
    expect(report.status).toBe(403);
    expect(await intakeBlob(`${target}/theirs.csv`).exists()).toBe(false);
    expect(stack.logLines.filter((line) => line.event === 'upload.refused' && line.code === 'other-supplier')).toContainEqual(
      expect.objectContaining({ supplier: target, keySupplier: owner, status: 403 }),
    );
  });

  it.each([
    ['no key', {}, 'missing-key'],
    ['another scheme', { authorization: `Basic ${Buffer.from(`contoso:${CONTOSO_KEY.key}`).toString('base64')}` }, 'missing-key'],
    ['a wrong key', bearer(mintSupplierKey().key), 'invalid-key'],
    ['the key hash as the key', bearer(CONTOSO_KEY.sha256), 'invalid-key'],
  ])('refuses %s with 401 and a Bearer challenge, for uploads and reports', async (_name, headers, code) => {
    const upload = await put('contoso', 'nokey.csv', small, headers);
    expect(upload.status).toBe(401);
    expect(upload.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(await upload.json()).toEqual({ error: { code, message: expect.any(String) } });
    const report = await fetch(`${fileUrl('contoso', 'delivery 2024-05.csv')}/report`, { headers });
    expect(report.status).toBe(401);
    expect(await intakeBlob('contoso/nokey.csv').exists()).toBe(false);
  });
});

describe('file names and sizes', () => {
  const small = sampleHashFileBytes({ rows: 1, seed: 74, groupTags: ['MPS-STD'] }, 'utf-8').bytes;

  it.each([
    ['a..b.csv', "contains '..'"],
    ['back\\slash.csv', 'path separator'],
    ['tab\there.csv', 'control'],
    ['rtl\u202egsm.csv', 'invisible formatting'],
    ['trailing-dot.', 'ends with a dot'],
    [`${'x'.repeat(252)}.csv`, 'longer than 255'],
  ])('refuses the file name %j with 400, writing nothing', async (name, problem) => {
    const response = await put('contoso', name, small, bearer(CONTOSO_KEY.key));
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('invalid-file-name');
    expect(body.error.message).toContain(problem);
    const names: string[] = [];
    for await (const blob of blobs.getContainerClient(INTAKE_CONTAINER).listBlobsFlat({ prefix: 'contoso/' })) names.push(blob.name);
    expect(names.some((stored) => stored.includes(name))).toBe(false);
  });

  it('never reaches a route with an encoded slash in the file name (the host decodes it first): 404', async () => {
    const response = await fetch(`${api}/suppliers/contoso/files/sub%2Ffile.csv`, {
      method: 'PUT',
      headers: bearer(CONTOSO_KEY.key),
      body: small,
    });
    expect(response.status).toBe(404);
  });

  it('refuses a body whose Content-Length is over ZTP_MAX_FILE_BYTES with 413 before reading it', async () => {
    const response = await put('contoso', 'declared-too-large.csv', Buffer.alloc(MAX_FILE_BYTES + 1, 0x20), bearer(CONTOSO_KEY.key));
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: 'file-too-large' } });
    expect(await intakeBlob('contoso/declared-too-large.csv').exists()).toBe(false);
  });

  it('stops a streamed body without a length once it passes ZTP_MAX_FILE_BYTES: 413, and no blob, even after blocks were staged', async () => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > MAX_FILE_BYTES + 1024 * 1024) return controller.close();
        sent += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
      },
    });
    const response = await put('contoso', 'streamed-too-large.csv', body, bearer(CONTOSO_KEY.key));
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: 'file-too-large' } });
    expect(await intakeBlob('contoso/streamed-too-large.csv').exists()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(stack.logLines.filter((line) => String(line.blobName ?? '').includes('too-large'))).toEqual([]);
  });
});

describe('a connection that breaks mid-file', () => {
  it('leaves nothing stored: no blob, so no intake, and one refusal logged', async () => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= 5 * 1024 * 1024) {
          // Let the blocks already sent be staged, then cut the connection.
          await new Promise((resolve) => setTimeout(resolve, 300));
          controller.error(new Error('the line went down'));
          return;
        }
        sent += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
      },
    });
    await expect(put('contoso', 'broken.csv', body, bearer(CONTOSO_KEY.key))).rejects.toThrow();
    await waitFor('the refusal', async () =>
      stack.logLines.find((line) => line.event === 'upload.refused' && line.code === 'body-incomplete'),
    );
    expect(await intakeBlob('contoso/broken.csv').exists()).toBe(false);
  });
});

describe('the body is streamed', () => {
  it('is written to storage while it is still arriving: blocks are staged before the client sends the rest', async () => {
    const file = sampleHashFileBytes({ rows: 3, seed: 75, groupTags: ['MPS-STD'] }, 'utf-8').bytes;
    // Blank lines of spaces: the file stays a 3-row file for the intake, but 6 MiB long.
    const padding = Buffer.from(`${' '.repeat(1022)}\r\n`.repeat(6 * 1024));
    const whole = Buffer.concat([file, padding]);
    const firstPart = 5 * 1024 * 1024;
    const blob = intakeBlob('contoso/streamed.csv');
    const stagedBlocks = async (): Promise<number> => {
      try {
        return (await blob.getBlockList('uncommitted')).uncommittedBlocks?.length ?? 0;
      } catch {
        return 0;
      }
    };

    let offset = 0;
    let held = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (offset >= whole.length) return controller.close();
        if (offset >= firstPart && !held) {
          held = true;
          // A handler (or host) that buffered the body would stage nothing before the body ended.
          await waitFor('a block staged while the body is still open', async () => ((await stagedBlocks()) > 0 ? true : undefined), 20_000);
        }
        const end = Math.min(offset + 64 * 1024, whole.length);
        controller.enqueue(whole.subarray(offset, end));
        offset = end;
      },
    });
    const response = await put('contoso', 'streamed.csv', body, bearer(CONTOSO_KEY.key));
    expect(held).toBe(true);
    expect(response.status).toBe(202);
    const accepted = (await response.json()) as Accepted;
    expect(accepted).toMatchObject({
      sizeBytes: whole.length,
      batchId: batchIdOf('contoso', createHash('sha256').update(whole).digest('hex')),
    });
    expect(accepted.validation.summary).toEqual({ total: 3, accepted: 3, rejected: 0 });
    expect((await blob.getProperties()).contentLength).toBe(whole.length);
  });
});

describe('ztp upload --url', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ztp-upload-api-'));
  const good = join(dir, 'good.csv');
  writeFileSync(good, sampleHashFileBytes({ rows: 2, seed: 76, groupTags: ['MPS-STD'] }, 'utf-8').bytes);
  const mixed = join(dir, 'mixed.csv');
  writeFileSync(mixed, sampleHashFileBytes({ rows: 3, seed: 77, groupTags: ['MPS-STD'], bad: { 'invalid-hash': 1 } }, 'utf-8').bytes);

  async function ztp(argv: string[], env: Record<string, string> = {}, cwd = dir) {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env, cwd });
    return { code, stdout, stderr };
  }

  it('sends the file with --key and prints the batch id, the report URL and the validation: exit 0 when every row is accepted', async () => {
    const { code, stdout, stderr } = await ztp([
      'upload',
      good,
      '--supplier',
      'contoso',
      '--url',
      host.httpBaseUrl!,
      '--key',
      CONTOSO_KEY.key,
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const batchId = batchIdOf('contoso', createHash('sha256').update(readFileSync(good)).digest('hex'));
    expect(stdout).toContain(`Batch:  ${batchId}`);
    expect(stdout).toContain(`Report: ${api}/suppliers/contoso/files/good.csv/report`);
    expect(stdout).toContain('2 rows: 2 accepted, 0 rejected.');
    expect(stdout).not.toContain(CONTOSO_KEY.key);
    await waitFor('the intake of good.csv', async () => (await stack.runtime.batches.get(batchId)) ?? undefined);
  });

  it('exits 1 when rows are rejected, naming them, with the key from ZTP_SUPPLIER_KEY', async () => {
    const { code, stdout } = await ztp(['upload', mixed, '--supplier', 'fabrikam', '--url', host.httpBaseUrl!], {
      ZTP_SUPPLIER_KEY: FABRIKAM_KEY.key,
    });
    expect(code).toBe(1);
    expect(stdout).toMatch(/line \d+ \(serial [^)]+\): rejected\n {4}invalid-hash: /);
    expect(stdout).toContain('3 rows: 2 accepted, 1 rejected.');
  });

  it('prints the answer as JSON with --json', async () => {
    const { code, stdout } = await ztp([
      'upload',
      good,
      '--supplier',
      'contoso',
      '--name',
      'again.csv',
      '--url',
      api,
      '--key',
      CONTOSO_ROTATED_KEY.key,
      '--json',
    ]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ status: 202, body: { fileName: 'again.csv', validation: { summary: { accepted: 2 } } } });
  });

  it('exits 2 when the app does not take the file: a wrong key, another supplier, or no answer', async () => {
    const wrong = await ztp(['upload', good, '--supplier', 'contoso', '--url', host.httpBaseUrl!, '--key', mintSupplierKey().key]);
    expect(wrong.code).toBe(2);
    expect(wrong.stdout).toContain('401 from PUT');
    expect(wrong.stdout).toContain('invalid-key');
    const other = await ztp(['upload', good, '--supplier', 'fabrikam', '--url', host.httpBaseUrl!, '--key', CONTOSO_KEY.key]);
    expect(other.code).toBe(2);
    expect(other.stdout).toContain('403 from PUT');
    const nobody = await ztp(['upload', good, '--supplier', 'contoso', '--url', 'http://127.0.0.1:9', '--key', CONTOSO_KEY.key]);
    expect(nobody.code).toBe(2);
    expect(nobody.stderr).toMatch(/no answer from .*sending the file again is safe/);
  });

  it("takes the key a local stack publishes for the supplier when --url is that stack's", async () => {
    const root = mkdtempSync(join(tmpdir(), 'ztp-upload-stack-'));
    await writeStackEndpoints(root, {
      storageConnectionString: stack.storageConnectionString,
      serviceBusConnectionString: stack.broker.connectionString,
      apiBaseUrl: api,
      supplierKeys: { contoso: CONTOSO_KEY.key },
    });
    const published = await ztp(['upload', good, '--supplier', 'contoso', '--name', 'published.csv', '--url', host.httpBaseUrl!], {}, root);
    expect(published.code).toBe(0);
    const elsewhere = await ztp(['upload', good, '--supplier', 'contoso', '--url', 'http://127.0.0.1:9'], {}, root);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain('no upload key for supplier contoso');
  });
});

describe('keys and logs', () => {
  it('never logs a key, after every request above', () => {
    const logged = JSON.stringify(stack.logLines);
    for (const { key } of [CONTOSO_KEY, CONTOSO_ROTATED_KEY, FABRIKAM_KEY]) expect(logged).not.toContain(key.slice(5));
  });
});
