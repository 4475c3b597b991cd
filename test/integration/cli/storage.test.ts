import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { main } from '../../../cli/ztp.js';
import { sampleHashFileBytes } from '../../../local/sample-data.js';
import { writeStackEndpoints } from '../../../cli/stack-endpoints.js';
import { BlobStore } from '../../../shared/adapters/blobs/blob-store.js';
import { BatchDeviceRepository } from '../../../shared/adapters/tables/batch-device-index.js';
import { BatchRepository } from '../../../shared/adapters/tables/batch-repository.js';
import { batchIdOf, type BatchRecord } from '../../../shared/domain/batch.js';
import type { OutgoingMessage } from '../../../shared/messages/index.js';
import { DeviceRepository } from '../../../shared/adapters/tables/device-repository.js';
import { encodeHardwareHashBase64 } from '../../../shared/domain/hardware-hash.js';
import { newDevice, transition, type DeviceRecord } from '../../../shared/domain/device.js';
import type { DeviceState, TransitionReason } from '../../../shared/domain/lifecycle.js';
import { createLogger } from '../../../shared/log.js';
import { INTAKE_CONTAINER } from '../../../shared/domain/blob-layout.js';
import { indexDevice } from '../../../shared/services/device-lifecycle.js';
import { ingestHashFile } from '../../../shared/services/intake/index.js';

const unique = randomUUID().replace(/-/g, '').slice(0, 12);
const tables = { devices: `clidev${unique}`, batches: `clibatch${unique}`, batchDevices: `clibatchdev${unique}` };
const supplierId = `cli-${unique}`;
const workDir = mkdtempSync(join(tmpdir(), 'ztp-cli-it-'));
const now = new Date('2026-03-02T09:00:00.000Z');

let connectionString: string;
let devices: DeviceRepository;
let batches: BatchRepository;
let batchIndex: BatchDeviceRepository;
const silent = createLogger({ level: 'silent' });
let blobs: BlobStore;

async function run(argv: string[], options: { env?: Record<string, string | undefined>; cwd?: string } = {}) {
  // The CLI reads with a repository of its own: what this process wrote must be stored first.
  await batchIndex.written();
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env: options.env ?? { AzureWebJobsStorage: connectionString },
    cwd: options.cwd ?? workDir,
    tables,
  });
  return { code, stdout, stderr };
}

