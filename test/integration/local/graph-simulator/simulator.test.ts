import https from 'node:https';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  makeTestHardwareHash,
  startGraphSimulator,
  type GraphSimulator,
  type GraphSimulatorOptions,
} from '../../../../local/graph-simulator/index.js';

/**
 * Pins the simulator's behaviour over raw HTTP, so a later change cannot quietly make it
 * friendlier than Graph. Time is moved with clock.advance (timeScale 1), so nothing waits.
 */

const TOKEN = 'sim-test-token';
const MINUTE = 60;

async function simulator(options: Partial<GraphSimulatorOptions> = {}): Promise<GraphSimulator> {
  const sim = await startGraphSimulator({
    token: TOKEN,
    clock: { timeScale: 1 },
    profileRules: [
      { groupTag: 'KIOSK', profileName: 'Kiosk' },
      { groupTag: '/^STD-/', profileName: 'Standard' },
    ],
    ...options,
  });
  onTestFinished(() => sim.stop());
  return sim;
}

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & {
    value?: Record<string, unknown>[];
    error?: { code: string; message: string; innerError: Record<string, unknown> };
  };
}

async function call(sim: GraphSimulator, method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${sim.baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Reply['body']) : {} };
}

const device = (serialNumber: string, groupTag = 'KIOSK'): Record<string, unknown> => ({
  serialNumber,
  hardwareIdentifier: makeTestHardwareHash({ serialNumber }),
  groupTag,
  productKey: '',
  state: { deviceImportStatus: 'pending', deviceRegistrationId: '', deviceErrorCode: 0, deviceErrorName: '' },
});

async function importDevices(sim: GraphSimulator, devices: Record<string, unknown>[]): Promise<Record<string, unknown>[]> {
  const reply = await call(sim, 'POST', '/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities/import', {
    importedWindowsAutopilotDeviceIdentities: devices,
  });
  expect(reply.status).toBe(200);
  return reply.body.value ?? [];
}

async function importState(sim: GraphSimulator, id: string): Promise<Record<string, unknown>> {
  const reply = await call(sim, 'GET', `/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities/${id}`);
  expect(reply.status).toBe(200);
  return reply.body.state as Record<string, unknown>;
}

async function identityBeta(sim: GraphSimulator, id: string): Promise<Record<string, unknown>> {
  const reply = await call(sim, 'GET', `/beta/deviceManagement/windowsAutopilotDeviceIdentities/${id}`);
  expect(reply.status).toBe(200);
  return reply.body;
}

/** Imports one device and waits (in simulated time) until it is registered. */
async function registered(sim: GraphSimulator, serial: string, groupTag = 'KIOSK'): Promise<string> {
  const [record] = await importDevices(sim, [device(serial, groupTag)]);
  sim.clock.advance(121);
  const state = await importState(sim, String(record?.id));
  expect(state.deviceImportStatus).toBe('complete');
  return String(state.deviceRegistrationId);
}

describe('authentication and error shape', () => {
  it('answers 401 with Graph error body without a valid bearer token', async () => {
    const sim = await simulator();
    const missing = await call(sim, 'GET', '/v1.0/deviceManagement/windowsAutopilotDeviceIdentities', undefined, null);
    expect(missing.status).toBe(401);
    expect(missing.body.error?.code).toBe('InvalidAuthenticationToken');
    expect(missing.body.error?.innerError['request-id']).toEqual(expect.any(String));
    expect((await call(sim, 'GET', '/v1.0/deviceManagement/windowsAutopilotDeviceIdentities', undefined, 'wrong')).status).toBe(401);
  });

  it('answers unknown segments with 400, unknown ids with 404, unknown versions with 400', async () => {
    const sim = await simulator();
    expect((await call(sim, 'GET', '/v1.0/deviceManagement/autopilotThings')).status).toBe(400);
    const missing = await call(sim, 'GET', '/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/00000000-0000-0000-0000-000000000001');
    expect(missing.status).toBe(404);
    expect(missing.body.error?.code).toBe('ResourceNotFound');
    expect((await call(sim, 'GET', '/v2.0/deviceManagement/managedDevices')).status).toBe(400);
  });
});

describe('importedWindowsAutopilotDeviceIdentities', () => {
  it('finishes imports in the background after 60–120 simulated seconds, creating an identity whose id is deviceRegistrationId', async () => {
    const sim = await simulator();
    const [record] = await importDevices(sim, [device('IMP-1')]);
    expect(record?.id).toEqual(expect.any(String));
    expect(await importState(sim, String(record?.id))).toMatchObject({ deviceImportStatus: 'unknown', deviceRegistrationId: '' });
    sim.clock.advance(59);
    expect(['unknown', 'pending']).toContain((await importState(sim, String(record?.id))).deviceImportStatus);
    expect(sim.autopilotIdentities()).toHaveLength(0);
    sim.clock.advance(62);
    const state = await importState(sim, String(record?.id));
    expect(state).toMatchObject({ deviceImportStatus: 'complete', deviceErrorCode: 0 });
    const identity = await identityBeta(sim, String(state.deviceRegistrationId));
    expect(identity).toMatchObject({ serialNumber: 'IMP-1', groupTag: 'KIOSK', enrollmentState: 'notContacted' });
  });

  it('reports 806, 808, 802, 803 and ZtdDeviceDuplicated as import errors', async () => {
    const sim = await simulator({ otherTenantSerials: ['THEIRS-1'] });
    await registered(sim, 'MINE-1');
    const dupe = device('DUP-1');
    const records = await importDevices(sim, [
      device('MINE-1'),
      device('THEIRS-1'),
      { ...device('BAD-HASH'), hardwareIdentifier: Buffer.from('not a hash').toString('base64') },
      { ...device(''), serialNumber: '', productKey: '' },
      dupe,
      { ...dupe },
    ]);
    sim.clock.advance(121);
    const states = await Promise.all(records.map((r) => importState(sim, String(r.id))));
    expect(states.map((s) => [s.deviceImportStatus, s.deviceErrorCode, s.deviceErrorName])).toEqual([
      ['error', 806, 'ZtdDeviceAlreadyAssigned'],
      ['error', 808, 'ZtdDeviceAssignedToOtherTenant'],
      ['error', 802, 'InvalidZtdHardwareHash'],
      ['error', 803, 'MissingZtdSerialNumberAndProductKey'],
      ['complete', 0, ''],
      ['error', 0, 'ZtdDeviceDuplicated'],
    ]);
  });

  it('supports single create (201), list, get and delete of imported records', async () => {
    const sim = await simulator();
    const created = await call(sim, 'POST', '/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities', device('ONE-1'));
    expect(created.status).toBe(201);
    const id = String(created.body.id);
    const list = await call(sim, 'GET', '/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities');
    expect(list.body['@odata.context']).toContain('$metadata#deviceManagement/importedWindowsAutopilotDeviceIdentities');
    expect(list.body.value?.map((r) => r.id)).toEqual([id]);
    expect((await call(sim, 'DELETE', `/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities/${id}`)).status).toBe(204);
    expect((await call(sim, 'DELETE', `/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities/${id}`)).status).toBe(404);
  });

  it('rejects a malformed import body with 400', async () => {
    const sim = await simulator({ maxImportBatchSize: 2 });
    expect(
      (await call(sim, 'POST', '/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities/import', { devices: [] })).status,
    ).toBe(400);
    const tooMany = { importedWindowsAutopilotDeviceIdentities: [device('A'), device('B'), device('C')] };
    expect((await call(sim, 'POST', '/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities/import', tooMany)).status).toBe(400);
  });

  it('refuses a whole import request for one row it cannot read, importing none of it (rule 25)', async () => {
    const sim = await simulator({ refuseImportRowsWhere: (row) => row.serialNumber === 'BAD-2' });
    const path = '/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities/import';
    const refused = await call(sim, 'POST', path, {
      importedWindowsAutopilotDeviceIdentities: [device('OK-1'), device('BAD-2'), device('OK-3')],
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'BadRequest', message: expect.stringContaining('InvalidZtdRequestBody (801)') });
    expect(sim.importedRecords()).toEqual([]);
    // The same rows without the one it cannot read go through.
    const taken = await call(sim, 'POST', path, { importedWindowsAutopilotDeviceIdentities: [device('OK-1'), device('OK-3')] });
    expect(taken.status).toBe(200);
    expect(taken.body.value?.map((record) => record.serialNumber)).toEqual(['OK-1', 'OK-3']);
    // Alone, it is refused again.
    expect((await call(sim, 'POST', path, { importedWindowsAutopilotDeviceIdentities: [device('BAD-2')] })).status).toBe(400);
    expect(sim.importedRecords().map((record) => record.serialNumber)).toEqual(['OK-1', 'OK-3']);
  });
});

