import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startGraphSimulator, type ProfileRule } from './index.js';
import { normaliseSerial } from './options.js';

/**
 * Starts the simulator for manual use and the local stack:
 *   GRAPH_STATIC_TOKEN=dev-token GRAPH_SIM_TIME_SCALE=600 npx tsx local/graph-simulator/main.ts
 * Prints one JSON line with baseUrl (and caFile when https) and runs until interrupted.
 */

const env = process.env;
const number = (name: string): number | undefined => {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got "${text}"`);
  return value;
};
const list = (name: string): string[] =>
  (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const token = env.GRAPH_STATIC_TOKEN ?? env.GRAPH_SIM_TOKEN;
if (!token) throw new Error('Set GRAPH_STATIC_TOKEN (the bearer token clients must send)');

const profileRules: ProfileRule[] = env.GRAPH_SIM_PROFILE_RULES
  ? (JSON.parse(env.GRAPH_SIM_PROFILE_RULES) as ProfileRule[])
  : [{ groupTag: '/.*/', profileName: 'Default Autopilot profile' }];

/** Rule 25 from the command line: import rows with these serials (compared trimmed, any case) are refused. */
function refusedImportSerials(serials: string[]): { refuseImportRowsWhere?: (row: Readonly<Record<string, unknown>>) => boolean } {
  if (serials.length === 0) return {};
  const refused = new Set(serials.map(normaliseSerial));
  return { refuseImportRowsWhere: (row) => typeof row.serialNumber === 'string' && refused.has(normaliseSerial(row.serialNumber)) };
}

const simulator = await startGraphSimulator({
  token,
  port: number('GRAPH_SIM_PORT') ?? 0,
  https: env.GRAPH_SIM_HTTPS === 'true',
  clock: { timeScale: number('GRAPH_SIM_TIME_SCALE') ?? number('ZTP_TIME_SCALE') ?? 1 },
  profileRules,
  otherTenantSerials: list('GRAPH_SIM_OTHER_TENANT_SERIALS'),
  ...refusedImportSerials(list('GRAPH_SIM_REFUSED_IMPORT_SERIALS')),
  devicesBoot: env.GRAPH_SIM_DEVICES_BOOT !== 'false',
  autopilotSelectFails: env.GRAPH_SIM_AUTOPILOT_SELECT_FAILS !== 'false',
  throttle: {
    writesPer20s: number('GRAPH_SIM_WRITES_PER_20S'),
    requestsPer20s: number('GRAPH_SIM_REQUESTS_PER_20S'),
  },
  faults: {
    seed: number('GRAPH_SIM_FAULT_SEED') ?? 1,
    errorRate5xx: number('GRAPH_SIM_ERROR_RATE_5XX') ?? 0,
    dropRate: number('GRAPH_SIM_DROP_RATE') ?? 0,
    delayMs: number('GRAPH_SIM_DELAY_MS') ?? 0,
  },
});

let caFile: string | undefined;
if (simulator.caCertPem) {
  caFile = env.GRAPH_SIM_CA_FILE ?? '.local/graph-simulator-ca.pem';
  mkdirSync(path.dirname(caFile), { recursive: true });
  writeFileSync(caFile, simulator.caCertPem);
}
console.log(JSON.stringify({ graphSimulator: simulator.baseUrl, caFile }));

const shutdown = (): void => {
  void simulator.stop().then(() => process.exit(0));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
