import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestHardwareHash, startGraphSimulator, type GraphSimulator } from '../../../../local/graph-simulator/index.js';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import {
  createGraphClient,
  createGraphClientFromSettings,
  createInMemoryBudget,
  GRAPH_SETTINGS_DEFAULTS,
  graphRequestCounts,
  resetGraphRequestCounts,
  type GraphClient,
  type GraphClientOptions,
} from '../../../../shared/adapters/graph/index.js';
import type { ImportDeviceInput } from '../../../../shared/domain/autopilot.js';
import type { GraphResult } from '../../../../shared/services/graph-result.js';

/** Every adapter operation against the simulator over real HTTP; simulated time is moved with clock.advance. */

const TOKEN = 'client-test-token';
const MINUTE = 60;

const generousBudget = () =>
  createInMemoryBudget({
    limits: { writesPerWindow: 1000, requestsPerWindow: 10_000, windowMs: 20_000, shares: GRAPH_SETTINGS_DEFAULTS.priorityShares },
  });

function clientFor(sim: GraphSimulator, options: Partial<GraphClientOptions> = {}): GraphClient {
  return createGraphClient({
    ...GRAPH_SETTINGS_DEFAULTS,
    baseUrl: sim.baseUrl,
    staticToken: TOKEN,
    budget: generousBudget(),
    caCertPem: sim.caCertPem,
    ...options,
  });
}