describe('windowsAutopilotDeviceIdentities', () => {
  it('answers 400 to serialNumber eq, like the real service, and matches contains as a case-insensitive substring', async () => {
    const sim = await simulator();
    for (const serial of ['ABC1', 'ABC12', 'XABC1', 'OTHER']) sim.addAutopilotIdentity({ serialNumber: serial });
    const eq = await call(
      sim,
      'GET',
      `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities?$filter=${encodeURIComponent("serialNumber eq 'ABC1'")}`,
    );
    expect(eq.status).toBe(400);
    expect(eq.body.error?.code).toBe('BadRequest');
    const contains = await call(
      sim,
      'GET',
      `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities?$filter=${encodeURIComponent("contains(serialNumber,'abc1')")}`,
    );
    expect(contains.status).toBe(200);
    expect(contains.body.value?.map((i) => i.serialNumber).sort()).toEqual(['ABC1', 'ABC12', 'XABC1']);
  });

  it('silently finds nothing with contains for serials holding hyphens or spaces', async () => {
    const sim = await simulator();
    sim.addAutopilotIdentity({ serialNumber: 'PF-3X 99' });
    const reply = await call(
      sim,
      'GET',
      `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities?$filter=${encodeURIComponent("contains(serialNumber,'PF-3X 99')")}`,
    );
    expect(reply.status).toBe(200);
    expect(reply.body.value).toEqual([]);
  });

  it('pages with $top and @odata.nextLink, and rejects unsupported query options', async () => {
    const sim = await simulator();
    for (let i = 0; i < 7; i++) sim.addAutopilotIdentity({ serialNumber: `PAGE${i}` });
    const seen: unknown[] = [];
    let next: string | undefined = '/v1.0/deviceManagement/windowsAutopilotDeviceIdentities?$top=3';
    let pages = 0;
    while (next) {
      const reply = await call(sim, 'GET', next);
      expect(reply.status).toBe(200);
      seen.push(...(reply.body.value ?? []).map((i) => i.serialNumber));
      const link = reply.body['@odata.nextLink'] as string | undefined;
      if (link) expect(link.startsWith(`${sim.baseUrl}/v1.0/deviceManagement/windowsAutopilotDeviceIdentities?`)).toBe(true);
      next = link?.slice(sim.baseUrl.length);
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(['PAGE0', 'PAGE1', 'PAGE2', 'PAGE3', 'PAGE4', 'PAGE5', 'PAGE6']);
    expect((await call(sim, 'GET', '/v1.0/deviceManagement/windowsAutopilotDeviceIdentities?$orderby=serialNumber')).status).toBe(400);
    expect((await call(sim, 'GET', '/v1.0/deviceManagement/windowsAutopilotDeviceIdentities?$top=abc')).status).toBe(400);
  });

  it('answers 500 InternalServerError to $select on the collection, v1.0 and beta, with or without $filter; an entity GET by id is unaffected', async () => {
    const sim = await simulator();
    const { id } = sim.addAutopilotIdentity({ serialNumber: 'SEL1' });
    const contains = encodeURIComponent("contains(serialNumber,'SEL1')");
    for (const path of [
      '/v1.0/deviceManagement/windowsAutopilotDeviceIdentities?$select=serialNumber',
      '/beta/deviceManagement/windowsAutopilotDeviceIdentities?$select=id,serialNumber,groupTag',
      `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities?$filter=${contains}&$select=serialNumber`,
      `/beta/deviceManagement/windowsAutopilotDeviceIdentities?$top=5&$filter=${contains}&$select=groupTag`,
    ]) {
      const reply = await call(sim, 'GET', path);
      expect(reply.status, path).toBe(500);
      expect(reply.body.error?.code).toBe('InternalServerError');
      expect(reply.body.error?.innerError).toMatchObject({ 'request-id': expect.any(String), date: expect.any(String) });
      expect(reply.headers.get('request-id')).toBe(reply.body.error?.innerError['request-id']);
    }
    expect((await call(sim, 'GET', `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities?$filter=${contains}`)).status).toBe(200);
    const single = await call(sim, 'GET', `/beta/deviceManagement/windowsAutopilotDeviceIdentities/${id}?$select=serialNumber`);
    expect(single.status).toBe(200);
    expect(single.body.serialNumber).toBe('SEL1');
    expect((await call(sim, 'GET', '/v1.0/deviceManagement/managedDevices?$select=id,serialNumber')).status).toBe(200);
    expect((await call(sim, 'GET', '/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities?$select=id')).status).toBe(200);
    expect(sim.stats().injected5xx).toBe(0);
  });

  it('projects $select on the collection when autopilotSelectFails is off', async () => {
    const sim = await simulator({ autopilotSelectFails: false });
    sim.addAutopilotIdentity({ serialNumber: 'SEL2', groupTag: 'KIOSK' });
    const reply = await call(sim, 'GET', '/beta/deviceManagement/windowsAutopilotDeviceIdentities?$select=serialNumber,groupTag');
    expect(reply.status).toBe(200);
    expect(reply.body.value).toEqual([
      { '@odata.type': '#microsoft.graph.windowsAutopilotDeviceIdentity', serialNumber: 'SEL2', groupTag: 'KIOSK' },
    ]);
  });

  it('refuses updateDeviceProperties with 412 ConditionNotMet on every try for the identities it is told to, changing nothing (rule 26)', async () => {
    const sim = await simulator({ refuseDevicePropertiesWhere: (identity) => identity.serialNumber === 'REFUSED-1' });
    const refused = sim.addAutopilotIdentity({ serialNumber: 'REFUSED-1', groupTag: 'KIOSK' });
    const other = sim.addAutopilotIdentity({ serialNumber: 'TAKEN-1', groupTag: 'KIOSK' });
    const update = (id: string, version = 'v1.0') =>
      call(sim, 'POST', `/${version}/deviceManagement/windowsAutopilotDeviceIdentities/${id}/updateDeviceProperties`, {
        groupTag: 'STD-A',
      });
    for (const version of ['v1.0', 'beta', 'v1.0']) {
      const reply = await update(refused.id, version);
      expect(reply.status, version).toBe(412);
      expect(reply.body.error).toMatchObject({ code: 'ConditionNotMet', innerError: { 'request-id': expect.any(String) } });
    }
    expect((await identityBeta(sim, refused.id)).groupTag).toBe('KIOSK');
    expect((await update(other.id)).status).toBe(204);
    expect((await identityBeta(sim, other.id)).groupTag).toBe('STD-A');
    // An unknown identity is still not found.
    expect((await update('00000000-0000-4000-8000-000000000999')).status).toBe(404);
  });

  it('shows deploymentProfileAssignmentStatus on beta only', async () => {
    const sim = await simulator();
    const { id } = sim.addAutopilotIdentity({ serialNumber: 'BETA-1' });
    const v1 = await call(sim, 'GET', `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/${id}`);
    expect(v1.body).not.toHaveProperty('deploymentProfileAssignmentStatus');
    expect(v1.body.managedDeviceId).toBe('00000000-0000-0000-0000-000000000000');
    expect(await identityBeta(sim, id)).toHaveProperty('deploymentProfileAssignmentStatus', 'notAssigned');
  });

  it('assigns the profile about 15 simulated minutes after the tag matches a rule: notAssigned -> pending -> assignedInSync', async () => {
    const sim = await simulator();
    const id = await registered(sim, 'PROF-1', 'STD-A');
    expect((await identityBeta(sim, id)).deploymentProfileAssignmentStatus).toBe('notAssigned');
    sim.clock.advance(6 * MINUTE);
    expect((await identityBeta(sim, id)).deploymentProfileAssignmentStatus).toBe('pending');
    sim.clock.advance(11 * MINUTE);
    const assigned = await identityBeta(sim, id);
    expect(assigned.deploymentProfileAssignmentStatus).toBe('assignedInSync');
    expect(assigned.deploymentProfileAssignedDateTime).not.toBe('0001-01-01T00:00:00Z');
  });

  it('never assigns a profile when no rule matches the tag, and does after a re-tag', async () => {
    const sim = await simulator({ devicesBoot: false });
    const id = await registered(sim, 'RETAG-1', 'NO-RULE');
    sim.clock.advance(3 * 60 * MINUTE);
    expect((await identityBeta(sim, id)).deploymentProfileAssignmentStatus).toBe('notAssigned');
    const update = await call(sim, 'POST', `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/${id}/updateDeviceProperties`, {
      groupTag: 'KIOSK',
    });
    expect(update.status).toBe(204);
    expect((await identityBeta(sim, id)).groupTag).toBe('KIOSK');
    expect((await identityBeta(sim, id)).deploymentProfileAssignmentStatus).toBe('notAssigned');
    sim.clock.advance(20 * MINUTE);
    expect((await identityBeta(sim, id)).deploymentProfileAssignmentStatus).toBe('assignedInSync');
    await call(sim, 'POST', `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/${id}/updateDeviceProperties`, { groupTag: 'STD-B' });
    sim.clock.advance(6 * MINUTE);
    expect((await identityBeta(sim, id)).deploymentProfileAssignmentStatus).toBe('assignedOutOfSync');
    sim.clock.advance(11 * MINUTE);
    expect((await identityBeta(sim, id)).deploymentProfileAssignmentStatus).toBe('assignedInSync');
  });

  it('keeps a blocked device unassigned for good', async () => {
    const sim = await simulator();
    sim.blockProfileAssignment('STUCK-1');
    const id = await registered(sim, 'STUCK-1');
    sim.clock.advance(48 * 60 * MINUTE);
    expect(await identityBeta(sim, id)).toMatchObject({
      deploymentProfileAssignmentStatus: 'notAssigned',
      enrollmentState: 'notContacted',
    });
  });
});

describe('enrolment and managed devices', () => {
  it('enrols a configurable time after assignment; managedDevices answers serialNumber eq but not contains', async () => {
    const sim = await simulator({ latencies: { enrolmentSeconds: 30 * MINUTE } });
    const id = await registered(sim, 'ENR-1');
    sim.clock.advance(17 * MINUTE);
    expect((await identityBeta(sim, id)).enrollmentState).toBe('notContacted');
    sim.clock.advance(31 * MINUTE);
    const identity = await identityBeta(sim, id);
    expect(identity.enrollmentState).toBe('enrolled');
    const found = await call(sim, 'GET', `/v1.0/deviceManagement/managedDevices?$filter=${encodeURIComponent("serialNumber eq 'ENR-1'")}`);
    expect(found.status).toBe(200);
    expect(found.body.value?.map((d) => d.id)).toEqual([identity.managedDeviceId]);
    expect(
      (await call(sim, 'GET', `/v1.0/deviceManagement/managedDevices?$filter=${encodeURIComponent("contains(serialNumber,'ENR')")}`))
        .status,
    ).toBe(400);
  });

  it('never enrols devices that do not boot', async () => {
    const sim = await simulator({ devicesBoot: false });
    const id = await registered(sim, 'NOBOOT-1');
    sim.clock.advance(10 * 60 * MINUTE);
    expect(await identityBeta(sim, id)).toMatchObject({
      deploymentProfileAssignmentStatus: 'assignedInSync',
      enrollmentState: 'notContacted',
    });
    expect(sim.managedDevices()).toHaveLength(0);
  });

  it('refuses to delete an enrolled identity until its managed device is deleted', async () => {
    const sim = await simulator();
    const id = await registered(sim, 'DEL-1');
    sim.clock.advance(60 * MINUTE);
    const { managedDeviceId } = await identityBeta(sim, id);
    const refused = await call(sim, 'DELETE', `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/${id}`);
    expect(refused.status).toBe(400);
    expect((await call(sim, 'DELETE', `/v1.0/deviceManagement/managedDevices/${String(managedDeviceId)}`)).status).toBe(204);
    expect((await call(sim, 'DELETE', `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/${id}`)).status).toBe(204);
    expect((await call(sim, 'GET', `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/${id}`)).status).toBe(404);
  });

  it('wipe removes the managed device once the device checks in; it re-enrols later as a new one', async () => {
    const sim = await simulator();
    const id = await registered(sim, 'WIPE-1');
    sim.clock.advance(60 * MINUTE);
    const before = String((await identityBeta(sim, id)).managedDeviceId);
    const wipe = await call(sim, 'POST', `/v1.0/deviceManagement/managedDevices/${before}/wipe`, {
      keepEnrollmentData: false,
      keepUserData: false,
    });
    expect(wipe.status).toBe(204);
    const pending = await call(sim, 'GET', `/beta/deviceManagement/managedDevices/${before}`);
    expect(pending.body.managementState).toBe('wipePending');
    expect(pending.body.deviceActionResults).toEqual([expect.objectContaining({ actionName: 'wipe', actionState: 'pending' })]);
    sim.clock.advance(6 * MINUTE);
    expect((await call(sim, 'GET', `/v1.0/deviceManagement/managedDevices/${before}`)).status).toBe(404);
    expect((await identityBeta(sim, id)).enrollmentState).toBe('notContacted');
    sim.clock.advance(31 * MINUTE);
    const after = await identityBeta(sim, id);
    expect(after.enrollmentState).toBe('enrolled');
    expect(after.managedDeviceId).not.toBe(before);
  });

  it('wipe keeping enrolment data keeps the Intune record; retire removes it for good; Fresh Start keeps the device enrolled', async () => {
    const sim = await simulator();
    const keepId = await registered(sim, 'KEEP-1');
    const retireId = await registered(sim, 'RET-1');
    const cleanId = await registered(sim, 'CLEAN-1');
    sim.clock.advance(60 * MINUTE);
    const deviceOf = async (id: string): Promise<string> => String((await identityBeta(sim, id)).managedDeviceId);
    const [keep, retire, clean] = [await deviceOf(keepId), await deviceOf(retireId), await deviceOf(cleanId)];
    expect(
      (await call(sim, 'POST', `/v1.0/deviceManagement/managedDevices/${keep}/wipe`, { keepEnrollmentData: true, keepUserData: false }))
        .status,
    ).toBe(204);
    expect((await call(sim, 'POST', `/v1.0/deviceManagement/managedDevices/${retire}/retire`)).status).toBe(204);
    expect(
      (await call(sim, 'POST', `/v1.0/deviceManagement/managedDevices/${clean}/cleanWindowsDevice`, { keepUserData: true })).status,
    ).toBe(204);
    sim.clock.advance(4 * 60 * MINUTE);
    expect(await identityBeta(sim, keepId)).toMatchObject({ enrollmentState: 'enrolled', managedDeviceId: keep });
    expect(await identityBeta(sim, retireId)).toMatchObject({
      enrollmentState: 'notContacted',
      managedDeviceId: '00000000-0000-0000-0000-000000000000',
    });
    expect(await identityBeta(sim, cleanId)).toMatchObject({ enrollmentState: 'enrolled', managedDeviceId: clean });
    const protectedWipe = await call(sim, 'POST', `/v1.0/deviceManagement/managedDevices/${keep}/wipe`, {
      keepEnrollmentData: false,
      keepUserData: false,
      useProtectedWipe: true,
    });
    expect(protectedWipe.status).toBe(400);
  });
});

describe('remote actions and deregistration (service-desk re-provisioning)', () => {
  const ZERO_GUID = '00000000-0000-0000-0000-000000000000';
  const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
  const latencies = { remoteActionSeconds: 5 * MINUTE, reEnrolmentSeconds: 30 * MINUTE, enrolmentSeconds: 30 * MINUTE };

  /** Real time frozen: only clock.advance moves the simulated clock, so times can be compared exactly. */
  const frozen = (options: Partial<GraphSimulatorOptions> = {}): Promise<GraphSimulator> =>
    simulator({ clock: { timeScale: 1, realNow: () => 0 }, latencies, ...options });

  /** Imports several devices and waits until each has enrolled: Autopilot identity id and managed device id. */
  async function enrolled(sim: GraphSimulator, ...serials: string[]): Promise<{ identityId: string; managedId: string }[]> {
    const identityIds: string[] = [];
    for (const serial of serials) identityIds.push(await registered(sim, serial));
    sim.clock.advance(60 * MINUTE);
    const devices: { identityId: string; managedId: string }[] = [];
    for (const identityId of identityIds) {
      const identity = await identityBeta(sim, identityId);
      expect(identity).toMatchObject({ enrollmentState: 'enrolled', deploymentProfileAssignmentStatus: 'assignedInSync' });
      devices.push({ identityId, managedId: String(identity.managedDeviceId) });
    }
    return devices;
  }

  const managed = (sim: GraphSimulator, id: string, version = 'v1.0'): Promise<Reply> =>
    call(sim, 'GET', `/${version}/deviceManagement/managedDevices/${id}`);
  const bySerial = async (sim: GraphSimulator, serial: string): Promise<Record<string, unknown>[]> => {
    const reply = await call(
      sim,
      'GET',
      `/v1.0/deviceManagement/managedDevices?$filter=${encodeURIComponent(`serialNumber eq '${serial}'`)}`,
    );
    expect(reply.status).toBe(200);
    return reply.body.value ?? [];
  };
  const action = (sim: GraphSimulator, id: string, name: string, body?: unknown): Promise<Reply> =>
    call(sim, 'POST', `/v1.0/deviceManagement/managedDevices/${id}/${name}`, body);
  const autopilotReset = { keepEnrollmentData: true, keepUserData: false };
  const plainWipe = { keepEnrollmentData: false, keepUserData: false };

  it('answers every remote action with 204 and a pending deviceActionResults entry (entity and serialNumber eq listing) that is done at the next check-in', async () => {
    const sim = await frozen();
    const [reset, wipe, fresh, retire] = await enrolled(sim, 'ACT-RESET', 'ACT-WIPE', 'ACT-FRESH', 'ACT-RETIRE');
    const issuedAt = new Date(sim.clock.now()).toISOString();
    const sent: [string, string, string, unknown][] = [
      ['ACT-RESET', reset!.managedId, 'wipe', autopilotReset],
      ['ACT-WIPE', wipe!.managedId, 'wipe', plainWipe],
      ['ACT-FRESH', fresh!.managedId, 'cleanWindowsDevice', { keepUserData: false }],
      ['ACT-RETIRE', retire!.managedId, 'retire', undefined],
    ];
    for (const [, id, name, body] of sent) {
      const reply = await action(sim, id, name, body);
      expect(reply.status, name).toBe(204);
      expect(reply.body).toEqual({});
    }
    const pending = (name: string): unknown => [
      { actionName: name, actionState: 'pending', startDateTime: issuedAt, lastUpdatedDateTime: issuedAt },
    ];
    sim.clock.advance(5 * MINUTE - 1);
    for (const [serial, id, name] of sent) {
      const entity = await managed(sim, id);
      expect(entity.status).toBe(200);
      expect(entity.body.deviceActionResults).toEqual(pending(name));
      const [listed, ...others] = await bySerial(sim, serial);
      expect(others).toEqual([]);
      expect(listed?.deviceActionResults).toEqual(pending(name));
    }
    sim.clock.advance(1);
    const doneAt = new Date(sim.clock.now()).toISOString();
    expect([issuedAt, doneAt].every((text) => ISO.test(text))).toBe(true);
    expect(Date.parse(doneAt) - Date.parse(issuedAt)).toBe(5 * MINUTE * 1000);
    const done = (name: string): unknown => [
      { actionName: name, actionState: 'done', startDateTime: issuedAt, lastUpdatedDateTime: doneAt },
    ];
    for (const [serial, id, name] of [sent[0]!, sent[2]!]) {
      expect((await managed(sim, id)).body.deviceActionResults).toEqual(done(name));
      expect((await bySerial(sim, serial))[0]?.deviceActionResults).toEqual(done(name));
    }
    // Wipe and retire take the managed device away when they are done.
    for (const [serial, id] of [sent[1]!, sent[3]!]) {
      expect((await managed(sim, id)).status).toBe(404);
      expect(await bySerial(sim, serial)).toEqual([]);
    }
  });

  it('Autopilot Reset keeps the same managed device: its wipe entry is done, the identity stays enrolled with the same managedDeviceId', async () => {
    const sim = await frozen();
    const [{ identityId, managedId }] = (await enrolled(sim, 'RESET-1')) as [{ identityId: string; managedId: string }];
    expect((await action(sim, managedId, 'wipe', autopilotReset)).status).toBe(204);
    expect((await managed(sim, managedId, 'beta')).body.managementState).toBe('wipePending');
    sim.clock.advance(5 * MINUTE);
    const afterReset = await managed(sim, managedId);
    expect(afterReset.status).toBe(200);
    expect(afterReset.body.deviceActionResults).toEqual([expect.objectContaining({ actionName: 'wipe', actionState: 'done' })]);
    expect(await identityBeta(sim, identityId)).toMatchObject({ enrollmentState: 'enrolled', managedDeviceId: managedId });
    sim.clock.advance(30 * MINUTE);
    expect((await managed(sim, managedId, 'beta')).body.managementState).toBe('managed');
    expect(await identityBeta(sim, identityId)).toMatchObject({ enrollmentState: 'enrolled', managedDeviceId: managedId });
    expect((await bySerial(sim, 'RESET-1')).map((d) => d.id)).toEqual([managedId]);
  });

  it('a plain wipe removes the managed device when done; the device re-enrols reEnrolmentSeconds later as a new managed device', async () => {
    const sim = await frozen();
    const [{ identityId, managedId }] = (await enrolled(sim, 'PLAIN-1')) as [{ identityId: string; managedId: string }];
    expect((await action(sim, managedId, 'wipe', plainWipe)).status).toBe(204);
    sim.clock.advance(5 * MINUTE);
    const gone = await managed(sim, managedId);
    expect(gone.status).toBe(404);
    expect(gone.body.error?.code).toBe('ResourceNotFound');
    expect(await identityBeta(sim, identityId)).toMatchObject({
      enrollmentState: 'notContacted',
      managedDeviceId: ZERO_GUID,
      deploymentProfileAssignmentStatus: 'assignedInSync',
    });
    expect(await bySerial(sim, 'PLAIN-1')).toEqual([]);
    sim.clock.advance(30 * MINUTE - 1);
    expect((await identityBeta(sim, identityId)).enrollmentState).toBe('notContacted');
    sim.clock.advance(1);
    const after = await identityBeta(sim, identityId);
    expect(after.enrollmentState).toBe('enrolled');
    expect(after.managedDeviceId).not.toBe(managedId);
    expect(after.managedDeviceId).not.toBe(ZERO_GUID);
    const fresh = await managed(sim, String(after.managedDeviceId));
    expect(fresh.status).toBe(200);
    expect(fresh.body.deviceActionResults).toEqual([]);
    expect((await bySerial(sim, 'PLAIN-1')).map((d) => d.id)).toEqual([after.managedDeviceId]);
  });

  it('a plain wipe re-enrols the device while its profile is assigned but out of sync (re-tagged meanwhile)', async () => {
    const sim = await frozen();
    const [{ identityId, managedId }] = (await enrolled(sim, 'OOS-1')) as [{ identityId: string; managedId: string }];
    // The new tag's profile never arrives: the device keeps the one it has, out of sync.
    sim.blockProfileAssignment('OOS-1', 'pending');
    const retag = await call(sim, 'POST', `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/${identityId}/updateDeviceProperties`, {
      groupTag: 'STD-A',
    });
    expect(retag.status).toBe(204);
    expect((await action(sim, managedId, 'wipe', plainWipe)).status).toBe(204);
    sim.clock.advance(6 * MINUTE);
    expect(await identityBeta(sim, identityId)).toMatchObject({
      enrollmentState: 'notContacted',
      deploymentProfileAssignmentStatus: 'assignedOutOfSync',
    });
    sim.clock.advance(30 * MINUTE);
    const after = await identityBeta(sim, identityId);
    expect(after).toMatchObject({ enrollmentState: 'enrolled', deploymentProfileAssignmentStatus: 'assignedOutOfSync' });
    expect(after.managedDeviceId).not.toBe(managedId);
    expect((await managed(sim, String(after.managedDeviceId))).status).toBe(200);
  });

  it('Fresh Start keeps the same managed device, its entry done, and the device enrolled', async () => {
    const sim = await frozen();
    const [{ identityId, managedId }] = (await enrolled(sim, 'FRESH-1')) as [{ identityId: string; managedId: string }];
    expect((await action(sim, managedId, 'cleanWindowsDevice', { keepUserData: false })).status).toBe(204);
    sim.clock.advance(5 * MINUTE);
    const after = await managed(sim, managedId, 'beta');
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ managementState: 'managed' });
    expect(after.body.deviceActionResults).toEqual([expect.objectContaining({ actionName: 'cleanWindowsDevice', actionState: 'done' })]);
    sim.clock.advance(2 * 60 * MINUTE);
    expect(await identityBeta(sim, identityId)).toMatchObject({ enrollmentState: 'enrolled', managedDeviceId: managedId });
  });

  it('retire removes the managed device and it never comes back, not even when a profile is assigned again', async () => {
    const sim = await frozen();
    const [{ identityId, managedId }] = (await enrolled(sim, 'RETIRE-1')) as [{ identityId: string; managedId: string }];
    expect((await action(sim, managedId, 'retire')).status).toBe(204);
    expect((await managed(sim, managedId, 'beta')).body.managementState).toBe('retirePending');
    sim.clock.advance(5 * MINUTE);
    expect((await managed(sim, managedId)).status).toBe(404);
    expect(await identityBeta(sim, identityId)).toMatchObject({ enrollmentState: 'notContacted', managedDeviceId: ZERO_GUID });
    sim.clock.advance(10 * 60 * MINUTE);
    await call(sim, 'POST', `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/${identityId}/updateDeviceProperties`, {
      groupTag: 'STD-R',
    });
    sim.clock.advance(10 * 60 * MINUTE);
    expect(await identityBeta(sim, identityId)).toMatchObject({
      deploymentProfileAssignmentStatus: 'assignedInSync',
      enrollmentState: 'notContacted',
      managedDeviceId: ZERO_GUID,
    });
    expect(await bySerial(sim, 'RETIRE-1')).toEqual([]);
    expect(sim.managedDevices()).toEqual([]);
  });

  it('deregisters in order: deleting the identity answers 400 BadRequest while its managed device exists, 204 once it is deleted, then 404', async () => {
    const sim = await frozen();
    const [{ identityId, managedId }] = (await enrolled(sim, 'DEREG-1')) as [{ identityId: string; managedId: string }];
    const identityPath = `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/${identityId}`;
    const refused = await call(sim, 'DELETE', identityPath);
    expect(refused.status).toBe(400);
    expect(refused.body.error?.code).toBe('BadRequest');
    expect((await call(sim, 'GET', identityPath)).status).toBe(200);
    expect((await call(sim, 'DELETE', `/v1.0/deviceManagement/managedDevices/${managedId}`)).status).toBe(204);
    expect((await managed(sim, managedId)).status).toBe(404);
    expect((await call(sim, 'DELETE', identityPath)).status).toBe(204);
    expect((await call(sim, 'GET', identityPath)).status).toBe(404);
    expect((await call(sim, 'DELETE', identityPath)).status).toBe(404);
  });

  it('deregisters with a lagging deletion: the identity stays readable for identityDeletionSeconds after the 204', async () => {
    const sim = await frozen({ latencies: { ...latencies, identityDeletionSeconds: 2 * MINUTE } });
    const [{ identityId, managedId }] = (await enrolled(sim, 'DEREG-2')) as [{ identityId: string; managedId: string }];
    const identityPath = `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/${identityId}`;
    expect((await call(sim, 'DELETE', identityPath)).status).toBe(400);
    expect((await call(sim, 'DELETE', `/v1.0/deviceManagement/managedDevices/${managedId}`)).status).toBe(204);
    expect((await call(sim, 'DELETE', identityPath)).status).toBe(204);
    expect((await call(sim, 'GET', identityPath)).status).toBe(200);
    sim.clock.advance(2 * MINUTE);
    expect((await call(sim, 'GET', identityPath)).status).toBe(404);
  });

  it('gives each of several actions in a row its own entry, all carried out at the same check-in', async () => {
    const sim = await frozen();
    const [{ identityId, managedId }] = (await enrolled(sim, 'TWICE-1')) as [{ identityId: string; managedId: string }];
    const firstAt = new Date(sim.clock.now()).toISOString();
    expect((await action(sim, managedId, 'wipe', autopilotReset)).status).toBe(204);
    sim.clock.advance(MINUTE);
    const secondAt = new Date(sim.clock.now()).toISOString();
    expect((await action(sim, managedId, 'wipe', autopilotReset)).status).toBe(204);
    expect((await action(sim, managedId, 'cleanWindowsDevice', { keepUserData: false })).status).toBe(204);
    expect((await managed(sim, managedId)).body.deviceActionResults).toEqual([
      { actionName: 'wipe', actionState: 'pending', startDateTime: firstAt, lastUpdatedDateTime: firstAt },
      { actionName: 'wipe', actionState: 'pending', startDateTime: secondAt, lastUpdatedDateTime: secondAt },
      { actionName: 'cleanWindowsDevice', actionState: 'pending', startDateTime: secondAt, lastUpdatedDateTime: secondAt },
    ]);
    expect((await managed(sim, managedId, 'beta')).body.managementState).toBe('wipePending');
    sim.clock.advance(4 * MINUTE);
    const checkedInAt = new Date(sim.clock.now()).toISOString();
    expect((await managed(sim, managedId)).body.deviceActionResults).toEqual([
      { actionName: 'wipe', actionState: 'done', startDateTime: firstAt, lastUpdatedDateTime: checkedInAt },
      { actionName: 'wipe', actionState: 'done', startDateTime: secondAt, lastUpdatedDateTime: checkedInAt },
      { actionName: 'cleanWindowsDevice', actionState: 'done', startDateTime: secondAt, lastUpdatedDateTime: checkedInAt },
    ]);
    // A later action waits for the device's next check-in.
    expect((await action(sim, managedId, 'wipe', autopilotReset)).status).toBe(204);
    sim.clock.advance(5 * MINUTE - 1);
    expect(((await managed(sim, managedId)).body.deviceActionResults as { actionState: string }[]).map((r) => r.actionState)).toEqual([
      'done',
      'done',
      'done',
      'pending',
    ]);
    sim.clock.advance(1);
    expect(((await managed(sim, managedId)).body.deviceActionResults as { actionState: string }[]).map((r) => r.actionState)).toEqual([
      'done',
      'done',
      'done',
      'done',
    ]);
    expect(await identityBeta(sim, identityId)).toMatchObject({ enrollmentState: 'enrolled', managedDeviceId: managedId });
  });

  it('answers 404 ResourceNotFound with Graph’s error body for a managed device that does not exist', async () => {
    const sim = await frozen();
    const [{ managedId }] = (await enrolled(sim, 'GONE-1')) as [{ identityId: string; managedId: string }];
    expect((await call(sim, 'DELETE', `/v1.0/deviceManagement/managedDevices/${managedId}`)).status).toBe(204);
    for (const id of ['00000000-0000-0000-0000-00000000dead', managedId]) {
      for (const [method, path, body] of [
        ['POST', `${id}/wipe`, autopilotReset],
        ['POST', `${id}/wipe`, plainWipe],
        ['POST', `${id}/cleanWindowsDevice`, { keepUserData: false }],
        ['POST', `${id}/retire`, undefined],
        ['GET', id, undefined],
        ['DELETE', id, undefined],
      ] as const) {
        const reply = await call(sim, method, `/v1.0/deviceManagement/managedDevices/${path}`, body);
        expect(reply.status, `${method} ${path}`).toBe(404);
        expect(reply.body.error).toEqual({
          code: 'ResourceNotFound',
          message: expect.stringContaining(id),
          innerError: { date: expect.stringMatching(/Z$/), 'request-id': expect.any(String), 'client-request-id': expect.any(String) },
        });
      }
    }
  });
});

