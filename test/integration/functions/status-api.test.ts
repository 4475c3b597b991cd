import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBatchOptions } from '../../../functions/get-batch.js';
import { getDeviceOptions } from '../../../functions/get-device.js';
import { startGraphSimulator, type GraphSimulator } from '../../../local/graph-simulator/index.js';
import type { BatchRecord } from '../../../shared/domain/batch.js';
import { encodeHardwareHashBase64 } from '../../../shared/domain/hardware-hash.js';
import { newDevice, transition, type DeviceRecord } from '../../../shared/domain/device.js';
import type { DeviceState, TransitionReason } from '../../../shared/domain/lifecycle.js';
import { deviceStatus } from '../../../shared/services/status.js';
import { indexDevice } from '../../../shared/services/device-lifecycle.js';
import { startTestStack, type TestStack } from '../../support/stack.js';

/**
 * The status API's handlers as the Functions host calls them, against a real runtime on
 * Azurite, the Service Bus test broker and the Graph simulator.
 */

const TOKEN = 'status-api-token';
const UPN = 'jane.doe@contoso.example';
const BATCH_ID = '0123456789abcdef0123456789abcdef';
const OTHER_BATCH_ID = 'fedcba9876543210fedcba9876543210';
const now = new Date();

let sim: GraphSimulator;
let stack: TestStack;

