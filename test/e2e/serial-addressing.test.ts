import { randomUUID } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/ztp.js';
import { redriveDeviceByQueryOptions, redriveDeviceOptions } from '../../functions/redrive-device.js';
import { reprovisionDeviceByQueryOptions, reprovisionDeviceOptions } from '../../functions/reprovision-device.js';
import { intakeHashFileOptions } from '../../functions/intake-hash-file.js';
import { DevHost } from '../../local/dev-host/index.js';
import { FUNCTIONS } from '../../local/functions.js';
import { INTAKE_CONTAINER, RESULTS_CONTAINER } from '../../shared/domain/blob-layout.js';
import { newDevice, transition, type DeviceRecord } from '../../shared/domain/device.js';
import { encodeHardwareHashBase64 } from '../../shared/domain/hardware-hash.js';
import type { DeviceState, TransitionReason } from '../../shared/domain/lifecycle.js';
import { signStandardWebhooks, signZtp, webhookKeys } from '../../shared/http/webhook-signature.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Every serial the intake accepts can be looked up, re-driven and re-provisioned: product.md
 * rejects a serial only for control characters, quotes, commas or more than 128 characters, so
 * a supplier's file may hold serials with `/`, `?`, `#`, spaces and `%`. Through every HTTP
 * route of the app on the dev host (which decodes %2F before matching and tries routes in
 * function-name order, as the Functions host does in Azure), `ztp status`, `ztp redrive` and
 * `ztp reprovision`.
 */

const SERIALS = ['ZTP/SLASH-1', 'ZTP?QUERY-2', 'ZTP#HASH-3', 'ZTP SPACE-4', 'ZTP%PCT-5', 'Z/?# %+6', 'ZTP%2FENC-7'];
const SECRET = 'serial-addressing-secret-0123456789';
const [KEY] = webhookKeys(SECRET) as [Buffer];

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
    env: { AzureWebJobsStorage: stack.storageConnectionString, REPROVISION_WEBHOOK_SECRET: SECRET },
    cwd: process.cwd(),
  });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  stack = await startTestStack({ REPROVISION_WEBHOOK_SECRET: SECRET });
  host = new DevHost({
    serviceBusConnectionString: stack.broker.connectionString,
    storageConnectionString: stack.storageConnectionString,
    log: stack.runtime.log,
    blobPollMs: 100,
  }).storageBlob('intakeHashFile', intakeHashFileOptions);
  // Every HTTP route, as the Functions host has them: which one a request reaches depends on all of them.
  for (const fn of FUNCTIONS) if (fn.trigger === 'http') host.http(fn.name, fn.options);
  await host.start();

  const blobs = BlobServiceClient.fromConnectionString(stack.storageConnectionString);
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

/**
 * A device stalled waiting for its profile, as the Autopilot poll leaves one past its deadline:
 * a re-drive sends it back to `registered` without asking Graph, and `deregister` is allowed
 * from there (accepting it asks Graph nothing either: the worker is not running here).
 */
async function stalledDevice(serialNumber: string): Promise<void> {
  const now = new Date();
  const first = newDevice(
    { serialNumber, supplierId: 'contoso', batchId: 'b-addressing', line: 2, groupTag: 'MPS-STD' },
    'received',
    'accepted-from-file',
    'given',
    now,
  );
  let saved = await stack.runtime.devices.create(first.record, first.event);
  const steps: [DeviceState, TransitionReason, Partial<DeviceRecord>][] = [
    ['importing', 'import-submitted', { importId: randomUUID() }],
    ['registered', 'import-complete', { autopilotId: randomUUID(), autopilotGroupTag: 'MPS-STD', waitingFor: 'profile-assignment' }],
    ['stalled', 'deadline-passed', { waitingFor: 'profile-assignment' }],
  ];
  for (const [to, reason, changes] of steps) {
    const next = transition(saved.value, { to, reason, correlationId: 'given', now, changes });
    saved = await stack.runtime.devices.save(next.record, saved, next.event);
  }
}

