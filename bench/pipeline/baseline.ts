import type { RequestLogEntry, SimClock } from '../../local/graph-simulator/index.js';
import { log } from './format.js';
import { machineState, type MachineState } from './machine.js';
import type { PipelineOptions } from './options.js';
import { startSimulator } from './simulator.js';
import { SIMULATOR_TOKEN, type Workload, type WorkloadDevice } from './workload.js';

/**
 * What people run today, for comparison: the WindowsAutopilotIntune module's
 * Import-AutopilotCSV, over plain fetch as its Invoke-RestMethod calls go —
 *   1. one POST per device to importedWindowsAutopilotDeviceIdentities, one after another;
 *   2. list every imported record (following @odata.nextLink), and again every 15 s while
 *      any is still in progress;
 *   3. DELETE each listed record.
 * Two departures, both in its favour: the module dies on the first 429, this one waits
 * Retry-After and carries on (and counts them); and it treats `pending` as in progress as
 * well as `unknown` (the module checks only `unknown`, so it would report and delete records
 * before Autopilot had finished them). All the devices go through one run, as if the files
 * were merged into one CSV, rather than one run per file.
 */

export interface BaselineResult {
  /** Simulated seconds from the start to the last POST answered. */
  postedSeconds: number;
  /** Simulated seconds until a listing showed nothing in progress: the baseline knows every outcome. */
  registeredSeconds: number;
  /** Simulated seconds until every record was deleted. */
  cleanedSeconds: number;
  listings: number;
  /** Final import status → devices. */
  outcomes: Record<string, number>;
  throttledRetries: number;
  /** Mean simulated seconds per request (local round trips scaled by the clock). */
  meanRequestSeconds: number;
}

export interface BaselineOptions {
  baseUrl: string;
  token: string;
  clock: SimClock;
  devices: readonly WorkloadDevice[];
  onProgress?: (text: string) => void;
}

interface ImportedRecord {
  id: string;
  state: { deviceImportStatus: string };
}

const IMPORTED = 'deviceManagement/importedWindowsAutopilotDeviceIdentities';
const IN_PROGRESS = new Set(['unknown', 'pending']);
const POLL_SECONDS = 15;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runImportAutopilotCsvBaseline(options: BaselineOptions): Promise<BaselineResult> {
  const { clock } = options;
  const startedAt = clock.now();
  const since = (): number => (clock.now() - startedAt) / 1000;
  let throttledRetries = 0;
  let requests = 0;
  let requestSimMs = 0;

  /** One call, repeated after Retry-After while Graph answers 429. */
  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown): Promise<unknown> => {
    for (;;) {
      const sentAt = clock.now();
      const response = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${options.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      requests += 1;
      requestSimMs += clock.now() - sentAt;
      if (response.status === 429) {
        throttledRetries += 1;
        const seconds = Number(response.headers.get('retry-after') ?? '');
        await sleep(Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : clock.toRealMs(20_000));
        continue;
      }
      if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text.slice(0, 200)}`);
      return text === '' ? undefined : (JSON.parse(text) as unknown);
    }
  };

  const root = `${options.baseUrl}/beta/${IMPORTED}`;
  for (const [index, device] of options.devices.entries()) {
    await call('POST', root, {
      '@odata.type': '#microsoft.graph.importedWindowsAutopilotDeviceIdentity',
      groupTag: device.groupTag ?? '',
      serialNumber: device.serialNumber,
      productKey: '',
      hardwareIdentifier: device.hardwareHash,
      assignedUserPrincipalName: device.assignedUser ?? '',
      state: {
        '@odata.type': 'microsoft.graph.importedWindowsAutopilotDeviceIdentityState',
        deviceImportStatus: 'pending',
        deviceRegistrationId: '',
        deviceErrorCode: 0,
        deviceErrorName: '',
      },
    });
    if ((index + 1) % 1000 === 0)
      options.onProgress?.(`baseline: ${index + 1} devices posted at ${Math.round(since())} s, ${throttledRetries} 429s so far`);
  }
  const postedSeconds = since();

  let listings = 0;
  let records: ImportedRecord[];
  for (;;) {
    records = [];
    for (let url: string | undefined = root; url !== undefined;) {
      const page = (await call('GET', url)) as { value: ImportedRecord[]; '@odata.nextLink'?: string };
      records.push(...page.value);
      url = page['@odata.nextLink'];
    }
    listings += 1;
    const processing = records.filter((record) => IN_PROGRESS.has(record.state.deviceImportStatus)).length;
    options.onProgress?.(`baseline: waiting for ${processing} of ${records.length} at ${Math.round(since())} s`);
    if (processing === 0) break;
    await sleep(clock.toRealMs(POLL_SECONDS * 1000));
  }
  const registeredSeconds = since();

  const outcomes: Record<string, number> = {};
  for (const record of records) outcomes[record.state.deviceImportStatus] = (outcomes[record.state.deviceImportStatus] ?? 0) + 1;
  for (const record of records) await call('DELETE', `${root}/${encodeURIComponent(record.id)}`);
  return {
    postedSeconds,
    registeredSeconds,
    cleanedSeconds: since(),
    listings,
    outcomes,
    throttledRetries,
    meanRequestSeconds: requests === 0 ? 0 : requestSimMs / requests / 1000,
  };
}

export interface BaselineRun {
  result: BaselineResult;
  requests: readonly RequestLogEntry[];
  machineAtEnd: MachineState;
}

/** On a simulator of its own, so that none of the product run's requests or records count against it. */
export async function runBaseline(options: PipelineOptions, workload: Workload): Promise<BaselineRun> {
  const sim = await startSimulator(options.scale);
  try {
    let lastPrint = 0;
    const result = await runImportAutopilotCsvBaseline({
      baseUrl: sim.baseUrl,
      token: SIMULATOR_TOKEN,
      clock: sim.clock,
      devices: workload.devices,
      onProgress: (text) => {
        if (Date.now() - lastPrint < 5_000) return;
        lastPrint = Date.now();
        log(`  ${text}`);
      },
    });
    return { result, requests: sim.requestLog(), machineAtEnd: machineState() };
  } finally {
    await sim.stop();
  }
}
