import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../../cli/ztp.js';
import { DevHost } from '../../../local/dev-host/index.js';
import { FUNCTIONS } from '../../../local/functions.js';
import { makeTestHardwareHash, startGraphSimulator, type GraphSimulator } from '../../../local/graph-simulator/index.js';
import { INTAKE_CONTAINER, RESULTS_CONTAINER } from '../../../shared/domain/blob-layout.js';
import type { DeviceRecord } from '../../../shared/domain/device.js';
import type { DeviceState } from '../../../shared/domain/lifecycle.js';
import { startTestStack, type TestStack } from '../../support/stack.js';

/**
 * Re-drive end to end, through the dev host running every function of the app: the intake
 * (blob trigger), import and follow-up (Service Bus), the sweeper (timer) and the HTTP routes,
 * on Azurite, the Service Bus test broker and the Graph simulator on a 600x clock. Graph fails
 * every call for longer than the import deadline, so two files' devices stall on their import;
 * they come back by the redrive route, by `ztp redrive` and by a repeat upload of their file,
 * and each ends up registered in Autopilot exactly once.
 */

vi.setConfig({ testTimeout: 180_000 });

const TIME_SCALE = 600;
const TOKEN = 'redrive-api-token';
const LIST_IMPORTED = 'GET importedWindowsAutopilotDeviceIdentities';
const IMPORT = 'POST importedWindowsAutopilotDeviceIdentities/import';
const HEADER = 'Device Serial Number,Windows Product ID,Hardware Hash,Group Tag';

let sim: GraphSimulator;
let stack: TestStack;
let host: DevHost;
let blobs: BlobServiceClient;

beforeAll(async () => {
  sim = await startGraphSimulator({
    token: TOKEN,
    clock: { timeScale: TIME_SCALE },
    profileRules: [{ groupTag: '/^MPS-/', profileName: 'Standard' }],
  });
  stack = await startTestStack({
    GRAPH_BASE_URL: sim.baseUrl,
    GRAPH_STATIC_TOKEN: TOKEN,
    ZTP_TIME_SCALE: String(TIME_SCALE),
    // The import deadline: two hours of Autopilot time, 12 s here (never less than four claim graces of 3 s).
    GRAPH_REQUEST_TIMEOUT_MS: '1500',
    // An import message gives up after one rescheduled attempt and is dead-lettered: the outage outlasts it.
    ZTP_MAX_TRANSIENT_RETRIES: '1',
    ZTP_MAX_POLL_INTERVAL_MINUTES: '10',
  });
  host = new DevHost({
    serviceBusConnectionString: stack.broker.connectionString,
    storageConnectionString: stack.storageConnectionString,
    log: stack.runtime.log,
    blobPollMs: 100,
    timeScale: TIME_SCALE,
  });
  for (const fn of FUNCTIONS) {
    if (fn.trigger === 'blob') host.storageBlob(fn.name, fn.options);
    else if (fn.trigger === 'serviceBus') host.serviceBusQueue(fn.name, fn.options);
    else if (fn.trigger === 'http') host.http(fn.name, fn.options);
    else host.timer(fn.name, fn.options);
  }
  await host.start();
  blobs = BlobServiceClient.fromConnectionString(stack.storageConnectionString);
});

afterAll(async () => {
  await host?.stop();
  await stack?.stop();
  await sim?.stop();
});

function csv(serials: readonly string[]): string {
  return `${[HEADER, ...serials.map((serial) => `${serial},,${makeTestHardwareHash({ serialNumber: serial })},MPS-STD`)].join('\r\n')}\r\n`;
}

async function drop(name: string, text: string): Promise<void> {
  const blob = blobs.getContainerClient(INTAKE_CONTAINER).getBlockBlobClient(`contoso/${name}`);
  await blob.upload(text, Buffer.byteLength(text), { blobHTTPHeaders: { blobContentType: 'text/csv' } });
}

