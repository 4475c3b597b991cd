import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reprovisionOptions } from '../../../functions/reprovision.js';
import { reprovisionDeviceOptions } from '../../../functions/reprovision-device.js';
import { DevHost } from '../../../local/dev-host/index.js';
import { startGraphSimulator, type GraphSimulator } from '../../../local/graph-simulator/index.js';
import { newDevice, transition } from '../../../shared/domain/device.js';
import { signZtp, webhookKeys } from '../../../shared/http/webhook-signature.js';
import { QUEUES } from '../../../shared/messages/index.js';
import { startTestStack, type TestStack } from '../../support/stack.js';

/**
 * A deployment with re-provisioning off (ZTP_REPROVISIONING_ENABLED=false, what infra sets with
 * enableReprovisioning false, when the identity holds no Intune managed-device permission):
 * through the dev host, a correctly signed request for an enrolled device is refused with 403
 * before anything is read, and nothing changes — the record, the queue, Graph.
 */

const TOKEN = 'reprovision-disabled-token';
const SECRET = 'disabled-secret-0123456789abcdef';
const [KEY] = webhookKeys(SECRET) as [Buffer];

let sim: GraphSimulator;
let stack: TestStack;
let host: DevHost;

beforeAll(async () => {
  sim = await startGraphSimulator({ token: TOKEN });
  stack = await startTestStack({
    GRAPH_BASE_URL: sim.baseUrl,
    GRAPH_STATIC_TOKEN: TOKEN,
    REPROVISION_WEBHOOK_SECRET: SECRET,
    ZTP_REPROVISIONING_ENABLED: 'false',
  });
  host = new DevHost({
    serviceBusConnectionString: stack.broker.connectionString,
    storageConnectionString: stack.storageConnectionString,
    log: stack.runtime.log,
  })
    .http('reprovisionDevice', reprovisionDeviceOptions)
    .serviceBusQueue('reprovision', reprovisionOptions);
  await host.start();
});

afterAll(async () => {
  await host?.stop();
  await stack?.stop();
  await sim?.stop();
});

async function enrolled(serial: string): Promise<void> {
  const now = new Date();
  const first = newDevice(
    { serialNumber: serial, supplierId: 'contoso', batchId: 'b-off', line: 2, groupTag: 'MPS-STD' },
    'received',
    'accepted-from-file',
    'given',
    now,
  );
  let saved = await stack.runtime.devices.create(first.record, first.event);
  for (const to of ['importing', 'registered', 'profile-assigned', 'enrolled'] as const) {
    const changes = to === 'enrolled' ? { managedDeviceId: 'md-1', autopilotId: 'ap-1', waitingFor: undefined } : {};
    const next = transition(saved.value, { to, reason: 'import-complete', correlationId: 'given', now, changes });
    saved = await stack.runtime.devices.save(next.record, saved, next.event);
  }
}

async function post(serial: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const raw = JSON.stringify(body);
  const response = await fetch(`${host.httpBaseUrl}/api/devices/${encodeURIComponent(serial)}/reprovision`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'idempotency-key': `off-${serial}`,
      ...signZtp(KEY, raw, Math.floor(Date.now() / 1000)),
    },
    body: raw,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('re-provisioning off', () => {
  it('refuses a signed request with 403 and changes nothing', async () => {
    await enrolled('OFF-1');
    const before = await stack.runtime.devices.withHistory('OFF-1');
    const answer = await post('OFF-1', { action: 'wipe', ticket: 'INC1', requestedBy: 'Robin' });
    expect(answer).toEqual({
      status: 403,
      body: { error: { code: 'reprovisioning-disabled', message: 'Re-provisioning is not enabled in this deployment.' } },
    });
    const after = await stack.runtime.devices.withHistory('OFF-1');
    expect(after?.record.value).toEqual(before?.record.value);
    expect(after?.history).toHaveLength(before!.history.length);
    expect(stack.broker.stats(QUEUES.reprovision)).toMatchObject({ active: 0, scheduled: 0, locked: 0 });
    expect(sim.requestLog()).toEqual([]);
    expect(stack.logLines.filter((line) => line.event === 'reprovision.refused').map((line) => line.code)).toEqual([
      'reprovisioning-disabled',
    ]);
  });

  it('says so before anything else, whatever the request', async () => {
    expect((await post('NO-SUCH-DEVICE', { action: 'wipe', ticket: 'INC2', requestedBy: 'Robin' })).status).toBe(403);
    expect((await post('OFF-1', { nonsense: true })).status).toBe(403);
  });
});