function value<T>(result: GraphResult<T>): T {
  if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result)}`);
  return result.value;
}

const input = (serialNumber: string, groupTag = 'KIOSK'): ImportDeviceInput => ({
  serialNumber,
  hardwareIdentifier: makeTestHardwareHash({ serialNumber }),
  groupTag,
  importId: `import-${serialNumber}`,
});

describe('Graph client against the simulator (http)', () => {
  let sim: GraphSimulator;
  let graph: GraphClient;

  beforeAll(async () => {
    sim = await startGraphSimulator({
      token: TOKEN,
      clock: { timeScale: 1 },
      profileRules: [{ groupTag: 'KIOSK', profileName: 'Kiosk' }],
      otherTenantSerials: ['THEIRS-9'],
    });
    graph = clientFor(sim, { importChunkSize: 2, pageSize: 2 });
  });
  afterAll(async () => {
    graph.close();
    await sim.stop();
  });

  async function register(serial: string, groupTag = 'KIOSK'): Promise<string> {
    const [record] = value(await graph.importDevices([input(serial, groupTag)]));
    sim.clock.advance(121);
    const imported = value(await graph.getImportedIdentity(record!.id));
    expect(imported.state.deviceImportStatus).toBe('complete');
    return imported.state.deviceRegistrationId;
  }

  it('imports in chunks, one POST per chunk, and reads the records back', async () => {
    sim.resetRequestLog();
    const devices = ['CH-1', 'CH-2', 'CH-3', 'CH-4', 'CH-5'].map((s) => input(s));
    const records = value(await graph.importDevices(devices));
    expect(records.map((r) => r.serialNumber)).toEqual(['CH-1', 'CH-2', 'CH-3', 'CH-4', 'CH-5']);
    expect(records.map((r) => r.importId)).toEqual(devices.map((d) => d.importId));
    expect(sim.stats().byRoute['POST importedWindowsAutopilotDeviceIdentities/import']).toBe(3);
    const sent = sim.importedRecords().find((r) => r.serialNumber === 'CH-1');
    expect(sent?.hardwareIdentifier).toBe(devices[0]?.hardwareIdentifier);

    sim.clock.advance(121);
    const first = value(await graph.getImportedIdentity(records[0]!.id));
    expect(first.state).toMatchObject({ deviceImportStatus: 'complete', deviceErrorCode: 0 });
    expect(sim.autopilotIdentities().map((i) => i.id)).toContain(first.state.deviceRegistrationId);
  });

  it('lists imported records across pages and deletes them idempotently', async () => {
    const listed = value(await graph.listImportedIdentities());
    expect(listed.length).toBe(sim.importedRecords().length);
    expect(listed.length).toBeGreaterThan(2);
    const [victim] = listed;
    expect(value(await graph.deleteImportedIdentity(victim!.id))).toEqual({ deleted: true });
    expect(value(await graph.deleteImportedIdentity(victim!.id))).toEqual({ deleted: false });
    expect(await graph.getImportedIdentity(victim!.id)).toMatchObject({ ok: false, kind: 'not-found' });
  });

  it('lists imported records with $top and $select, leaving the hashes behind', async () => {
    sim.resetRequestLog();
    const listed = value(await graph.listImportedIdentities());
    expect(listed.length).toBe(sim.importedRecords().length);
    const [first] = sim.requestLog();
    expect(decodeURIComponent(first!.url)).toContain('$top=2&$select=id,serialNumber,groupTag,importId,state');
    expect(listed.every((record) => record.importId !== '' && record.state.deviceImportStatus !== undefined)).toBe(true);
  });

  it('lists plainly, from then on, a service that refuses $select', async () => {
    const strict = await startGraphSimulator({ token: TOKEN, clock: { timeScale: 1 }, refusedQueryOptions: ['$select'], pageSize: 2 });
    const client = clientFor(strict, { pageSize: 50 });
    try {
      value(await client.importDevices(['PLAIN-1', 'PLAIN-2', 'PLAIN-3'].map((serial) => input(serial))));
      const listed = value(await client.listImportedIdentities());
      expect(listed.map((r) => r.serialNumber).sort()).toEqual(['PLAIN-1', 'PLAIN-2', 'PLAIN-3']);
      const refused = strict.requestLog().filter((entry) => entry.method === 'GET' && entry.status === 400);
      expect(refused).toHaveLength(1);
      // The service's own page size now: 2 a page, following nextLink.
      strict.resetRequestLog();
      expect(value(await client.listImportedIdentities())).toHaveLength(3);
      expect(strict.requestLog().map((entry) => entry.status)).toEqual([200, 200]);
      expect(strict.requestLog().every((entry) => !decodeURIComponent(entry.url).includes('$select'))).toBe(true);
    } finally {
      client.close();
      await strict.stop();
    }
  });

  it('hands back Autopilot import errors as data', async () => {
    const records = value(await graph.importDevices([input('CH-1'), input('THEIRS-9'), { ...input('BAD-1'), hardwareIdentifier: 'AAAA' }]));
    sim.clock.advance(121);
    const states = await Promise.all(records.map(async (r) => value(await graph.getImportedIdentity(r.id)).state));
    expect(states.map((s) => [s.deviceErrorCode, s.deviceErrorName])).toEqual([
      [806, 'ZtdDeviceAlreadyAssigned'],
      [808, 'ZtdDeviceAssignedToOtherTenant'],
      [802, 'InvalidZtdHardwareHash'],
    ]);
  });

  it('finds an identity by serial with contains and an exact match, never with eq', async () => {
    for (const serial of ['FIND1', 'FIND12', 'XFIND1']) sim.addAutopilotIdentity({ serialNumber: serial });
    sim.resetRequestLog();
    expect(value(await graph.findAutopilotIdentityBySerial('FIND1'))?.serialNumber).toBe('FIND1');
    expect(value(await graph.findAutopilotIdentityBySerial(' find12 '))?.serialNumber).toBe('FIND12');
    expect(value(await graph.findAutopilotIdentityBySerial('FIND9'))).toBeUndefined();
    const urls = sim.requestLog().map((e) => decodeURIComponent(e.url));
    expect(urls.every((u) => u.includes("contains(serialNumber,'"))).toBe(true);
    expect(sim.stats().byStatus['400']).toBeUndefined();
  });

  it('falls back to paging through every device when contains misbehaves (hyphens, spaces)', async () => {
    const { id } = sim.addAutopilotIdentity({ serialNumber: 'PF-2Z 77' });
    sim.resetRequestLog();
    const found = value(await graph.findAutopilotIdentityBySerial('PF-2Z 77'));
    expect(found?.id).toBe(id);
    const urls = sim.requestLog().map((e) => decodeURIComponent(e.url));
    expect(urls[0]).toContain("contains(serialNumber,'PF-2Z 77')");
    expect(urls.slice(1).every((u) => !u.includes('$filter'))).toBe(true);
    expect(urls.length).toBeGreaterThan(2);
    expect(value(await graph.findAutopilotIdentityBySerial('NO-SUCH 1'))).toBeUndefined();
  });

  it('reads the profile assignment status from beta as it moves to assignedInSync', async () => {
    const id = await register('PROF-7');
    expect(value(await graph.getAutopilotIdentity(id))).toMatchObject({
      serialNumber: 'PROF-7',
      deploymentProfileAssignmentStatus: 'notAssigned',
      managedDeviceId: undefined,
    });
    sim.clock.advance(6 * MINUTE);
    expect(value(await graph.getAutopilotIdentity(id)).deploymentProfileAssignmentStatus).toBe('pending');
    sim.clock.advance(11 * MINUTE);
    const assigned = value(await graph.getAutopilotIdentity(id));
    expect(assigned.deploymentProfileAssignmentStatus).toBe('assignedInSync');
    expect(assigned.deploymentProfileAssignedDateTime).toEqual(expect.any(String));
  });

  it('lists every Autopilot identity from beta, page by page, with profile status', async () => {
    await register('LIST-1');
    await register('LIST-2');
    sim.resetRequestLog();
    const all = value(await graph.listAutopilotIdentities());
    const serials = all.map((identity) => identity.serialNumber);
    expect(serials).toEqual(expect.arrayContaining(['LIST-1', 'LIST-2', 'PROF-7']));
    expect(all.every((identity) => identity.deploymentProfileAssignmentStatus !== undefined)).toBe(true);
    const urls = sim.requestLog().map((e) => e.url);
    expect(urls.every((u) => u.startsWith('/beta/'))).toBe(true);
    expect(urls.length).toBe(Math.ceil(all.length / 2));
  });

  it('updates device properties and re-tags', async () => {
    const { id } = sim.addAutopilotIdentity({ serialNumber: 'TAG-1', groupTag: 'OLD' });
    expect(await graph.updateDeviceProperties(id, { groupTag: 'KIOSK', displayName: 'kiosk-01' })).toEqual({ ok: true, value: undefined });
    expect(value(await graph.getAutopilotIdentity(id))).toMatchObject({ groupTag: 'KIOSK', displayName: 'kiosk-01' });
    expect(await graph.updateDeviceProperties('00000000-0000-0000-0000-00000000dead', { groupTag: 'X' })).toMatchObject({
      ok: false,
      kind: 'not-found',
    });
  });

  it('finds the managed device once enrolled, runs remote actions, and deletes in the right order', async () => {
    const id = await register('ENR-7');
    expect(value(await graph.findManagedDeviceBySerial('ENR-7'))).toBeUndefined();
    sim.clock.advance(60 * MINUTE);
    const identity = value(await graph.getAutopilotIdentity(id));
    expect(identity.enrollmentState).toBe('enrolled');
    const managed = value(await graph.findManagedDeviceBySerial('ENR-7'));
    expect(managed?.id).toBe(identity.managedDeviceId);
    expect(value(await graph.getManagedDevice(managed!.id)).serialNumber).toBe('ENR-7');

    expect(await graph.runManagedDeviceAction(managed!.id, { action: 'wipe', keepEnrollmentData: true, keepUserData: false })).toEqual({
      ok: true,
      value: undefined,
    });
    expect(value(await graph.getManagedDevice(managed!.id)).deviceActionResults).toEqual([
      expect.objectContaining({ actionName: 'wipe', actionState: 'pending' }),
    ]);
    expect(
      await graph.runManagedDeviceAction(managed!.id, {
        action: 'wipe',
        keepEnrollmentData: true,
        keepUserData: false,
        useProtectedWipe: false,
      }),
    ).toEqual({ ok: true, value: undefined });
    expect(await graph.runManagedDeviceAction(managed!.id, { action: 'cleanWindowsDevice', keepUserData: true })).toEqual({
      ok: true,
      value: undefined,
    });

    const refused = await graph.deleteAutopilotIdentity(id);
    expect(refused).toMatchObject({ ok: false, kind: 'permanent', status: 400, code: 'BadRequest' });
    expect(value(await graph.deleteManagedDevice(managed!.id))).toEqual({ deleted: true });
    expect(value(await graph.deleteAutopilotIdentity(id))).toEqual({ deleted: true });
    expect(value(await graph.deleteAutopilotIdentity(id))).toEqual({ deleted: false });
    expect(await graph.runManagedDeviceAction(managed!.id, { action: 'retire' })).toMatchObject({ ok: false, kind: 'not-found' });
  });

  it('coalesces syncs: one call per interval, 409 and 429 count as already done', async () => {
    sim.resetRequestLog();
    expect(value(await graph.syncAutopilot())).toBe('synced');
    expect(value(await graph.syncAutopilot())).toBe('coalesced');
    expect(sim.stats().byRoute['POST windowsAutopilotSettings/sync']).toBe(1);
    const otherApp = clientFor(sim);
    expect(value(await otherApp.syncAutopilot())).toBe('already-running');
    sim.clock.advance(3 * MINUTE);
    expect(value(await clientFor(sim).syncAutopilot())).toBe('recently-synced');
    otherApp.close();
  });

  it('checks reachability, and a wrong token is a permanent failure with Graph’s code', async () => {
    expect(await graph.checkReachable()).toEqual({ ok: true, value: undefined });
    const wrong = createGraphClient({ ...GRAPH_SETTINGS_DEFAULTS, baseUrl: sim.baseUrl, staticToken: 'wrong', budget: generousBudget() });
    expect(await wrong.checkReachable()).toMatchObject({ ok: false, kind: 'permanent', status: 401, code: 'InvalidAuthenticationToken' });
    wrong.close();
  });

  it('counts every request it sends by method and answer, as the simulator logs them', async () => {
    sim.resetRequestLog();
    resetGraphRequestCounts();
    value(await graph.importDevices([input('COUNT-1'), input('COUNT-2'), input('COUNT-3')]));
    value(await graph.listImportedIdentities());
    await graph.getImportedIdentity('no-such-record');
    const logged: Record<string, Record<string, number>> = {};
    for (const entry of sim.requestLog()) {
      const byStatus = (logged[entry.method] ??= {});
      byStatus[String(entry.status)] = (byStatus[String(entry.status)] ?? 0) + 1;
    }
    expect(graphRequestCounts()).toEqual(logged);
    expect(graphRequestCounts().GET?.['404']).toBe(1);
  });
});

describe('Graph client against the simulator (https)', () => {
  it('attaches the token over https when the simulator certificate is trusted, and fails transiently when it is not', async () => {
    const sim = await startGraphSimulator({ token: TOKEN, https: true });
    try {
      const trusted = clientFor(sim);
      expect(await trusted.checkReachable()).toEqual({ ok: true, value: undefined });
      expect(sim.requestLog().map((e) => e.status)).toEqual([200]);
      const untrusted = clientFor(sim, { caCertPem: undefined });
      const failed = await untrusted.checkReachable();
      expect(failed).toMatchObject({ ok: false, kind: 'transient' });
      expect(failed.ok ? '' : 'message' in failed ? failed.message : '').toMatch(/certificate/);
      trusted.close();
      untrusted.close();
    } finally {
      await sim.stop();
    }
  });
});

describe('Graph client against the simulator’s $select rule (https)', () => {
  it('lists, finds by serial and checks reachability while $select on windowsAutopilotDeviceIdentities answers 500', async () => {
    const sim = await startGraphSimulator({ token: TOKEN, https: true, clock: { timeScale: 1 }, pageSize: 2 });
    const graph = clientFor(sim, { pageSize: 2 });
    try {
      // The rule is on (the default): the collection answers 500 to $select.
      const selected = await new Promise<number>((resolve, reject) => {
        const request = https.request(
          `${sim.baseUrl}/beta/deviceManagement/windowsAutopilotDeviceIdentities?$select=serialNumber`,
          { headers: { authorization: `Bearer ${TOKEN}` }, ca: sim.caCertPem },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        request.on('error', reject);
        request.end();
      });
      expect(selected).toBe(500);
      sim.resetRequestLog();

      const serials = ['SELA1', 'SELA12', 'SEL-B 2', 'SELC3', 'SELD4'];
      const ids = new Map(serials.map((serialNumber) => [serialNumber, sim.addAutopilotIdentity({ serialNumber }).id]));
      const listed = value(await graph.listAutopilotIdentities());
      expect(listed.map((identity) => identity.serialNumber).sort()).toEqual([...serials].sort());
      expect(value(await graph.findAutopilotIdentityBySerial('SELA1'))?.id).toBe(ids.get('SELA1'));
      expect(value(await graph.findAutopilotIdentityBySerial('SEL-B 2'))?.id).toBe(ids.get('SEL-B 2'));
      expect(value(await graph.findAutopilotIdentityBySerial('SELZ9'))).toBeUndefined();
      expect(value(await graph.getAutopilotIdentity(ids.get('SELC3')!)).serialNumber).toBe('SELC3');
      expect(await graph.checkReachable()).toEqual({ ok: true, value: undefined });

      const log = sim.requestLog();
      expect(log.filter((entry) => entry.route.includes('windowsAutopilotDeviceIdentities')).length).toBeGreaterThan(6);
      expect(log.every((entry) => !decodeURIComponent(entry.url).toLowerCase().includes('$select'))).toBe(true);
      expect(sim.stats().byStatus['500']).toBeUndefined();
    } finally {
      graph.close();
      await sim.stop();
    }
  });
});

/** A credential that hands out one token and records the scopes it is asked for. */
function recordingCredential(): { credential: TokenCredential; requested: string[][] } {
  const requested: string[][] = [];
  const credential: TokenCredential = {
    async getToken(scopes: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
      requested.push(Array.isArray(scopes) ? scopes : [scopes]);
      return { token: 'from-credential', expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
  return { credential, requested };
}

describe('Graph client authentication', () => {
  it('asks a TokenCredential for the Graph scope, caches the token, and sends it', async () => {
    const sim = await startGraphSimulator({ token: 'from-credential' });
    const { credential, requested } = recordingCredential();
    const graph = createGraphClient({ ...GRAPH_SETTINGS_DEFAULTS, baseUrl: sim.baseUrl, credential, budget: generousBudget() });
    try {
      expect(await graph.checkReachable()).toEqual({ ok: true, value: undefined });
      expect(await graph.checkReachable()).toEqual({ ok: true, value: undefined });
      expect(requested).toEqual([['https://graph.microsoft.com/.default']]);
    } finally {
      graph.close();
      await sim.stop();
    }
  });

  it('asks the credential for the scope it is given: a national cloud’s', async () => {
    const sim = await startGraphSimulator({ token: 'from-credential' });
    const { credential, requested } = recordingCredential();
    const settings = { ...GRAPH_SETTINGS_DEFAULTS, baseUrl: sim.baseUrl, tokenScope: 'https://dod-graph.microsoft.us/.default' };
    const graph = createGraphClientFromSettings(settings, generousBudget(), credential);
    try {
      expect(await graph.checkReachable()).toEqual({ ok: true, value: undefined });
      expect(requested).toEqual([['https://dod-graph.microsoft.us/.default']]);
    } finally {
      graph.close();
      await sim.stop();
    }
  });

  it('refuses a credential without a scope to ask it for', () => {
    const credential: TokenCredential = { getToken: async () => null };
    expect(() => createGraphClient({ ...GRAPH_SETTINGS_DEFAULTS, tokenScope: undefined, credential, budget: generousBudget() })).toThrow(
      /tokenScope/,
    );
  });

  it('builds the client from settings with the static token', async () => {
    const sim = await startGraphSimulator({ token: TOKEN });
    const graph = createGraphClientFromSettings({ ...GRAPH_SETTINGS_DEFAULTS, baseUrl: sim.baseUrl, staticToken: TOKEN }, generousBudget());
    try {
      expect(await graph.checkReachable()).toEqual({ ok: true, value: undefined });
    } finally {
      graph.close();
      await sim.stop();
    }
  });
});