async function record(serial: string): Promise<DeviceRecord | undefined> {
  return (await stack.runtime.devices.get(serial))?.value;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function untilState(serials: readonly string[], states: readonly DeviceState[], timeoutMs?: number): Promise<DeviceRecord[]> {
  return until(
    `${serials.join(', ')} in ${states.join(' or ')}`,
    async () => {
      const found = await Promise.all(serials.map(record));
      return found.every((device) => device !== undefined && states.includes(device.state)) ? (found as DeviceRecord[]) : undefined;
    },
    timeoutMs,
  );
}

const IN_AUTOPILOT: readonly DeviceState[] = ['registered', 'profile-assigned', 'enrolled'];

async function post(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${host.httpBaseUrl}/api/${path}`, { method: 'POST' });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function ztp(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env: {},
    cwd: process.cwd(),
  });
  return { code, stdout, stderr };
}

const listings = (): number => sim.requestLog().filter((entry) => entry.route === LIST_IMPORTED).length;
const identitiesOf = (serial: string) => sim.autopilotIdentities().filter((identity) => identity.serialNumber === serial);

describe('re-drive after an outage longer than the import deadline', () => {
  it('brings every stalled device back — by route, by ztp redrive, by a repeat upload — each registered exactly once', async () => {
    // Registered in the tenant before its file came: Autopilot has it, so a re-drive finds it by serial.
    sim.addAutopilotIdentity({ serialNumber: 'RD-KNOWN-1', groupTag: 'MPS-STD' });
    const first = ['RD-ROUTE-1', 'RD-CLI-1'];
    const second = ['RD-UPLOAD-1', 'RD-UPLOAD-2', 'RD-KNOWN-1'];
    const all = [...first, ...second];

    // Graph is down: every call answers 5xx.
    sim.setFaults({ errorRate5xx: 1 });
    await drop('outage-1.csv', csv(first));
    await drop('outage-2.csv', csv(second));
    const claimed = await untilState(all, ['importing']);
    // The outage outlasts every device's import deadline.
    const latest = Math.max(...claimed.map((device) => Date.parse(device.deadlineAt!)));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, latest - Date.now()) + 1000));
    sim.setFaults({ errorRate5xx: 0 });

    const stalled = await untilState(all, ['stalled']);
    expect(stalled.map((device) => device.waitingFor)).toEqual(all.map(() => 'import'));
    const batchOf = Object.fromEntries(stalled.map((device) => [device.serialNumber, device.batchId]));

    // By route: Autopilot never saw the device, so it is submitted again.
    const routed = await post('devices/RD-ROUTE-1/redrive');
    expect(routed).toEqual({ status: 202, body: { serial: 'RD-ROUTE-1', state: 'received' } });
    const again = await post('devices/RD-ROUTE-1/redrive');
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: { code: 'not-stalled' } });
    expect((await post('devices/RD-NOBODY/redrive')).status).toBe(404);
    expect((await post(`batches/${'0'.repeat(32)}/redrive`)).status).toBe(404);
    await untilState(['RD-ROUTE-1'], IN_AUTOPILOT);

    // The others are still stalled on their import: the import poll does not keep listing for them.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const settled = listings();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(listings()).toBe(settled);
    expect((await record('RD-CLI-1'))?.state).toBe('stalled');

    // By ztp redrive, through the route.
    const cli = await ztp('redrive', 'RD-CLI-1', '--url', host.httpBaseUrl!);
    expect(cli, cli.stderr).toMatchObject({ code: 0 });
    expect(cli.stdout).toContain('RD-CLI-1');
    await untilState(['RD-CLI-1'], IN_AUTOPILOT);

    // By a repeat upload of the second file, under another name: its stalled devices are
    // re-driven, and the supplier gets a copy of the report.
    const importsBefore = sim.requestLog().filter((entry) => entry.route === IMPORT).length;
    await drop('outage-2-again.csv', csv(second));
    await untilState(second, IN_AUTOPILOT);
    const report = await blobs.getContainerClient(RESULTS_CONTAINER).getBlobClient('contoso/outage-2-again.csv.result.csv').exists();
    expect(report).toBe(true);
    // RD-KNOWN-1 was found in Autopilot: registered without another import.
    const known = await stack.runtime.devices.history('RD-KNOWN-1');
    const redriven = known.findIndex((event) => event.reason === 'redriven');
    expect(known[redriven]).toMatchObject({ from: 'stalled', to: 'registered', detail: { outcome: 'already-registered' } });
    expect(known.slice(redriven).map((event) => event.reason)).not.toContain('import-submitted');
    expect(sim.requestLog().filter((entry) => entry.route === IMPORT).length - importsBefore).toBe(1);

    // Each device is in Autopilot once.
    for (const serial of all) expect(identitiesOf(serial), serial).toHaveLength(1);

    // Re-driving is idempotent: nothing is stalled any more.
    const batch = await post(`batches/${batchOf['RD-UPLOAD-1']}/redrive`);
    expect(batch).toEqual({ status: 202, body: { batchId: batchOf['RD-UPLOAD-1'], redriven: 0, serials: [] } });
    const cliBatch = await ztp('redrive', '--batch', batchOf['RD-CLI-1']!, '--url', host.httpBaseUrl!, '--json');
    expect(cliBatch.code).toBe(0);
    expect(JSON.parse(cliBatch.stdout)).toMatchObject({ status: 202, body: { batchId: batchOf['RD-CLI-1'], redriven: 0, serials: [] } });
    for (const serial of all) expect(identitiesOf(serial), serial).toHaveLength(1);
  });
});