describe('windowsAutopilotSettings/sync', () => {
  it('answers 204, then 409 while the sync runs, then 429 within 10 minutes of the previous sync', async () => {
    const sim = await simulator();
    const sync = async (): Promise<number> => (await call(sim, 'POST', '/beta/deviceManagement/windowsAutopilotSettings/sync')).status;
    expect(await sync()).toBe(204);
    expect(await sync()).toBe(409);
    sim.clock.advance(3 * MINUTE);
    expect(await sync()).toBe(429);
    sim.clock.advance(7 * MINUTE);
    expect(await sync()).toBe(204);
  });
});

describe('throttling', () => {
  /** Starts the test at the beginning of a 20-second window. */
  function alignToWindow(sim: GraphSimulator, windowSeconds = 20): void {
    const windowMs = windowSeconds * 1000;
    sim.clock.advance((windowMs - (sim.clock.now() % windowMs)) / 1000 + 0.01);
  }

  it('answers 429 with TooManyRequests and Retry-After past the write limit, counts throttled calls, and recovers in the next window', async () => {
    // Real time frozen: the simulated clock moves only when told, so the window's rest is exact.
    const sim = await simulator({ clock: { timeScale: 1, realNow: () => 0 }, throttle: { writesPer20s: 3, requestsPer20s: 100 } });
    const { id } = sim.addAutopilotIdentity({ serialNumber: 'THR-1' });
    alignToWindow(sim);
    const retag = (): Promise<Reply> =>
      call(sim, 'POST', `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/${id}/updateDeviceProperties`, { displayName: 'x' });
    for (let i = 0; i < 3; i++) expect((await retag()).status).toBe(204);
    const throttled = await retag();
    expect(throttled.status).toBe(429);
    expect(throttled.body.error?.code).toBe('TooManyRequests');
    const seconds = Number(throttled.headers.get('retry-after'));
    // 20 s less the 10 ms alignToWindow leaves behind the window's start.
    expect(throttled.headers.get('retry-after')).toBe('19.99');
    expect((await call(sim, 'GET', `/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/${id}`)).status).toBe(200);
    sim.clock.advance(seconds);
    expect((await retag()).status).toBe(204);
    expect(sim.stats().throttled).toBe(1);
  });

  it('limits all requests too, and Retry-After is in real seconds (fractional on a fast clock)', async () => {
    // At 600x a window lasts 33 real ms, shorter than a request on a busy machine: freeze real time.
    const sim = await simulator({ clock: { timeScale: 600, realNow: () => 0 }, throttle: { writesPer20s: 100, requestsPer20s: 2 } });
    alignToWindow(sim);
    const list = (): Promise<Reply> => call(sim, 'GET', '/v1.0/deviceManagement/windowsAutopilotDeviceIdentities');
    for (let i = 0; i < 2; i++) expect((await list()).status).toBe(200);
    const throttled = await list();
    expect(throttled.status).toBe(429);
    // 19.99 simulated seconds left in the window are 33.3 real ms, rounded up to the millisecond.
    expect(throttled.headers.get('retry-after')).toBe('0.034');
    expect(Number(throttled.headers.get('retry-after'))).toBeLessThanOrEqual(20 / 600 + 0.001);
  });

  it('sometimes leaves Retry-After out when told to', async () => {
    const sim = await simulator({ throttle: { requestsPer20s: 1 }, faults: { omitRetryAfterRate: 1 } });
    alignToWindow(sim);
    await call(sim, 'GET', '/v1.0/deviceManagement/managedDevices');
    const throttled = await call(sim, 'GET', '/v1.0/deviceManagement/managedDevices');
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBeNull();
  });
});