async function call(
  options: { handler: unknown; route?: string },
  params: Record<string, string>,
): Promise<HttpResponseInit & { jsonBody: Record<string, unknown> }> {
  const path = Object.values(params).map(encodeURIComponent).join('/');
  const request = new HttpRequest({ method: 'GET', url: `http://localhost/api/${options.route?.split('/')[0] ?? ''}/${path}`, params });
  const handler = options.handler as (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
  const response = await handler(request, new InvocationContext());
  return response as HttpResponseInit & { jsonBody: Record<string, unknown> };
}

function hashFor(serialNumber: string): string {
  return encodeHardwareHashBase64({
    serialNumber,
    manufacturer: 'HP',
    model: 'HP EliteBook 840 G10',
    tpmVersion: '2.0',
    targetBytes: 1200,
  });
}

/** A device walked through real transitions and saved as the pipeline would. */
async function storeDevice(
  serialNumber: string,
  fields: { batchId: string; line: number; assignedUser?: string; reasons?: string[] },
  path: { to: DeviceState; reason: TransitionReason; changes?: Partial<DeviceRecord>; detail?: Record<string, unknown> }[] = [],
): Promise<void> {
  const rejected = fields.reasons !== undefined && path.length === 0;
  const first = newDevice(
    { serialNumber, supplierId: 'contoso', groupTag: 'MPS-STD', hardwareHash: hashFor(serialNumber), ...fields },
    rejected ? 'rejected' : 'received',
    rejected ? 'rejected-from-file' : 'accepted-from-file',
    `corr-${serialNumber}`,
    now,
    rejected ? { reasons: fields.reasons } : undefined,
  );
  let saved = await stack.runtime.devices.create(first.record, first.event);
  await indexDevice(stack.runtime.batchIndex, stack.runtime.log, first.record, first.event, undefined);
  for (const step of path) {
    const next = transition(saved.value, { ...step, correlationId: `corr-${serialNumber}`, now });
    saved = await stack.runtime.devices.save(next.record, saved, next.event);
    await indexDevice(stack.runtime.batchIndex, stack.runtime.log, next.record, next.event, undefined);
  }
}

function batchRecord(batchId: string): BatchRecord {
  return {
    batchId,
    supplierId: 'contoso',
    fileName: 'march.csv',
    blobName: 'contoso/march.csv',
    contentSha256: `${batchId}${'0'.repeat(32)}`,
    sizeBytes: 2048,
    status: 'complete',
    receivedAt: now.toISOString(),
    completedAt: now.toISOString(),
    format: 'intune',
    encoding: 'utf-8',
    fileRejection: undefined,
    counts: { rows: 4, accepted: 3, rejected: 1 },
    reportBlob: 'contoso/march.csv.result.csv',
    correlationId: 'corr-batch',
  };
}

beforeAll(async () => {
  sim = await startGraphSimulator({ token: TOKEN });
  stack = await startTestStack({ GRAPH_BASE_URL: sim.baseUrl, GRAPH_STATIC_TOKEN: TOKEN });
  await stack.runtime.batches.create(batchRecord(BATCH_ID));
  await storeDevice('API-DEV-1', { batchId: BATCH_ID, line: 2, assignedUser: UPN }, [
    {
      to: 'importing',
      reason: 'import-submitted',
      changes: { importId: 'ztp-42', waitingFor: 'import' },
      detail: { assignedUserPrincipalName: UPN },
    },
    {
      to: 'registered',
      reason: 'import-complete',
      changes: { autopilotId: 'ap-1', waitingFor: 'profile-assignment' },
      detail: { autopilotId: 'ap-1' },
    },
  ]);
  await storeDevice('API-DEV-2', { batchId: BATCH_ID, line: 3 });
  await storeDevice('API-DEV-3', { batchId: BATCH_ID, line: 4, reasons: ['invalid-product-key'] });
  await storeDevice('API-DEV-4', { batchId: BATCH_ID, line: 5 }, [
    { to: 'importing', reason: 'import-submitted' },
    {
      to: 'failed',
      reason: 'owned-by-other-tenant',
      changes: { reasons: ['owned-by-other-tenant'], note: 'registered in another tenant' },
    },
  ]);
  await storeDevice('API-OTHER', { batchId: OTHER_BATCH_ID, line: 2 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await sim?.stop();
});

/** GET /api/devices?serial=…: the form that carries any serial, one with a slash included. */
async function callByQuery(serial: string): Promise<HttpResponseInit & { jsonBody: Record<string, unknown> }> {
  const request = new HttpRequest({ method: 'GET', url: `http://localhost/api/devices?serial=${encodeURIComponent(serial)}`, params: {} });
  const handler = getDeviceOptions.handler as (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
  return (await handler(request, new InvocationContext())) as HttpResponseInit & { jsonBody: Record<string, unknown> };
}

describe('GET /api/devices/{serial}', () => {
  it('is registered with the host as a function-key GET route, the serial in the path or in ?serial=', () => {
    expect(getDeviceOptions).toMatchObject({ methods: ['GET'], route: 'devices/{serial?}', authLevel: 'function' });
  });

  it('finds a device by ?serial=, whatever the serial holds', async () => {
    const serial = 'API/DEV?5# %6';
    await storeDevice(serial, { batchId: OTHER_BATCH_ID, line: 7 });
    const response = await callByQuery(serial);
    expect(response.status).toBe(200);
    expect((response.jsonBody.device as DeviceRecord).serialNumber).toBe(serial);
    expect((await callByQuery('api-dev-2')).status).toBe(200);
    expect((await callByQuery('NOT-A-DEVICE')).status).toBe(404);
    expect((await callByQuery('')).jsonBody).toEqual({
      error: { code: 'invalid-serial', message: expect.stringMatching(/^The serial number /) },
    });
  });

  it('shows a history that ends where the record is, even when a transition lands between two reads', async () => {
    await storeDevice('API-RACE', { batchId: OTHER_BATCH_ID, line: 8 }, [{ to: 'importing', reason: 'import-submitted' }]);
    const repo = stack.runtime.devices;
    let moved = false;
    // The first read of the device is followed at once by a transition written by someone else.
    const moveOn = async (): Promise<void> => {
      if (moved) return;
      moved = true;
      const seen = await repo.get('API-RACE');
      const next = transition(seen!.value, { to: 'registered', reason: 'import-complete', correlationId: 'elsewhere', now });
      await repo.save(next.record, seen!, next.event);
    };
    const racing = {
      get: async (serial: string) => {
        const read = await repo.get(serial);
        await moveOn();
        return read;
      },
      history: (serial: string) => repo.history(serial),
      withHistory: async (serial: string) => {
        const read = await repo.withHistory(serial);
        await moveOn();
        return read;
      },
    };

    const status = await deviceStatus({ devices: racing }, 'API-RACE');

    expect(moved).toBe(true);
    expect(status?.history.at(-1)?.to).toBe(status?.device.state);
    expect(status?.history).toHaveLength(status!.device.eventCount);
  });

  it('answers the record and the full history, without the hash or the UPN', async () => {
    const response = await call(getDeviceOptions, { serial: 'API-DEV-1' });
    expect(response.status).toBe(200);
    const body = response.jsonBody as {
      device: Record<string, unknown>;
      history: { to: string; reason: string; detail?: Record<string, unknown> }[];
    };
    expect(body.device).toMatchObject({
      serialNumber: 'API-DEV-1',
      state: 'registered',
      autopilotId: 'ap-1',
      batchId: BATCH_ID,
      owner: 'contoso',
      userAssigned: true,
      waitingFor: 'profile-assignment',
    });
    expect(body.device).not.toHaveProperty('ownerId');
    expect(body.device).not.toHaveProperty('hardwareHash');
    expect(body.device).not.toHaveProperty('assignedUser');
    expect(body.history.map((event) => event.to)).toEqual(['received', 'importing', 'registered']);
    expect(body.history[1]?.detail).toEqual({});
    const text = JSON.stringify(response.jsonBody);
    expect(text).not.toContain(UPN);
    expect(text).not.toContain(hashFor('API-DEV-1').slice(0, 40));
  });

  it('finds a serial the way Autopilot compares them: trimmed, any case', async () => {
    const response = await call(getDeviceOptions, { serial: ' api-dev-2 ' });
    expect(response.status).toBe(200);
    expect((response.jsonBody.device as DeviceRecord).serialNumber).toBe('API-DEV-2');
    expect((response.jsonBody.device as { userAssigned: boolean }).userAssigned).toBe(false);
  });

  it('answers 404 with an error code for an unknown serial', async () => {
    const response = await call(getDeviceOptions, { serial: 'NOT-A-DEVICE' });
    expect(response.status).toBe(404);
    expect(response.jsonBody).toEqual({ error: { code: 'device-not-found', message: expect.any(String) } });
  });

  it.each([
    ['empty', ''],
    ['blank', '   '],
    ['too long', 'X'.repeat(129)],
    ['with a control character', 'ABC\u0007DEF'],
  ])('answers 400 for a serial that is %s', async (_what, serial) => {
    const response = await call(getDeviceOptions, { serial });
    expect(response.status).toBe(400);
    expect(response.jsonBody).toEqual({ error: { code: 'invalid-serial', message: expect.stringMatching(/^The serial number /) } });
  });
});

describe('GET /api/batches/{batchId}', () => {
  it('is registered with the host as a function-key GET route', () => {
    expect(getBatchOptions).toMatchObject({ methods: ['GET'], route: 'batches/{batchId}', authLevel: 'function' });
  });

  it('answers the batch, its devices per current state and the rejects with their reasons', async () => {
    const response = await call(getBatchOptions, { batchId: BATCH_ID });
    expect(response.status).toBe(200);
    const body = response.jsonBody;
    expect(body.batch).toMatchObject({
      batchId: BATCH_ID,
      supplierId: 'contoso',
      fileName: 'march.csv',
      status: 'complete',
      counts: { rows: 4, accepted: 3, rejected: 1 },
    });
    expect(body.devices).toEqual({ total: 4, byState: { registered: 1, received: 1, rejected: 1, failed: 1 } });
    expect(body.rejects).toEqual([
      { serialNumber: 'API-DEV-3', line: 4, state: 'rejected', reasons: ['invalid-product-key'], note: undefined },
      { serialNumber: 'API-DEV-4', line: 5, state: 'failed', reasons: ['owned-by-other-tenant'], note: 'registered in another tenant' },
    ]);
    const text = JSON.stringify(body);
    expect(text).not.toContain('API-OTHER');
    expect(text).not.toContain(UPN);
  });

  it('accepts the id in capitals', async () => {
    expect((await call(getBatchOptions, { batchId: BATCH_ID.toUpperCase() })).status).toBe(200);
  });

  it('answers 404 for an unknown batch', async () => {
    const response = await call(getBatchOptions, { batchId: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' });
    expect(response.status).toBe(404);
    expect(response.jsonBody).toEqual({ error: { code: 'batch-not-found', message: expect.any(String) } });
  });

  it.each(['', 'not-a-batch', BATCH_ID.slice(1), `${BATCH_ID}0`, 'g'.repeat(32)])('answers 400 for the id "%s"', async (batchId) => {
    const response = await call(getBatchOptions, { batchId });
    expect(response.status).toBe(400);
    expect(response.jsonBody).toEqual({ error: { code: 'invalid-batch-id', message: 'The batch id must be 32 hexadecimal digits.' } });
  });
});