async function blobBytes(container: string, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await blobs.openRead(container, name)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A device walked through real transitions, as the pipeline would leave it. */
async function storeDevice(
  serialNumber: string,
  fields: { batchId: string; line: number; hardwareHash?: string; assignedUser?: string; reasons?: string[] },
  path: { to: DeviceState; reason: TransitionReason; changes?: Partial<DeviceRecord>; detail?: Record<string, unknown> }[] = [],
): Promise<void> {
  const rejected = fields.reasons !== undefined && path.length === 0;
  const first = newDevice(
    { serialNumber, supplierId, groupTag: 'MPS-STD', manufacturer: 'HP', model: 'HP EliteBook 840 G10', ...fields },
    rejected ? 'rejected' : 'received',
    rejected ? 'rejected-from-file' : 'accepted-from-file',
    `corr-${serialNumber}-1`,
    now,
  );
  let current = await devices.create(first.record, first.event);
  await indexDevice(batchIndex, silent, first.record, first.event, undefined);
  for (const [index, step] of path.entries()) {
    const next = transition(current.value, {
      ...step,
      correlationId: `corr-${serialNumber}-${index + 2}`,
      now: new Date(now.getTime() + (index + 1) * 60_000),
    });
    current = await devices.save(next.record, current, next.event);
    await indexDevice(batchIndex, silent, next.record, next.event, undefined);
  }
}

function batchRecord(batchId: string, overrides: Partial<BatchRecord> = {}): BatchRecord {
  return {
    batchId,
    supplierId,
    fileName: 'march.csv',
    blobName: `${supplierId}/march.csv`,
    contentSha256: `${batchId}${'0'.repeat(32)}`,
    sizeBytes: 20_480,
    status: 'complete',
    receivedAt: now.toISOString(),
    completedAt: new Date(now.getTime() + 5_000).toISOString(),
    format: 'intune',
    encoding: 'utf-16le',
    fileRejection: undefined,
    counts: { rows: 4, accepted: 3, rejected: 1, queued: 3, chunks: 1 },
    reportBlob: `${supplierId}/march.csv.result.csv`,
    correlationId: 'corr-batch',
    ...overrides,
  };
}

beforeAll(async () => {
  connectionString = inject('storageConnectionString');
  devices = DeviceRepository.connect(connectionString, tables.devices);
  batches = BatchRepository.connect(connectionString, tables.batches);
  batchIndex = BatchDeviceRepository.connect(connectionString, tables.batchDevices);
  blobs = BlobStore.connect(connectionString);
  await Promise.all([devices.ensure(), batches.ensure(), batchIndex.ensure()]);
});

describe('ztp upload against Azurite', () => {
  it('puts the file byte for byte into the supplier folder and says where the report will be', async () => {
    const { bytes } = sampleHashFileBytes({ rows: 3, seed: 11 }, 'utf-16le');
    const file = join(workDir, 'Batch 7 (UTF-16).csv');
    writeFileSync(file, bytes);

    const { code, stdout, stderr } = await run(['upload', file, '--supplier', supplierId]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const blobName = `${supplierId}/Batch 7 (UTF-16).csv`;
    expect(await blobBytes(INTAKE_CONTAINER, blobName)).toEqual(bytes);
    expect(stdout).toContain(`to hash-uploads/${blobName} in storage account devstoreaccount1 (AzureWebJobsStorage)`);
    expect(stdout).toContain(`(${bytes.length.toLocaleString('en-US')} bytes)`);
    expect(stdout).toContain(`hash-results/${blobName}.result.csv`);
    expect(stdout).toContain(`Batch:  ${batchIdOf(supplierId, createHash('sha256').update(bytes).digest('hex'))}`);
  });

  it('uses --name as the blob file name', async () => {
    const file = join(workDir, 'local-name.csv');
    writeFileSync(file, 'Device Serial Number,Windows Product ID,Hardware Hash\r\n');
    const { code, stdout } = await run(['upload', file, '--supplier', supplierId, '--name', 'renamed.csv']);
    expect(code).toBe(0);
    expect((await blobBytes(INTAKE_CONTAINER, `${supplierId}/renamed.csv`)).toString()).toBe(
      'Device Serial Number,Windows Product ID,Hardware Hash\r\n',
    );
    expect(await blobs.info(INTAKE_CONTAINER, `${supplierId}/local-name.csv`)).toBeUndefined();
    expect(stdout).toContain(`hash-results/${supplierId}/renamed.csv.result.csv`);
  });

  it('prints the batch id the intake then files the upload under', async () => {
    const { bytes, rows } = sampleHashFileBytes({ rows: 6, seed: 21, bad: { 'invalid-hash': 1, 'hash-serial-mismatch': 1 } });
    const file = join(workDir, 'with-bad-rows.csv');
    writeFileSync(file, bytes);
    const uploaded = await run(['upload', file, '--supplier', supplierId]);
    expect(uploaded.code).toBe(0);
    const batchId = /Batch: {2}([0-9a-f]{32})/.exec(uploaded.stdout)?.[1];
    expect(batchId).toBeDefined();

    const sent: OutgoingMessage[] = [];
    const result = await ingestHashFile(
      {
        blobs,
        devices,
        batchIndex,
        batches,
        queue: { send: async (_queue: string, messages: readonly OutgoingMessage[]) => void sent.push(...messages) },
        suppliers: [{ id: supplierId, name: 'CLI test supplier', allowedGroupTags: [] }],
        limits: { maxFileBytes: 10 * 1024 * 1024, maxRows: 1000, importChunkSize: 100 },
        log: createLogger({ level: 'silent' }),
        now: () => now,
      },
      `${supplierId}/with-bad-rows.csv`,
      'corr-cli-e2e',
    );
    expect(result.batchId).toBe(batchId);

    const shown = await run(['batch', batchId as string, '--json']);
    expect(shown.code).toBe(0);
    const summary = JSON.parse(shown.stdout);
    const badSerials = rows.filter((row) => row.expectedStatus === 'rejected').map((row) => row.device.serialNumber);
    expect(summary.batch).toMatchObject({ batchId, supplierId, fileName: 'with-bad-rows.csv', status: 'complete' });
    expect(summary.devices.total).toBe(rows.length);
    expect(summary.devices.byState).toEqual({ received: rows.length - badSerials.length, rejected: badSerials.length });
    expect(summary.problems.map((problem: { serialNumber: string }) => problem.serialNumber).sort()).toEqual([...badSerials].sort());
  });
});

describe('ztp status against Azurite', () => {
  const hash = encodeHardwareHashBase64({
    serialNumber: 'CLI-STATUS-1',
    manufacturer: 'HP',
    model: 'HP EliteBook 840 G10',
    tpmVersion: '2.0',
    targetBytes: 1200,
  });
  const upn = 'jane.doe@contoso.example';

  beforeAll(async () => {
    await storeDevice('CLI-STATUS-1', { batchId: 'batch-status', line: 7, hardwareHash: hash, assignedUser: upn }, [
      { to: 'importing', reason: 'import-submitted', changes: { importId: 'imp-42', waitingFor: 'import' } },
      {
        to: 'registered',
        reason: 'import-complete',
        changes: {
          importedIdentityId: 'ident-42',
          autopilotId: 'ap-42',
          autopilotGroupTag: 'MPS-OLD',
          waitingFor: 'profile-assignment',
          waitingSince: '2026-03-02T09:02:00.000Z',
          deadlineAt: '2026-03-05T09:02:00.000Z',
          pollAttempt: 3,
          note: 'waiting on Intune',
        },
        detail: { autopilotId: 'ap-42', assignedUser: upn },
      },
    ]);
  });

  it('prints state, ids, waiting step and deadline, and one line per event, without hash or UPN', async () => {
    const { code, stdout, stderr } = await run(['status', 'CLI-STATUS-1']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Device CLI-STATUS-1: registered\n/);
    for (const expected of [
      /supplier: +cli-/,
      /batch: +batch-status \(line 7\)/,
      /group tag: +MPS-STD/,
      /Autopilot group tag: +MPS-OLD/,
      /user assigned: +yes/,
      /import id: +imp-42/,
      /Autopilot device id: +ap-42/,
      /waiting for: +profile-assignment since 2026-03-02T09:02:00.000Z \(poll attempt 3\)/,
      /deadline: +2026-03-05T09:02:00.000Z/,
      /note: +waiting on Intune/,
    ]) {
      expect(stdout).toMatch(expected);
    }
    const history = stdout.slice(stdout.indexOf('History (3 events):')).split('\n').slice(1, 4);
    expect(history).toEqual([
      '  2026-03-02T09:00:00.000Z  (new) -> received  accepted-from-file  correlation corr-CLI-STATUS-1-1',
      '  2026-03-02T09:01:00.000Z  received -> importing  import-submitted  correlation corr-CLI-STATUS-1-2',
      '  2026-03-02T09:02:00.000Z  importing -> registered  import-complete  correlation corr-CLI-STATUS-1-3  {"autopilotId":"ap-42"}',
    ]);
    expect(stdout).not.toContain(hash.slice(0, 40));
    expect(stdout).not.toContain('jane.doe');
  });

  it('prints {device, history} as JSON without hash or UPN, saying only that a user is assigned', async () => {
    const { code, stdout } = await run(['status', 'cli-status-1', '--json']);
    expect(code).toBe(0);
    const output = JSON.parse(stdout);
    expect(Object.keys(output)).toEqual(['device', 'history']);
    expect(output.device).toMatchObject({
      serialNumber: 'CLI-STATUS-1',
      state: 'registered',
      autopilotId: 'ap-42',
      userAssigned: true,
      reasons: [],
    });
    expect(output.device).not.toHaveProperty('hardwareHash');
    expect(output.device).not.toHaveProperty('assignedUser');
    expect(output.history.map((event: { to: string }) => event.to)).toEqual(['received', 'importing', 'registered']);
    expect(output.history[2].detail).toEqual({ autopilotId: 'ap-42' });
    expect(stdout).not.toContain(hash.slice(0, 40));
    expect(stdout).not.toContain('jane.doe');
  });

  it('says "no" when no user is assigned, and shows reasons with their meaning', async () => {
    await storeDevice('CLI-STATUS-2', { batchId: 'batch-status', line: 8, reasons: ['hash-serial-mismatch'] });
    const { code, stdout } = await run(['status', 'CLI-STATUS-2']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Device CLI-STATUS-2: rejected\n/);
    expect(stdout).toMatch(/user assigned: +no/);
    expect(stdout).toMatch(/reasons: +hash-serial-mismatch \(.+\)/);
    expect(JSON.parse((await run(['status', 'CLI-STATUS-2', '--json'])).stdout).device.userAssigned).toBe(false);
  });

  it('exits 1 with a clear message for an unknown serial number', async () => {
    const { code, stdout, stderr } = await run(['status', 'NO-SUCH-SERIAL', '--json']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      'ztp status: no device with serial number "NO-SUCH-SERIAL" is known in storage account devstoreaccount1 (AzureWebJobsStorage)\n',
    );
  });
});

describe('ztp batch against Azurite', () => {
  const batchId = `b${unique}batch`;

  beforeAll(async () => {
    await batches.create(batchRecord(batchId));
    await storeDevice('CLI-BATCH-1', { batchId, line: 2 });
    await storeDevice('CLI-BATCH-2', { batchId, line: 3 }, [{ to: 'importing', reason: 'import-submitted' }]);
    await storeDevice('CLI-BATCH-3', { batchId, line: 5 }, [
      { to: 'importing', reason: 'import-submitted' },
      {
        to: 'failed',
        reason: 'owned-by-other-tenant',
        changes: { reasons: ['owned-by-other-tenant'], note: 'registered in another tenant' },
      },
    ]);
    await storeDevice('CLI-BATCH-4', { batchId, line: 4, reasons: ['invalid-product-key'] });
    await storeDevice('CLI-OTHER-BATCH', { batchId: 'another-batch', line: 2 });
  });

  it('prints the batch record, counts per current state and the devices needing attention', async () => {
    const { code, stdout, stderr } = await run(['batch', batchId]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^Batch ${batchId}: complete\\n`));
    expect(stdout).toMatch(/supplier: +cli-/);
    expect(stdout).toContain(`march.csv (hash-uploads/${supplierId}/march.csv, 20,480 bytes)`);
    expect(stdout).toMatch(/format: +intune, utf-16le/);
    expect(stdout).toMatch(/counts: +rows 4, accepted 3, rejected 1, queued 3, chunks 1/);
    expect(stdout).toMatch(new RegExp(`report: +hash-results/${supplierId}/march.csv.result.csv`));
    expect(stdout).toContain(
      ['Devices by current state (4):', '  received   1', '  rejected   1', '  importing  1', '  failed     1'].join('\n'),
    );
    expect(stdout).toContain(
      [
        'Rejected, failed or stalled devices (2):',
        '  line 4  CLI-BATCH-4  rejected  invalid-product-key',
        '  line 5  CLI-BATCH-3  failed  owned-by-other-tenant - registered in another tenant',
      ].join('\n'),
    );
    expect(stdout).not.toContain('CLI-OTHER-BATCH');
  });

  it('prints the same as JSON', async () => {
    const { code, stdout } = await run(['batch', batchId, '--json']);
    expect(code).toBe(0);
    const output = JSON.parse(stdout);
    expect(output.batch).toMatchObject({ batchId, supplierId, status: 'complete', counts: { rows: 4, accepted: 3, rejected: 1 } });
    expect(output.devices).toEqual({ total: 4, byState: { received: 1, importing: 1, failed: 1, rejected: 1 } });
    expect(output.problems).toEqual([
      { serialNumber: 'CLI-BATCH-4', line: 4, state: 'rejected', reasons: ['invalid-product-key'] },
      { serialNumber: 'CLI-BATCH-3', line: 5, state: 'failed', reasons: ['owned-by-other-tenant'], note: 'registered in another tenant' },
    ]);
  });

  it('shows a file rejected as a whole', async () => {
    const rejectedId = `r${unique}batch`;
    await batches.create(
      batchRecord(rejectedId, {
        status: 'rejected',
        counts: {},
        fileRejection: { code: 'too-many-rows', message: 'The file has more than 100000 rows.' },
      }),
    );
    const { code, stdout } = await run(['batch', rejectedId]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/file rejection: +too-many-rows \(.+\): The file has more than 100000 rows\./);
    expect(stdout).toContain('Devices by current state (0):\n  (none)\n');
    expect(stdout).not.toMatch(/counts:/);
  });

  it('exits 1 for an unknown batch', async () => {
    const { code, stdout, stderr } = await run(['batch', 'no-such-batch']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain('no batch "no-such-batch" is known');
  });
});

describe('finding the local stack', () => {
  it('uses .local/stack.json from the working directory or any folder above it', async () => {
    await storeDevice('CLI-STACK-1', { batchId: 'batch-stack', line: 2 });
    const root = mkdtempSync(join(tmpdir(), 'ztp-stack-'));
    const path = await writeStackEndpoints(root, {
      storageConnectionString: connectionString,
      serviceBusConnectionString: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;',
      apiBaseUrl: 'http://127.0.0.1:7071/api',
      pid: process.pid,
    });
    const nested = join(root, 'suppliers', 'march');
    mkdirSync(nested, { recursive: true });
    writeFileSync(join(nested, 'one.csv'), sampleHashFileBytes({ rows: 1, seed: 5 }).bytes);

    const status = await run(['status', 'CLI-STACK-1'], { env: {}, cwd: nested });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^Device CLI-STACK-1: received\n/);

    const upload = await run(['upload', 'one.csv', '--supplier', supplierId], { env: {}, cwd: nested });
    expect(upload.code).toBe(0);
    expect(upload.stdout).toContain(`in the local stack (${path})`);
    expect((await blobs.info(INTAKE_CONTAINER, `${supplierId}/one.csv`))?.size).toBeGreaterThan(0);
  });

  it('with ZTP_LOCAL_ROOT, uses the stack of that root only, a relative root counting from the working directory', async () => {
    await storeDevice('CLI-STACK-2', { batchId: 'batch-stack', line: 3 });
    const work = mkdtempSync(join(tmpdir(), 'ztp-instances-'));
    // Two instances' roots under one folder, as `npm start` writes them with ZTP_LOCAL_ROOT; a stack of another storage in the folder itself.
    const elsewhere = { serviceBusConnectionString: 'x', apiBaseUrl: 'http://127.0.0.1:1/api', pid: process.pid };
    await writeStackEndpoints(work, { ...elsewhere, storageConnectionString: 'UseDevelopmentStorage=false' });
    const instance = await writeStackEndpoints(join(work, 'instance-b'), {
      ...elsewhere,
      storageConnectionString: connectionString,
    });

    const status = await run(['status', 'CLI-STACK-2'], { env: { ZTP_LOCAL_ROOT: 'instance-b' }, cwd: work });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^Device CLI-STACK-2: received\n/);
    const absolute = await run(['status', 'CLI-STACK-2'], { env: { ZTP_LOCAL_ROOT: join(work, 'instance-b') }, cwd: tmpdir() });
    expect(absolute.code).toBe(0);

    writeFileSync(join(work, 'two.csv'), sampleHashFileBytes({ rows: 1, seed: 6 }).bytes);
    const upload = await run(['upload', 'two.csv', '--supplier', supplierId], { env: { ZTP_LOCAL_ROOT: 'instance-b' }, cwd: work });
    expect(upload.code).toBe(0);
    expect(upload.stdout).toContain(`in the local stack (${instance})`);

    // A root without a stack: said so, and the one in the working directory is not used instead.
    const missing = await run(['status', 'CLI-STACK-2'], { env: { ZTP_LOCAL_ROOT: 'instance-c' }, cwd: work });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`no ${join(work, 'instance-c', '.local', 'stack.json')} (ZTP_LOCAL_ROOT)`);
  });

  it('prefers AzureWebJobsStorage over the local stack', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ztp-stack-'));
    await writeStackEndpoints(root, {
      storageConnectionString: 'UseDevelopmentStorage=false',
      serviceBusConnectionString: 'x',
      apiBaseUrl: 'http://127.0.0.1:1/api',
    });
    const { code, stdout } = await run(['status', 'CLI-STATUS-1'], { env: { AzureWebJobsStorage: connectionString }, cwd: root });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Device CLI-STATUS-1: registered\n/);
    const fromStack = await run(['status', 'CLI-STATUS-1'], { env: {}, cwd: root });
    expect(fromStack.code).toBe(2);
    expect(fromStack.stderr).toContain(`the local stack (${join(root, '.local', 'stack.json')})`);
  });
});
