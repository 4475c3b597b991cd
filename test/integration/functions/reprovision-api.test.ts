import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { followUpOptions } from '../../../functions/follow-up.js';
import { getDeviceOptions } from '../../../functions/get-device.js';
import { reprovisionOptions } from '../../../functions/reprovision.js';
import { reprovisionDeviceOptions } from '../../../functions/reprovision-device.js';
import { DevHost } from '../../../local/dev-host/index.js';
import { makeTestHardwareHash, startGraphSimulator, type GraphSimulator } from '../../../local/graph-simulator/index.js';
import { INTAKE_CONTAINER, RESULTS_CONTAINER } from '../../../shared/domain/blob-layout.js';
import { ingestHashFile } from '../../../shared/services/intake/index.js';
import { IdempotencyRepository } from '../../../shared/adapters/tables/idempotency-store.js';
import { newDevice, transition, type DeviceRecord } from '../../../shared/domain/device.js';
import {
  DEVICE_STATES,
  REPROVISION_ACTIONS,
  REPROVISION_ALLOWED_FROM,
  type DeviceState,
  type ReprovisionAction,
} from '../../../shared/domain/lifecycle.js';
import { signStandardWebhooks, signZtp, webhookKeys } from '../../../shared/http/webhook-signature.js';
import { sweep } from '../../../shared/services/sweeper.js';
import { startTestStack, type TestStack } from '../../support/stack.js';

/**
 * POST /api/devices/{serial}/reprovision through the dev host's HTTP server, with the
 * re-provisioning worker and the follow-up poll running on the Service Bus test broker,
 * storage in Azurite and Graph simulated on a 600x clock: what the service desk's ticketing
 * tool would see, end to end.
 */

vi.setConfig({ testTimeout: 120_000 });

const TIME_SCALE = 600;
const TOKEN = 'reprovision-api-token';
const SECRET_OLD = 'old-secret-0123456789abcdef';
const SECRET_NEW = `whsec_${Buffer.from('new-key-bytes-for-rotation-0123').toString('base64')}`;
const [KEY_OLD, KEY_NEW] = webhookKeys(`${SECRET_OLD},${SECRET_NEW}`) as [Buffer, Buffer];
const REQUESTED_BY = 'Robin Deskworker';

let sim: GraphSimulator;
let stack: TestStack;
let host: DevHost;
let idempotency: IdempotencyRepository;
let serialCounter = 0;

beforeAll(async () => {
  sim = await startGraphSimulator({
    token: TOKEN,
    clock: { timeScale: TIME_SCALE },
    profileRules: [
      { groupTag: 'MPS-STD', profileName: 'Standard' },
      { groupTag: 'MPS-KIOSK', profileName: 'Kiosk' },
    ],
    latencies: { remoteActionSeconds: 300, reEnrolmentSeconds: 1800, enrolmentSeconds: 1800 },
  });
  stack = await startTestStack({
    GRAPH_BASE_URL: sim.baseUrl,
    GRAPH_STATIC_TOKEN: TOKEN,
    ZTP_TIME_SCALE: String(TIME_SCALE),
    REPROVISION_WEBHOOK_SECRET: `${SECRET_OLD},${SECRET_NEW}`,
    ZTP_MAX_POLL_INTERVAL_MINUTES: '20',
    ZTP_RETAG_SETTLE_MINUTES: '10',
  });
  host = new DevHost({
    serviceBusConnectionString: stack.broker.connectionString,
    storageConnectionString: stack.storageConnectionString,
    log: stack.runtime.log,
  })
    .http('reprovisionDevice', reprovisionDeviceOptions)
    .http('getDevice', getDeviceOptions)
    .serviceBusQueue('reprovision', reprovisionOptions)
    .serviceBusQueue('followUp', followUpOptions);
  await host.start();
  idempotency = IdempotencyRepository.connect(stack.storageConnectionString);
});

afterAll(async () => {
  await host?.stop();
  await stack?.stop();
  await sim?.stop();
});