async function state(serial: string): Promise<string | undefined> {
  return (await stack.runtime.devices.get(serial))?.value.state;
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

async function answerOf(response: Response): Promise<Answer> {
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const byQuery = (action: 'redrive' | 'reprovision', serial: string) => `devices/${action}?serial=${encodeURIComponent(serial)}`;
const inPath = (action: 'redrive' | 'reprovision', serial: string) => `devices/${encodeURIComponent(serial)}/${action}`;

async function redrive(path: string): Promise<Answer> {
  return answerOf(await fetch(`${host.httpBaseUrl}/api/${path}`, { method: 'POST' }));
}

/**
 * A signed re-provisioning request, as a ticketing tool sends it. Each gets a ticket of its own
 * unless told, so no two requests share a signature (a signature is good for one request).
 */
async function reprovision(
  path: string,
  options: { scheme?: 'ztp' | 'standard-webhooks'; key?: string; ticket?: string; signature?: Record<string, string> } = {},
): Promise<Answer> {
  const raw = JSON.stringify({ action: 'deregister', ticket: options.ticket ?? `INC-${randomUUID()}`, requestedBy: 'Robin Deskworker' });
  const timestamp = Math.floor(Date.now() / 1000);
  const key = options.key ?? `key-${randomUUID()}`;
  const signature =
    options.signature ??
    (options.scheme === 'standard-webhooks' ? signStandardWebhooks(KEY, key, raw, timestamp) : signZtp(KEY, raw, timestamp));
  const response = await fetch(`${host.httpBaseUrl}/api/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key, ...signature },
    body: raw,
  });
  return answerOf(response);
}

describe('re-driving and re-provisioning a device whose serial holds /, ? or #', () => {
  it('POST devices/redrive and devices/reprovision are the path routes with the serial in ?serial=: same methods, auth and handler', () => {
    expect(redriveDeviceByQueryOptions).toEqual({ ...redriveDeviceOptions, route: 'devices/redrive' });
    expect(reprovisionDeviceByQueryOptions).toEqual({ ...reprovisionDeviceOptions, route: 'devices/reprovision' });
    expect(redriveDeviceOptions).toMatchObject({ methods: ['POST'], route: 'devices/{serial}/redrive', authLevel: 'function' });
    expect(reprovisionDeviceOptions).toMatchObject({ methods: ['POST'], route: 'devices/{serial}/reprovision', authLevel: 'anonymous' });
  });

  it.each(['RD/SLASH-1', 'RD?QUERY#HASH-2', 'R/D?#% +3'])(
    '%s: re-driven by POST /api/devices/redrive?serial=, then re-provisioned by a signed POST /api/devices/reprovision?serial=',
    async (serial) => {
      await stalledDevice(serial);
      expect(await redrive(byQuery('redrive', serial))).toEqual({ status: 202, body: { serial, state: 'registered' } });

      const accepted = await reprovision(byQuery('reprovision', serial), { ticket: `INC-${serial}` });
      expect(accepted).toEqual({
        status: 202,
        body: { requestId: expect.any(String), serial, action: 'deregister', state: 'reprovisioning', statusUrl: expect.any(String) },
      });
      // The answer's statusUrl reaches the device, whatever its serial holds.
      const status = await fetch(accepted.body.statusUrl as string);
      expect(status.status).toBe(200);
      const shown = (await status.json()) as {
        device: { serialNumber: string; state: string; openRequest: unknown };
        history: { reason: string }[];
      };
      expect(shown.device).toMatchObject({
        serialNumber: serial,
        state: 'reprovisioning',
        openRequest: { action: 'deregister', ticket: `INC-${serial}` },
      });
      expect(shown.history.map((event) => event.reason).slice(-2)).toEqual(['redriven', 'reprovision-requested']);
    },
  );

  it('a serial with / in the path reaches no route (404, as in Azure, where %2F is a slash before matching); ?serial= reaches it', async () => {
    const serial = 'RD/SLASH-4';
    await stalledDevice(serial);
    expect(await redrive(inPath('redrive', serial))).toEqual({
      status: 404,
      body: { error: expect.objectContaining({ code: 'not-found' }) },
    });
    expect(await reprovision(inPath('reprovision', serial))).toEqual({
      status: 404,
      body: { error: expect.objectContaining({ code: 'not-found' }) },
    });
    expect(await state(serial)).toBe('stalled');
    expect(await redrive(byQuery('redrive', serial))).toEqual({ status: 202, body: { serial, state: 'registered' } });
    expect((await reprovision(byQuery('reprovision', serial))).status).toBe(202);
  });

  it('both signature schemes, and one idempotency key per request whichever form carries the serial', async () => {
    const [first, second, other] = ['RD?IDEM#5', 'RD?IDEM#6', 'RD?IDEM#7'];
    for (const serial of [first, second, other]) await stalledDevice(serial);

    // ZTP scheme: asked through ?serial=, retried through the path, answered the first time's way.
    const key = `INC-${randomUUID()}`;
    const ticket = 'INC-IDEM';
    const answer = await reprovision(byQuery('reprovision', first), { key, ticket });
    expect(answer.status).toBe(202);
    expect(await reprovision(inPath('reprovision', first), { key, ticket })).toEqual(answer);
    expect(await reprovision(byQuery('reprovision', first), { key, ticket })).toEqual(answer);

    // Standard Webhooks: webhook-id is the key, the other way round.
    const id = `msg_${randomUUID()}`;
    const webhook = await reprovision(inPath('reprovision', second), { scheme: 'standard-webhooks', key: id, ticket });
    expect(webhook.status).toBe(202);
    expect(await reprovision(byQuery('reprovision', second), { scheme: 'standard-webhooks', key: id, ticket })).toEqual(webhook);

    // A key names one request, serial included: another device's request under it is refused.
    expect(await reprovision(byQuery('reprovision', other), { key })).toEqual({
      status: 422,
      body: { error: expect.objectContaining({ code: 'idempotency-key-reused' }) },
    });
    // The signature is checked first, in either form.
    expect(await reprovision(byQuery('reprovision', other), { signature: {} })).toEqual({
      status: 401,
      body: { error: expect.objectContaining({ code: 'missing-signature' }) },
    });
    expect(await state(other)).toBe('stalled');
  });

  it.each(['redrive', 'reprovision'])(
    'a device whose serial is %s: its path routes reach it, GET /api/devices/<serial> still finds it, and so does ?serial=',
    async (serial) => {
      await stalledDevice(serial);
      const found = await fetch(`${host.httpBaseUrl}/api/devices/${serial}`);
      expect(found.status).toBe(200);
      expect(((await found.json()) as { device: { serialNumber: string } }).device.serialNumber).toBe(serial);

      expect(await redrive(inPath('redrive', serial))).toEqual({ status: 202, body: { serial, state: 'registered' } });
      expect(await redrive(byQuery('redrive', serial))).toEqual({
        status: 409,
        body: { error: expect.objectContaining({ code: 'not-stalled', state: 'registered' }) },
      });
      expect(await reprovision(inPath('reprovision', serial))).toMatchObject({ status: 202, body: { serial, state: 'reprovisioning' } });
      expect(await reprovision(byQuery('reprovision', serial))).toMatchObject({
        status: 409,
        body: { error: { code: 'action-not-allowed', state: 'reprovisioning' } },
      });
    },
  );

  it('a request must name the serial once: in neither the route nor ?serial=, or in both, is 400', async () => {
    const serial = 'RD-ONCE-8';
    await stalledDevice(serial);
    const once = { status: 400, body: { error: { code: 'invalid-serial', message: expect.stringContaining('?serial=') } } };
    expect(await redrive('devices/redrive')).toEqual(once);
    expect(await redrive(`${inPath('redrive', serial)}?serial=${serial}`)).toEqual(once);
    expect(await reprovision('devices/reprovision')).toEqual(once);
    expect(await reprovision(`${inPath('reprovision', serial)}?serial=${serial}`)).toEqual(once);
    expect(await redrive('devices/redrive?serial=%20')).toEqual({
      status: 400,
      body: { error: { code: 'invalid-serial', message: 'The serial number is empty.' } },
    });
    expect(await state(serial)).toBe('stalled');
  });

  it.each(['CLI/SLASH-9', 'CLI?QUERY#HASH-10', '..'])('%s: ztp redrive, then ztp reprovision, through ?serial=', async (serial) => {
    await stalledDevice(serial);
    const url = host.httpBaseUrl!;
    const redriven = await ztp(['redrive', serial, '--url', url]);
    expect(redriven.stderr).toBe('');
    expect(redriven.code).toBe(0);
    expect(redriven.stdout).toContain(`202 Accepted from POST ${url}/api/${byQuery('redrive', serial)}`);
    expect(redriven.stdout).toContain('"state": "registered"');

    // A ticket of its own: the same body signed in the same second is the same signature, good for one request.
    const ticket = `INC-${serial}`;
    const asked = await ztp(['reprovision', serial, '--action', 'deregister', '--ticket', ticket, '--requested-by', 'ops', '--url', url]);
    expect(asked.stderr).toBe('');
    expect(asked.code).toBe(0);
    expect(asked.stdout).toContain(`202 Accepted from POST ${url}/api/${byQuery('reprovision', serial)}`);
    expect(asked.stdout).toContain('"state": "reprovisioning"');
    expect(await state(serial)).toBe('reprovisioning');
  });
});