describe('faults, request log and https', () => {
  it('injects 5xx from a seed, replaying the same sequence for the same seed', async () => {
    const run = async (): Promise<number[]> => {
      const sim = await simulator({ faults: { seed: 7, errorRate5xx: 0.5 } });
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await call(sim, 'GET', '/v1.0/deviceManagement/managedDevices')).status);
      expect(sim.stats().injected5xx).toBe(statuses.filter((s) => s >= 500).length);
      return statuses;
    };
    const first = await run();
    expect(first.some((s) => s >= 500)).toBe(true);
    expect(first.some((s) => s === 200)).toBe(true);
    expect(await run()).toEqual(first);
  });

  it('drops connections, before or after the request took effect', async () => {
    const sim = await simulator({ faults: { dropAfterEffectRate: 1 } });
    await expect(
      call(sim, 'POST', '/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities/import', {
        importedWindowsAutopilotDeviceIdentities: [device('DROP-1')],
      }),
    ).rejects.toThrow();
    expect(sim.importedRecords().map((r) => r.serialNumber)).toEqual(['DROP-1']);
    sim.setFaults({ dropAfterEffectRate: 0, dropRate: 1 });
    await expect(
      call(sim, 'POST', '/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities/import', {
        importedWindowsAutopilotDeviceIdentities: [device('DROP-2')],
      }),
    ).rejects.toThrow();
    expect(sim.importedRecords()).toHaveLength(1);
    expect(sim.stats().dropped).toBe(2);
  });

  it('logs every request with its route and status', async () => {
    const sim = await simulator();
    await call(sim, 'GET', '/v1.0/deviceManagement/managedDevices');
    await call(sim, 'GET', '/v1.0/deviceManagement/managedDevices/nope');
    await call(sim, 'POST', '/beta/deviceManagement/windowsAutopilotSettings/sync');
    expect(sim.requestLog().map((e) => [e.route, e.status])).toEqual([
      ['GET managedDevices', 200],
      ['GET managedDevices/{id}', 404],
      ['POST windowsAutopilotSettings/sync', 204],
    ]);
    expect(sim.stats().byRouteAndStatus['GET managedDevices/{id}']).toEqual({ '404': 1 });
    sim.resetRequestLog();
    expect(sim.stats().total).toBe(0);
  });

  it('serves https with a self-signed certificate that clients can trust as a CA', async () => {
    const sim = await simulator({ https: true });
    expect(sim.baseUrl.startsWith('https://127.0.0.1:')).toBe(true);
    const get = (ca: string | undefined): Promise<number> =>
      new Promise((resolve, reject) => {
        const request = https.request(
          `${sim.baseUrl}/v1.0/deviceManagement/managedDevices`,
          { headers: { authorization: `Bearer ${TOKEN}` }, ca },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        request.on('error', reject);
        request.end();
      });
    expect(await get(sim.caCertPem)).toBe(200);
    await expect(get(undefined)).rejects.toThrow(/self-signed|certificate/);
  });
});