interface Sent {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

type Scheme = 'ztp' | 'standard-webhooks';

async function post(
  serial: string,
  body: unknown,
  options: {
    scheme?: Scheme;
    key?: Buffer;
    timestamp?: number;
    idempotencyKey?: string;
    raw?: string;
    signedRaw?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Sent> {
  const raw = options.raw ?? JSON.stringify(body);
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const key = options.key ?? KEY_OLD;
  const signed = options.signedRaw ?? raw;
  const signature =
    options.scheme === 'standard-webhooks'
      ? signStandardWebhooks(key, options.idempotencyKey ?? `msg_${randomUUID()}`, signed, timestamp)
      : signZtp(key, signed, timestamp);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(options.headers ?? signature),
    ...(options.idempotencyKey && options.scheme !== 'standard-webhooks' ? { 'idempotency-key': options.idempotencyKey } : {}),
  };
  const response = await fetch(`${host.httpBaseUrl}/api/devices/${encodeURIComponent(serial)}/reprovision`, {
    method: 'POST',
    headers,
    body: raw,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function device(
  serial: string,
): Promise<{ device: DeviceRecord & { openRequest?: Record<string, unknown> }; history: { reason: string }[] }> {
  const response = await fetch(`${host.httpBaseUrl}/api/devices/${encodeURIComponent(serial)}`);
  return (await response.json()) as never;
}

const ask = (action: ReprovisionAction, extra: Record<string, unknown> = {}) => ({
  action,
  ticket: `INC${++serialCounter}`,
  requestedBy: REQUESTED_BY,
  ...(action === 'retag' ? { groupTag: 'MPS-KIOSK' } : {}),
  ...extra,
});

const PATHS: Readonly<Record<DeviceState, readonly DeviceState[]>> = {
  received: [],
  rejected: [],
  importing: ['importing'],
  registered: ['importing', 'registered'],
  'profile-assigned': ['importing', 'registered', 'profile-assigned'],
  enrolled: ['importing', 'registered', 'profile-assigned', 'enrolled'],
  failed: ['importing', 'failed'],
  stalled: ['importing', 'registered', 'stalled'],
  reprovisioning: ['importing', 'registered', 'profile-assigned', 'enrolled', 'reprovisioning'],
  deregistered: ['importing', 'registered', 'reprovisioning', 'deregistered'],
};

/**
 * A device in `state`: registered in the simulated Autopilot (and enrolled in Intune) when the
 * state says it is, with the record the pipeline would have written.
 */
async function given(state: DeviceState): Promise<string> {
  const serial = `RPA${String(++serialCounter).padStart(4, '0')}-${state.slice(0, 4).toUpperCase()}`;
  const inAutopilot = ['registered', 'profile-assigned', 'enrolled', 'stalled', 'reprovisioning'].includes(state);
  let autopilotId: string | undefined;
  let managedDeviceId: string | undefined;
  if (inAutopilot) {
    // A device the record shows as not enrolled must not enrol in the simulator on its own, or
    // Graph would change under a test that asserts a refusal changed nothing there.
    if (state !== 'enrolled' && state !== 'reprovisioning') sim.setDeviceBoots(serial, false);
    autopilotId = sim.addAutopilotIdentity({ serialNumber: serial, groupTag: 'MPS-STD' }).id;
    if (state === 'enrolled' || state === 'reprovisioning') {
      sim.clock.advance(46 * 60);
      managedDeviceId = String(sim.autopilotIdentities().find((i) => i.id === autopilotId)?.managedDeviceId);
    }
  }
  const now = new Date();
  const first = newDevice(
    { serialNumber: serial, supplierId: 'contoso', batchId: 'b-desk', line: 2, groupTag: 'MPS-STD' },
    state === 'rejected' ? 'rejected' : 'received',
    state === 'rejected' ? 'rejected-from-file' : 'accepted-from-file',
    'given',
    now,
  );
  let saved = await stack.runtime.devices.create(first.record, first.event);
  const path = PATHS[state];
  for (const [index, to] of path.entries()) {
    // The Autopilot ids come with the last step only: the app, running meanwhile, follows no
    // device without them, so it cannot move one on between two steps of this history.
    const last = index === path.length - 1;
    const changes: Partial<DeviceRecord> = {
      ...(to === 'registered' ? { autopilotGroupTag: 'MPS-STD', waitingFor: 'profile-assignment' as const } : {}),
      ...(to === 'enrolled' ? { waitingFor: undefined } : {}),
      ...(to === 'stalled' ? { waitingFor: 'profile-assignment' as const } : {}),
      ...(last && path.includes('registered') ? { autopilotId, autopilotGroupTag: 'MPS-STD' } : {}),
      ...(last && path.includes('enrolled') ? { managedDeviceId } : {}),
    };
    const next = transition(saved.value, { to, reason: 'import-complete', correlationId: 'given', now, changes });
    saved = await stack.runtime.devices.save(next.record, saved, next.event);
  }
  return serial;
}

async function until(serial: string, state: DeviceState, timeoutMs = 60_000): Promise<DeviceRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await stack.runtime.devices.get(serial);
    if (found?.value.state === state) return found.value;
    if (Date.now() > deadline) throw new Error(`${serial} is ${found?.value.state}, not ${state}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function untilDone(serial: string, timeoutMs = 60_000): Promise<DeviceRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await stack.runtime.devices.get(serial);
    if (found?.value.reprovision?.stage === 'done' && found.value.state !== 'reprovisioning') return found.value;
    if (Date.now() > deadline) throw new Error(`${serial} is ${found?.value.state}, its request ${found?.value.reprovision?.stage}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** What must not change when a request is refused: the record, its history, Graph. */
async function snapshot(serial: string): Promise<string> {
  const record = await stack.runtime.devices.get(serial);
  const history = await stack.runtime.devices.history(serial);
  // What Graph holds of the device: its identity's tag, its managed device and that device's actions.
  const identity = sim.autopilotIdentities().find((i) => i.serialNumber === serial);
  const managed = sim.managedDevices().find((m) => m.serialNumber === serial);
  return JSON.stringify({
    etag: record?.etag,
    events: history.length,
    groupTag: identity?.groupTag ?? null,
    managed: managed ? { id: managed.id, actions: managed.deviceActionResults } : null,
  });
}

describe('each action from each allowed state, to its end state', () => {
  const cases = REPROVISION_ACTIONS.flatMap((action) => REPROVISION_ALLOWED_FROM[action].map((from) => [action, from] as const));

  it(`all ${cases.length} of them, signed with either scheme and either secret of a rotation`, async () => {
    const expected = (action: ReprovisionAction, from: DeviceState): DeviceState =>
      action === 'deregister' ? 'deregistered' : action === 'retag' && from !== 'enrolled' ? 'profile-assigned' : 'enrolled';
    const runs = cases.map(async ([action, from], index) => {
      const serial = await given(from);
      const before = await stack.runtime.devices.get(serial);
      const scheme: Scheme = index % 2 === 0 ? 'ztp' : 'standard-webhooks';
      const key = index % 4 < 2 ? KEY_OLD : KEY_NEW;
      const answer = await post(serial, ask(action), { scheme, key });
      expect(answer, `${action} from ${from}`).toMatchObject({
        status: 202,
        body: {
          serial,
          action,
          state: 'reprovisioning',
          requestId: expect.any(String),
          statusUrl: `${host.httpBaseUrl}/api/devices?serial=${encodeURIComponent(serial)}`,
        },
      });
      const open = await device(serial);
      expect(open.device.openRequest).toMatchObject({ requestId: answer.body.requestId, action, requestedAt: expect.any(String) });
      expect(JSON.stringify(open)).not.toContain(REQUESTED_BY);
      const done = await untilDone(serial);
      expect(done.reprovision).toMatchObject({ stage: 'done', requestId: answer.body.requestId });
      // Where the request left the device (a device re-tagged before enrolment may enrol right after).
      const history = await stack.runtime.devices.history(serial);
      expect(history.find((e) => e.reason === 'reprovision-complete' || e.reason === 'deregistered')?.to).toBe(expected(action, from));
      if (action === 'wipe') expect(done.managedDeviceId).not.toBe(before?.value.managedDeviceId);
      if (action === 'autopilot-reset' || action === 'fresh-start') expect(done.managedDeviceId).toBe(before?.value.managedDeviceId);
      if (action === 'retag') expect(sim.autopilotIdentities().find((i) => i.serialNumber === serial)?.groupTag).toBe('MPS-KIOSK');
      if (action === 'deregister') expect(sim.autopilotIdentities().some((i) => i.serialNumber === serial)).toBe(false);
    });
    await Promise.all(runs);
  });
});

describe('refusals', () => {
  it('every state an action is not allowed from answers 409 naming the state, and changes nothing', async () => {
    const refused = REPROVISION_ACTIONS.flatMap((action) =>
      DEVICE_STATES.filter((state) => !REPROVISION_ALLOWED_FROM[action].includes(state)).map((state) => [action, state] as const),
    );
    for (const [action, state] of refused) {
      const serial = await given(state);
      const before = await snapshot(serial);
      const answer = await post(serial, ask(action));
      expect(answer, `${action} from ${state}`).toEqual({
        status: 409,
        body: { error: { code: 'action-not-allowed', message: expect.stringContaining(`is ${state}`), state } },
      });
      expect(await snapshot(serial)).toBe(before);
    }
  });

  it('answers each bad request with its status and code, and changes nothing', async () => {
    const serial = await given('enrolled');
    const before = await snapshot(serial);
    const now = Math.floor(Date.now() / 1000);
    const body = ask('autopilot-reset');
    const cases: [string, Promise<Sent>, number, string][] = [
      ['no signature', post(serial, body, { headers: {} }), 401, 'missing-signature'],
      [
        'a signature with an unknown key',
        post(serial, body, { key: Buffer.from('not-a-configured-secret-at-all') }),
        401,
        'invalid-signature',
      ],
      ['a stale timestamp', post(serial, body, { timestamp: now - 301 }), 401, 'stale-timestamp'],
      ['a timestamp in the future', post(serial, body, { timestamp: now + 301 }), 401, 'stale-timestamp'],
      [
        'a tampered body',
        post(serial, body, { raw: JSON.stringify({ ...body, action: 'wipe' }), signedRaw: JSON.stringify(body) }),
        401,
        'invalid-signature',
      ],
      ['a body over 16 KiB', post(serial, { ...body, ticket: 'x'.repeat(17 * 1024) }), 413, 'body-too-large'],
      ['a body that is not JSON', post(serial, undefined, { raw: '{"action": "wipe",' }), 400, 'invalid-json'],
      ['an unknown field', post(serial, { ...body, priority: 'high' }), 400, 'unknown-field'],
      ['an unknown action', post(serial, { ...body, action: 'reimage' }), 400, 'invalid-action'],
      ['no ticket', post(serial, { action: 'wipe', requestedBy: REQUESTED_BY }), 400, 'missing-field'],
      ['a retag without a tag', post(serial, { action: 'retag', ticket: 'INC1', requestedBy: REQUESTED_BY }), 400, 'missing-group-tag'],
      ['allowReimport on a wipe', post(serial, { ...body, allowReimport: true }), 400, 'invalid-field'],
      ['an unknown serial', post('NO-SUCH-SERIAL-1', body), 404, 'device-not-found'],
    ];
    for (const [label, sent, status, code] of cases) {
      const answer = await sent;
      expect(answer, label).toEqual({ status, body: { error: { code, message: expect.any(String) } } });
    }
    expect(await snapshot(serial)).toBe(before);
    const refusals = stack.logLines.filter((line) => line.event === 'reprovision.refused');
    expect(refusals.length).toBeGreaterThanOrEqual(cases.length);
  });
});

describe('tampering', () => {
  it('any bit flipped in the body, the timestamp or the signature answers 401 and changes nothing', async () => {
    const serial = await given('enrolled');
    const before = await snapshot(serial);
    const raw = Buffer.from(JSON.stringify(ask('wipe', { ticket: 'INC-TAMPER' })));
    const visible = (byte: number): boolean => byte >= 0x21 && byte <= 0x7e;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('body', 'timestamp', 'signature'),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        async (part, at, bit) => {
          const timestamp = String(Math.floor(Date.now() / 1000));
          const signed = Object.fromEntries(Object.entries(signZtp(KEY_OLD, raw, Number(timestamp))).map(([k, v]) => [k.toLowerCase(), v]));
          const pieces = { body: Buffer.from(raw), timestamp: Buffer.from(timestamp), signature: Buffer.from(signed['x-ztp-signature']!) };
          const target = pieces[part];
          const index = at % target.length;
          target[index] = target[index]! ^ (1 << bit);
          // Header values must stay sendable; the body may become any bytes.
          fc.pre(part === 'body' || visible(target[index]!));
          const response = await fetch(`${host.httpBaseUrl}/api/devices/${encodeURIComponent(serial)}/reprovision`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'x-ztp-timestamp': pieces.timestamp.toString('latin1'),
              'x-ztp-signature': pieces.signature.toString('latin1'),
            },
            body: pieces.body,
          });
          const answer = (await response.json()) as { error: { code: string } };
          expect(response.status).toBe(401);
          expect(['invalid-signature', 'stale-timestamp', 'missing-signature']).toContain(answer.error.code);
        },
      ),
      { numRuns: 60, seed: 20261202 },
    );
    expect(await snapshot(serial)).toBe(before);
  });
});

describe('replays', () => {
  it('a signed request replayed against another device is refused; the same request again is not', async () => {
    const [first, other] = [await given('enrolled'), await given('enrolled')];
    const raw = JSON.stringify(ask('fresh-start', { ticket: 'INC-REPLAY' }));
    const headers = { 'content-type': 'application/json', ...signZtp(KEY_OLD, raw, Math.floor(Date.now() / 1000)) };
    const send = async (serial: string) => {
      const response = await fetch(`${host.httpBaseUrl}/api/devices/${encodeURIComponent(serial)}/reprovision`, {
        method: 'POST',
        headers,
        body: raw,
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    expect((await send(first)).status).toBe(202);
    const before = await snapshot(other);
    expect(await send(other)).toEqual({
      status: 401,
      body: { error: { code: 'invalid-signature', message: expect.stringContaining('already used') } },
    });
    expect(await snapshot(other)).toBe(before);
    // The same request to the same device (a retry of it) is answered by the device's state.
    expect((await send(first)).status).toBe(409);
  });

  it('an unsigned Idempotency-Key cannot stand in for the signed webhook-id', async () => {
    const serial = await given('enrolled');
    const answer = await post(serial, ask('wipe'), {
      scheme: 'standard-webhooks',
      idempotencyKey: `msg_${randomUUID()}`,
      headers: undefined,
    });
    expect(answer.status).toBe(202);
    const raw = JSON.stringify(ask('wipe'));
    const signed = signStandardWebhooks(KEY_OLD, 'msg_signed', raw, Math.floor(Date.now() / 1000));
    const other = await given('enrolled');
    const response = await fetch(`${host.httpBaseUrl}/api/devices/${encodeURIComponent(other)}/reprovision`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signed, 'idempotency-key': 'something-else' },
      body: raw,
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid-idempotency-key');
  });
});

describe('idempotency', () => {
  it('a repeat gets the first answer, whatever happened since; the key with another body gets 422', async () => {
    const serial = await given('enrolled');
    const key = `ticket-${randomUUID()}`;
    const body = ask('fresh-start');
    const first = await post(serial, body, { idempotencyKey: key });
    expect(first.status).toBe(202);
    const again = await post(serial, body, { idempotencyKey: key });
    expect(again).toEqual(first);
    await until(serial, 'enrolled');
    expect(await post(serial, body, { idempotencyKey: key })).toEqual(first);
    const history = await stack.runtime.devices.history(serial);
    expect(history.filter((e) => e.reason === 'reprovision-requested')).toHaveLength(1);

    const reused = await post(serial, { ...body, ticket: 'INC-OTHER' }, { idempotencyKey: key });
    expect(reused).toEqual({ status: 422, body: { error: { code: 'idempotency-key-reused', message: expect.any(String) } } });
    expect((await idempotency.get(key))?.value).toMatchObject({ status: 'completed', answer: { status: 202 } });
  });

  it('webhook-id is the key of the Standard Webhooks scheme', async () => {
    const serial = await given('enrolled');
    const id = `msg_${randomUUID()}`;
    const body = ask('autopilot-reset');
    const first = await post(serial, body, { scheme: 'standard-webhooks', idempotencyKey: id });
    const again = await post(serial, body, { scheme: 'standard-webhooks', idempotencyKey: id, key: KEY_NEW });
    expect(first.status).toBe(202);
    expect(again).toEqual(first);
    expect((await idempotency.get(id))?.value.status).toBe('completed');
  });

  it('a request refused at the edge leaves no record for its key', async () => {
    const serial = await given('enrolled');
    const key = `edge-${randomUUID()}`;
    expect((await post(serial, { action: 'wipe', requestedBy: 'x' }, { idempotencyKey: key })).status).toBe(400);
    expect(await idempotency.get(key)).toBeUndefined();
  });
});

describe('concurrency and crashes', () => {
  it('two requests at once for one device: one 202, one 409', async () => {
    const serial = await given('enrolled');
    const answers = await Promise.all([post(serial, ask('autopilot-reset')), post(serial, ask('wipe'))]);
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409]);
    await until(serial, 'enrolled', 90_000);
  });

  it('a crash between acceptance and the queued message: the sweeper sends it, and the request completes', async () => {
    const serial = await given('enrolled');
    const runtime = stack.runtime;
    const real = runtime.reprovisionDeps();
    const crashing = {
      ...real,
      accept: {
        ...real.accept,
        queue: {
          send: async () => {
            throw new Error('the process stopped before the message was queued');
          },
        },
      },
    };
    Object.assign(runtime, { reprovisionDeps: () => crashing });
    let answer: Sent;
    try {
      answer = await post(serial, ask('autopilot-reset'));
    } finally {
      Object.assign(runtime, { reprovisionDeps: () => real });
    }
    expect(answer.status).toBe(500);
    expect((await stack.runtime.devices.get(serial))?.value.reprovision?.stage).toBe('accepted');

    const summary = await sweep(
      { ...runtime.sweeperDeps(), policy: { ...runtime.sweeperDeps().policy, requeueAfterMs: 0 } },
      `sweep-${serial}`,
    );
    expect(summary.reprovisionResent).toBeGreaterThanOrEqual(1);
    await until(serial, 'enrolled', 90_000);
  });
});

describe('supplier files meet the service desk', () => {
  /** A supplier's file naming `serial`, recorded as the intake would on its blob trigger; the report's rows. */
  async function supplierFile(serial: string, groupTag: string): Promise<string[]> {
    const name = `contoso/desk-${randomUUID()}.csv`;
    const text = `Device Serial Number,Windows Product ID,Hardware Hash,Group Tag\r\n${serial},,${makeTestHardwareHash({ serialNumber: serial })},${groupTag}\r\n`;
    await stack.runtime.blobs.writeText(INTAKE_CONTAINER, name, text, 'text/csv');
    const result = await ingestHashFile(stack.runtime.intakeDeps(), name, `file-${serial}`);
    const report = await stack.runtime.blobs.readText(RESULTS_CONTAINER, result.reportBlob);
    return report!.trim().split('\r\n').slice(1);
  }

  it('a file arriving during a reset changes nothing (device-busy), and the reset completes', async () => {
    const serial = await given('enrolled');
    expect((await post(serial, ask('autopilot-reset'))).status).toBe(202);
    const during = await stack.runtime.devices.get(serial);
    const rows = await supplierFile(serial, 'MPS-KIOSK');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain('"accepted","device-busy"');
    const after = await stack.runtime.devices.get(serial);
    expect(after?.value).toMatchObject({ generation: during!.value.generation, groupTag: 'MPS-STD', state: during!.value.state });
    const done = await untilDone(serial);
    expect(done).toMatchObject({ state: 'enrolled', groupTag: 'MPS-STD' });
    expect(sim.autopilotIdentities().find((i) => i.serialNumber === serial)?.groupTag).toBe('MPS-STD');
  });

  it('a file row for a device the service desk deregistered is rejected, unless re-import was allowed', async () => {
    const [closed, open] = [await given('enrolled'), await given('enrolled')];
    expect((await post(closed, ask('deregister'))).status).toBe(202);
    expect((await post(open, ask('deregister', { allowReimport: true }))).status).toBe(202);
    await until(closed, 'deregistered');
    await until(open, 'deregistered');
    const before = await stack.runtime.devices.get(closed);

    expect((await supplierFile(closed, 'MPS-STD'))[0]).toContain('"rejected","deregistered-device"');
    expect((await stack.runtime.devices.get(closed))?.etag).toBe(before?.etag);
    expect((await supplierFile(open, 'MPS-STD'))[0]).toContain('"accepted"');
    expect((await stack.runtime.devices.get(open))?.value.state).toBe('received');
  });
});

describe('what reaches the log', () => {
  it('never the secrets, a signature, the body or who asked', async () => {
    const serial = await given('enrolled');
    const body = ask('fresh-start', { ticket: 'INC-LOGCHECK' });
    const raw = JSON.stringify(body);
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = Object.entries(signZtp(KEY_OLD, raw, timestamp)).find(([name]) => name.toLowerCase() === 'x-ztp-signature')![1];
    expect((await post(serial, body, { timestamp })).status).toBe(202);
    await post(serial, body, { key: Buffer.from('wrong-secret-wrong-secret') });
    await until(serial, 'enrolled', 90_000);
    const text = JSON.stringify(stack.logLines);
    for (const secret of [
      SECRET_OLD,
      SECRET_NEW,
      KEY_NEW.toString('base64'),
      signature,
      signature.slice('sha256='.length),
      REQUESTED_BY,
      raw,
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(stack.logLines.some((line) => line.event === 'reprovision.accepted' && line.ticket === 'INC-LOGCHECK')).toBe(true);
  });
});