describe('busiest window', () => {
  const T0 = Date.parse('2026-05-04T08:00:00.000Z');
  const list = '/v1.0/deviceManagement/windowsAutopilotDeviceIdentities';
  const syncNow = '/v1.0/deviceManagement/windowsAutopilotSettings/sync';

  it('reports the most requests and writes in any sliding 20 s of the simulated clock, and of real time', async () => {
    // Simulated time moves only by advance(); real time runs as it does.
    const sim = await simulator({ clock: { timeScale: 1, startAt: T0, realNow: () => 0 } });
    const writes = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) await call(sim, 'POST', syncNow);
    };
    await writes(3); // t = 0
    sim.clock.advance(15);
    await writes(2); // t = 15 s
    await call(sim, 'GET', list);
    sim.clock.advance(10);
    await writes(4); // t = 25 s

    const { busiest } = sim.stats();
    expect(busiest.windowSeconds).toBe(20);
    // (5 s, 25 s]: 3 requests at 15 s and 4 at 25 s; neither fixed window [0, 20) nor [20, 40) holds that many writes.
    expect(busiest.simulated).toEqual({
      requests: 7,
      writes: 6,
      requestsFrom: new Date(T0 + 15_000).toISOString(),
      writesFrom: new Date(T0 + 15_000).toISOString(),
    });
    // In real time the ten came within a moment: one interval holds them all.
    expect(busiest.real).toMatchObject({ requests: 10, writes: 9 });
    expect(Date.parse(busiest.real.requestsFrom!)).toBeGreaterThan(Date.now() - 20_000);
  });

  it('counts refused and throttled requests too, as Graph does, and starts over with the request log', async () => {
    const sim = await simulator({ clock: { timeScale: 1, realNow: () => 0 }, throttle: { writesPer20s: 2 } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(sim, 'POST', syncNow)).status);
    expect(statuses.filter((status) => status === 429)).toHaveLength(2);
    await call(sim, 'GET', list, undefined, 'a-wrong-token');
    expect(sim.stats().busiest.simulated).toMatchObject({ requests: 5, writes: 4 });
    sim.resetRequestLog();
    expect(sim.stats().busiest.simulated).toEqual({ requests: 0, writes: 0, requestsFrom: null, writesFrom: null });
  });

  it('is served with the other counters at GET /_simulator/stats, with the token, and is not counted itself', async () => {
    const sim = await simulator({ https: true, clock: { timeScale: 60 } });
    const get = (path: string, token: string): Promise<{ status: number; body: Record<string, unknown> }> =>
      new Promise((resolve, reject) => {
        https
          .get(`${sim.baseUrl}${path}`, { ca: sim.caCertPem, headers: { authorization: `Bearer ${token}` } }, (response) => {
            let text = '';
            response.on('data', (chunk: Buffer) => (text += chunk.toString()));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
          })
          .once('error', reject);
      });
    await get(list, TOKEN);
    await get(list, TOKEN);
    const served = await get('/_simulator/stats', TOKEN);
    expect(served.status).toBe(200);
    expect(served.body).toEqual(JSON.parse(JSON.stringify(sim.stats())));
    expect(served.body).toMatchObject({ total: 2, busiest: { simulated: { requests: 2, writes: 0 }, real: { requests: 2 } } });
    expect((await get('/_simulator/stats', 'a-wrong-token')).status).toBe(401);
    expect((await get('/_simulator/other', TOKEN)).status).toBe(404);
    expect(sim.stats().total).toBe(2);
  });

  it('keeps the import rows received per serial after their records are deleted', async () => {
    const sim = await simulator();
    await importDevices(sim, [device('BW-1'), device(' bw-2 ')]);
    const [record] = await importDevices(sim, [device('BW-1')]);
    await call(sim, 'DELETE', `/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities/${String(record!.id)}`);
    expect(sim.importsBySerial()).toEqual({ 'BW-1': 2, 'BW-2': 1 });
  });
});
