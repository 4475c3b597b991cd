import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, type AppConfig } from '../../shared/config.js';
import { scaled } from '../../shared/policies.js';
import { ConfigError } from '../../shared/errors.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const SUPPLIERS_JSON = '[{"id": "contoso", "name": "Contoso Ltd", "allowedGroupTags": ["MPS-STD"], "defaultGroupTag": "MPS-STD"}]';
const CONTOSO = { id: 'contoso', name: 'Contoso Ltd', allowedGroupTags: ['MPS-STD'], defaultGroupTag: 'MPS-STD' };

/** The least a deployment must set. */
const BASE: Readonly<Record<string, string>> = {
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  ServiceBusConnection: 'Endpoint=sb://127.0.0.1;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true',
  REPROVISION_WEBHOOK_SECRET: '0123456789abcdef',
  ZTP_SUPPLIERS: SUPPLIERS_JSON,
};

/** A simulator on this machine, as the local stack and the tests run one. */
const SIMULATOR: Readonly<Record<string, string>> = { GRAPH_BASE_URL: 'http://127.0.0.1:8080', GRAPH_STATIC_TOKEN: 'sim-token' };

function load(overrides: Record<string, string | undefined> = {}): AppConfig {
  return loadConfig({ ...BASE, ...overrides });
}

/** The ConfigError loadConfig throws; anything else (or nothing) fails the test. */
function refusal(overrides: Record<string, string | undefined>): ConfigError {
  let thrown: unknown;
  try {
    load(overrides);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  return thrown as ConfigError;
}

describe('required settings', () => {
  it.each(['AzureWebJobsStorage', 'REPROVISION_WEBHOOK_SECRET', 'ZTP_SUPPLIERS'])('%s: refused when unset, empty or blank', (setting) => {
    for (const value of [undefined, '', '   ']) {
      expect(refusal({ [setting]: value }).setting, `${setting}=${JSON.stringify(value)}`).toBe(setting);
    }
  });

  it('ServiceBusConnection: refused when neither it nor the managed-identity form is set', () => {
    expect(refusal({ ServiceBusConnection: undefined }).setting).toBe('ServiceBusConnection');
    expect(refusal({ ServiceBusConnection: ' ', ServiceBusConnection__fullyQualifiedNamespace: '' }).setting).toBe('ServiceBusConnection');
  });

  it('ServiceBusConnection__fullyQualifiedNamespace alone selects the managed identity', () => {
    const config = load({ ServiceBusConnection: undefined, ServiceBusConnection__fullyQualifiedNamespace: 'ztp.servicebus.windows.net' });
    expect(config.serviceBus).toEqual({ fullyQualifiedNamespace: 'ztp.servicebus.windows.net' });
  });

  it('a connection string wins over the managed-identity form', () => {
    const config = load({ ServiceBusConnection__fullyQualifiedNamespace: 'ztp.servicebus.windows.net' });
    expect(config.serviceBus).toEqual({ connectionString: BASE.ServiceBusConnection });
  });

  it('values are trimmed', () => {
    const config = load({ AzureWebJobsStorage: '  UseDevelopmentStorage=true \n', LOG_LEVEL: ' debug ' });
    expect(config.storage).toEqual({ connectionString: 'UseDevelopmentStorage=true' });
    expect(config.logLevel).toBe('debug');
  });
});

describe('identity-based storage (the Functions host settings)', () => {
  const identity = { AzureWebJobsStorage: undefined };

  it('the account name alone names the public cloud endpoints', () => {
    const config = load({ ...identity, AzureWebJobsStorage__accountName: 'stztp01' });
    expect(config.storage).toEqual({
      blobServiceUri: 'https://stztp01.blob.core.windows.net',
      tableServiceUri: 'https://stztp01.table.core.windows.net',
      queueServiceUri: 'https://stztp01.queue.core.windows.net',
      credential: undefined,
      clientId: undefined,
    });
  });

  it('the three service URIs (a national cloud, a private endpoint), with a user-assigned managed identity', () => {
    const config = load({
      ...identity,
      AzureWebJobsStorage__blobServiceUri: 'https://stztp01.blob.core.usgovcloudapi.net/',
      AzureWebJobsStorage__tableServiceUri: 'https://stztp01.table.core.usgovcloudapi.net',
      AzureWebJobsStorage__queueServiceUri: 'https://stztp01.queue.core.usgovcloudapi.net',
      AzureWebJobsStorage__credential: 'managedidentity',
      AzureWebJobsStorage__clientId: '8c3a1e1c-0000-4000-8000-000000000001',
    });
    expect(config.storage).toEqual({
      blobServiceUri: 'https://stztp01.blob.core.usgovcloudapi.net',
      tableServiceUri: 'https://stztp01.table.core.usgovcloudapi.net',
      queueServiceUri: 'https://stztp01.queue.core.usgovcloudapi.net',
      credential: 'managedidentity',
      clientId: '8c3a1e1c-0000-4000-8000-000000000001',
    });
  });

  it('a connection string wins over the identity-based settings', () => {
    expect(load({ AzureWebJobsStorage__accountName: 'stztp01' }).storage).toEqual({ connectionString: 'UseDevelopmentStorage=true' });
  });

  it('refuses a partial set of service URIs, a bad account name and an unknown credential, naming the setting', () => {
    expect(refusal({ ...identity, AzureWebJobsStorage__blobServiceUri: 'https://st.blob.core.windows.net' }).setting).toBe(
      'AzureWebJobsStorage__tableServiceUri',
    );
    expect(refusal({ ...identity, AzureWebJobsStorage__accountName: 'Not_An_Account' }).setting).toBe('AzureWebJobsStorage__accountName');
    expect(
      refusal({ ...identity, AzureWebJobsStorage__accountName: 'stztp01', AzureWebJobsStorage__credential: 'clientsecret' }).setting,
    ).toBe('AzureWebJobsStorage__credential');
    expect(
      refusal({ ...identity, AzureWebJobsStorage__accountName: 'stztp01', AzureWebJobsStorage__queueServiceUri: 'ftp://x' }).setting,
    ).toBe('AzureWebJobsStorage__queueServiceUri');
  });
});

describe('defaults', () => {
  it('fill every optional setting with the documented value', () => {
    const config = load();
    expect(config).toMatchObject({
      storage: { connectionString: 'UseDevelopmentStorage=true' },
      webhookKeys: [Buffer.from('0123456789abcdef')],
      suppliers: [CONTOSO],
      timeScale: 1,
      logLevel: 'info',
      graph: {
        baseUrl: 'https://graph.microsoft.com',
        writesPerWindow: 100,
        requestsPerWindow: 1000,
        budgetHeadroom: 0.1,
        budgetClockToleranceMs: SECOND,
        requestTimeoutMs: 30 * SECOND,
        importChunkSize: 100,
        pageSize: 999,
        syncIntervalMs: 10 * MINUTE,
        defaultRetryAfterMs: 20 * SECOND,
      },
      intake: { maxFileBytes: 512 * 1024 * 1024, maxRows: 100_000, importChunkSize: 100, importIdPrefix: 'ztp-' },
      pipeline: {
        importDeadlineMs: 120 * MINUTE,
        profileDeadlineMs: 72 * HOUR,
        enrolmentDeadlineMs: 60 * DAY,
        reprovisionDeadlineMs: 24 * HOUR,
        firstPollMs: 60 * SECOND,
        importPollMs: 10 * SECOND,
        maxPollIntervalMs: 360 * MINUTE,
        retagSettleMs: 30 * MINUTE,
        firstRetryMs: 30 * SECOND,
        maxRetryMs: 30 * MINUTE,
        maxTransientRetries: 8,
        perDeviceReadLimit: 20,
      },
    });
    expect(config.graph).not.toHaveProperty('staticToken');
  });
});

interface NumericSetting {
  readonly setting: string;
  readonly read: (config: AppConfig) => number;
  /** Milliseconds per unit of the setting; 1 for counts. */
  readonly unit: number;
  readonly integer: boolean;
  readonly max?: number;
  /** Settings it needs beside it. */
  readonly with?: Readonly<Record<string, string>>;
}

const NUMERIC: readonly NumericSetting[] = [
  { setting: 'GRAPH_WRITES_PER_20S', read: (c) => c.graph.writesPerWindow, unit: 1, integer: true },
  { setting: 'GRAPH_REQUESTS_PER_20S', read: (c) => c.graph.requestsPerWindow, unit: 1, integer: true },
  { setting: 'GRAPH_REQUEST_TIMEOUT_MS', read: (c) => c.graph.requestTimeoutMs, unit: 1, integer: true },
  { setting: 'GRAPH_IMPORT_CHUNK_SIZE', read: (c) => c.graph.importChunkSize, unit: 1, integer: true, max: 500 },
  { setting: 'GRAPH_PAGE_SIZE', read: (c) => c.graph.pageSize, unit: 1, integer: true, max: 999 },
  { setting: 'GRAPH_SYNC_INTERVAL_SECONDS', read: (c) => c.graph.syncIntervalMs, unit: SECOND, integer: false },
  { setting: 'GRAPH_DEFAULT_RETRY_AFTER_SECONDS', read: (c) => c.graph.defaultRetryAfterMs, unit: SECOND, integer: false },
  { setting: 'ZTP_TIME_SCALE', read: (c) => c.timeScale, unit: 1, integer: false, max: 1_000_000, with: SIMULATOR },
  { setting: 'ZTP_MAX_FILE_BYTES', read: (c) => c.intake.maxFileBytes, unit: 1, integer: true },
  { setting: 'ZTP_MAX_ROWS', read: (c) => c.intake.maxRows, unit: 1, integer: true },
  { setting: 'ZTP_IMPORT_CHUNK_SIZE', read: (c) => c.intake.importChunkSize, unit: 1, integer: true, max: 500 },
  { setting: 'ZTP_IMPORT_DEADLINE_MINUTES', read: (c) => c.pipeline.importDeadlineMs, unit: MINUTE, integer: false },
  { setting: 'ZTP_PROFILE_DEADLINE_HOURS', read: (c) => c.pipeline.profileDeadlineMs, unit: HOUR, integer: false },
  { setting: 'ZTP_ENROLMENT_DEADLINE_DAYS', read: (c) => c.pipeline.enrolmentDeadlineMs, unit: DAY, integer: false },
  { setting: 'ZTP_REPROVISION_DEADLINE_HOURS', read: (c) => c.pipeline.reprovisionDeadlineMs, unit: HOUR, integer: false },
  { setting: 'ZTP_FIRST_POLL_SECONDS', read: (c) => c.pipeline.firstPollMs, unit: SECOND, integer: false },
  { setting: 'ZTP_IMPORT_POLL_SECONDS', read: (c) => c.pipeline.importPollMs, unit: SECOND, integer: false },
  { setting: 'ZTP_MAX_POLL_INTERVAL_MINUTES', read: (c) => c.pipeline.maxPollIntervalMs, unit: MINUTE, integer: false },
  { setting: 'ZTP_RETAG_SETTLE_MINUTES', read: (c) => c.pipeline.retagSettleMs, unit: MINUTE, integer: false },
  { setting: 'ZTP_FIRST_RETRY_SECONDS', read: (c) => c.pipeline.firstRetryMs, unit: SECOND, integer: false },
  { setting: 'ZTP_MAX_RETRY_MINUTES', read: (c) => c.pipeline.maxRetryMs, unit: MINUTE, integer: false },
  { setting: 'ZTP_MAX_TRANSIENT_RETRIES', read: (c) => c.pipeline.maxTransientRetries, unit: 1, integer: true },
  { setting: 'ZTP_PER_DEVICE_READ_LIMIT', read: (c) => c.pipeline.perDeviceReadLimit, unit: 1, integer: true },
];

const NOT_POSITIVE = ['0', '-1', '-0.5', 'abc', '12abc', 'NaN', 'Infinity', '-Infinity'];

describe('numeric settings', () => {
  const loadRow = (row: NumericSetting, value?: string) => load({ ...row.with, ...(value === undefined ? {} : { [row.setting]: value }) });
  const refuseRow = (row: NumericSetting, value: string) => refusal({ ...row.with, [row.setting]: value });

  it.each(NUMERIC.map((row) => [row.setting, row] as const))('%s: a whole value is read in its unit', (_setting, row) => {
    expect(row.read(loadRow(row, '7'))).toBe(7 * row.unit);
    expect(row.read(loadRow(row, ' 7 '))).toBe(7 * row.unit);
  });

  it.each(NUMERIC.map((row) => [row.setting, row] as const))('%s: blank means the default', (_setting, row) => {
    expect(row.read(loadRow(row, '  '))).toBe(row.read(loadRow(row)));
  });

  it.each(NUMERIC.flatMap((row) => NOT_POSITIVE.map((value) => [row.setting, value, row] as const)))(
    '%s: refuses %j',
    (setting, value, row) => {
      expect(refuseRow(row, value).setting).toBe(setting);
    },
  );

  it.each(NUMERIC.filter((row) => row.integer).map((row) => [row.setting, row] as const))('%s: refuses a fraction', (setting, row) => {
    expect(refuseRow(row, '2.5').setting).toBe(setting);
  });

  it.each(NUMERIC.filter((row) => !row.integer).map((row) => [row.setting, row] as const))('%s: accepts a fraction', (_setting, row) => {
    expect(row.read(loadRow(row, '2.5'))).toBe(2.5 * row.unit);
  });

  it.each(NUMERIC.filter((row) => row.max !== undefined).map((row) => [row.setting, row.max!, row] as const))(
    '%s: accepts at most %i',
    (setting, max, row) => {
      expect(row.read(loadRow(row, String(max)))).toBe(max * row.unit);
      expect(refuseRow(row, String(max + 1)).setting).toBe(setting);
    },
  );
});

describe('the Graph budget', () => {
  it('GRAPH_BUDGET_HEADROOM: a fraction from 0 up to 1, which must leave something of both limits', () => {
    expect(load({ GRAPH_BUDGET_HEADROOM: '0' }).graph.budgetHeadroom).toBe(0);
    expect(load({ GRAPH_BUDGET_HEADROOM: ' 0.25 ' }).graph.budgetHeadroom).toBe(0.25);
    expect(load({ GRAPH_BUDGET_HEADROOM: '  ' }).graph.budgetHeadroom).toBe(0.1);
    for (const value of ['1', '1.5', '-0.1', 'abc', 'NaN', 'Infinity', '10%']) {
      expect(refusal({ GRAPH_BUDGET_HEADROOM: value }).setting, value).toBe('GRAPH_BUDGET_HEADROOM');
    }
    // 0.9 of 5 writes leaves 0.5: nothing to send.
    const error = refusal({ GRAPH_BUDGET_HEADROOM: '0.9', GRAPH_WRITES_PER_20S: '5' });
    expect(error.setting).toBe('GRAPH_BUDGET_HEADROOM');
    expect(error.message).toContain('GRAPH_WRITES_PER_20S=5');
  });

  it('GRAPH_BUDGET_CLOCK_TOLERANCE_MS: whole milliseconds from 0 to half a window', () => {
    expect(load({ GRAPH_BUDGET_CLOCK_TOLERANCE_MS: '0' }).graph.budgetClockToleranceMs).toBe(0);
    expect(load({ GRAPH_BUDGET_CLOCK_TOLERANCE_MS: '250' }).graph.budgetClockToleranceMs).toBe(250);
    expect(load({ GRAPH_BUDGET_CLOCK_TOLERANCE_MS: '10000' }).graph.budgetClockToleranceMs).toBe(10_000);
    for (const value of ['10001', '-1', '2.5', 'abc', 'Infinity']) {
      expect(refusal({ GRAPH_BUDGET_CLOCK_TOLERANCE_MS: value }).setting, value).toBe('GRAPH_BUDGET_CLOCK_TOLERANCE_MS');
    }
  });
});

describe('GRAPH_BASE_URL', () => {
  it.each([
    ['a trailing slash', 'http://127.0.0.1:8080/', 'http://127.0.0.1:8080'],
    ['several trailing slashes', 'https://sim.example//', 'https://sim.example'],
    ['a path', 'https://sim.example/graph', 'https://sim.example/graph'],
  ])('GRAPH_BASE_URL with %s', (_label, value, expected) => {
    expect(load({ GRAPH_BASE_URL: value, GRAPH_TOKEN_SCOPE: 'api://sim/.default' }).graph.baseUrl).toBe(expected);
  });

  it.each([['not a url'], ['/relative/path'], ['ftp://graph.microsoft.com'], ['file:///etc/passwd']])(
    'GRAPH_BASE_URL refuses %j',
    (value) => {
      expect(refusal({ GRAPH_BASE_URL: value }).setting).toBe('GRAPH_BASE_URL');
    },
  );

  it('a blank GRAPH_STATIC_TOKEN is no token, also against Microsoft Graph', () => {
    expect(load({ GRAPH_STATIC_TOKEN: '  ' }).graph).not.toHaveProperty('staticToken');
  });
});

/** Microsoft Graph's hosts in every national cloud, as they may be written. */
const MICROSOFT_GRAPH = [
  ['the default base URL', undefined],
  ['global Graph', 'https://graph.microsoft.com'],
  ['global Graph with a trailing slash', 'https://graph.microsoft.com/'],
  ['global Graph in capitals', 'https://GRAPH.MICROSOFT.COM'],
  ['global Graph with a trailing dot', 'https://graph.microsoft.com.'],
  ['global Graph with a trailing dot, port and version', 'https://graph.microsoft.com.:443/v1.0'],
  ['global Graph over http', 'http://graph.microsoft.com'],
  ['a Graph host under the global one', 'https://canary.graph.microsoft.com'],
  ['US Government L4 Graph', 'https://graph.microsoft.us'],
  ['US Government L5 (DoD) Graph', 'https://dod-graph.microsoft.us'],
  ['DoD Graph in capitals with a trailing dot', 'https://DOD-GRAPH.MICROSOFT.US.'],
  ['China Graph (21Vianet)', 'https://microsoftgraph.chinacloudapi.cn'],
] as const;

/** Hosts that can only be this machine. */
const LOOPBACK = [
  'http://127.0.0.1:8080',
  'https://127.0.0.1:8443/graph',
  'http://127.5.6.7',
  'http://127.1',
  'http://localhost:7071',
  'http://LOCALHOST.',
  'http://graph-sim.localhost',
  'http://[::1]:8443',
  'http://[0:0:0:0:0:0:0:1]',
  'http://[::ffff:127.0.0.1]',
];

/** Hosts that are neither Microsoft Graph nor this machine. */
const ELSEWHERE = [
  'https://sim.example',
  'http://10.0.0.5:8080',
  'http://0.0.0.0:8080',
  'http://128.0.0.1',
  'http://localhost.contoso.example',
  'http://127.0.0.1.nip.io',
  'http://[::2]',
  'https://graph.microsoft.com.contoso.example',
];

describe('GRAPH_STATIC_TOKEN: simulators only', () => {
  it.each(MICROSOFT_GRAPH)('is refused with %s', (_label, baseUrl) => {
    const error = refusal({ GRAPH_BASE_URL: baseUrl, GRAPH_STATIC_TOKEN: 'sim-token', GRAPH_TOKEN_SCOPE: 'https://x.example/.default' });
    expect(error.setting).toBe('GRAPH_STATIC_TOKEN');
    expect(error.message).toContain('GRAPH_STATIC_TOKEN');
  });

  it.each(ELSEWHERE)('is refused with %s, a host that is not listed as a simulator', (baseUrl) => {
    const error = refusal({ GRAPH_BASE_URL: baseUrl, GRAPH_STATIC_TOKEN: 'sim-token' });
    expect(error.setting).toBe('GRAPH_STATIC_TOKEN');
    expect(error.message).toContain('GRAPH_SIMULATOR_HOSTS');
  });

  it.each(LOOPBACK)('is used with %s, a loopback host', (baseUrl) => {
    const config = load({ GRAPH_BASE_URL: baseUrl, GRAPH_STATIC_TOKEN: ' sim-token ' });
    expect(config.graph).toMatchObject({ baseUrl: baseUrl.replace(/\/+$/, ''), staticToken: 'sim-token' });
  });

  it.each([
    ['https://sim.example', 'sim.example'],
    ['https://sim.example', 'other.example, SIM.EXAMPLE.'],
    ['https://SIM.example.:8443/graph', 'sim.example'],
    ['http://10.0.0.5:8080', '10.0.0.5,'],
    ['http://[fd00::5]:8080', '[fd00::5]'],
  ])('is used with %s when GRAPH_SIMULATOR_HOSTS is %j', (baseUrl, hosts) => {
    const config = load({ GRAPH_BASE_URL: baseUrl, GRAPH_STATIC_TOKEN: 'sim-token', GRAPH_SIMULATOR_HOSTS: hosts });
    expect(config.graph.staticToken).toBe('sim-token');
  });

  it('is refused for a host GRAPH_SIMULATOR_HOSTS does not list', () => {
    expect(refusal({ GRAPH_BASE_URL: 'https://sim.example', GRAPH_STATIC_TOKEN: 't', GRAPH_SIMULATOR_HOSTS: 'sim2.example' }).setting).toBe(
      'GRAPH_STATIC_TOKEN',
    );
  });
});

describe('GRAPH_SIMULATOR_HOSTS', () => {
  it.each([
    'graph.microsoft.com',
    'GRAPH.MICROSOFT.COM.',
    'canary.graph.microsoft.com',
    'graph.microsoft.us',
    'dod-graph.microsoft.us',
    'microsoftgraph.chinacloudapi.cn',
  ])('refuses to list %s, a Microsoft Graph host, even with nothing else set', (host) => {
    const error = refusal({ GRAPH_SIMULATOR_HOSTS: `sim.example, ${host}` });
    expect(error.setting).toBe('GRAPH_SIMULATOR_HOSTS');
    expect(error.message).toContain('Microsoft Graph');
  });

  it('cannot make Microsoft Graph a simulator by listing it', () => {
    for (const [, baseUrl] of MICROSOFT_GRAPH.filter(([, url]) => url !== undefined)) {
      const host = new URL(baseUrl!).hostname;
      expect(refusal({ GRAPH_BASE_URL: baseUrl, GRAPH_STATIC_TOKEN: 't', GRAPH_SIMULATOR_HOSTS: host }).setting, host).toBe(
        'GRAPH_SIMULATOR_HOSTS',
      );
      expect(refusal({ GRAPH_BASE_URL: baseUrl, ZTP_TIME_SCALE: '600', GRAPH_SIMULATOR_HOSTS: host }).setting, host).toBe(
        'GRAPH_SIMULATOR_HOSTS',
      );
    }
  });

  it.each(['https://sim.example', 'sim.example:8443', 'sim.example/graph', 'user@sim.example', 'sim example', 'sim.example?x'])(
    'refuses %j: host names only',
    (entry) => {
      expect(refusal({ GRAPH_SIMULATOR_HOSTS: entry }).setting).toBe('GRAPH_SIMULATOR_HOSTS');
    },
  );

  it('blank is no list', () => {
    expect(load({ GRAPH_SIMULATOR_HOSTS: ' ' }).graph.baseUrl).toBe('https://graph.microsoft.com');
  });
});

describe('GRAPH_TOKEN_SCOPE', () => {
  it.each([
    [undefined, 'https://graph.microsoft.com/.default'],
    ['https://graph.microsoft.com', 'https://graph.microsoft.com/.default'],
    ['https://Graph.Microsoft.com./beta', 'https://graph.microsoft.com/.default'],
    ['https://graph.microsoft.us', 'https://graph.microsoft.us/.default'],
    ['https://GRAPH.MICROSOFT.US.', 'https://graph.microsoft.us/.default'],
    ['https://dod-graph.microsoft.us', 'https://dod-graph.microsoft.us/.default'],
    ['https://microsoftgraph.chinacloudapi.cn', 'https://microsoftgraph.chinacloudapi.cn/.default'],
  ])('is derived from GRAPH_BASE_URL %j: %s', (baseUrl, scope) => {
    expect(load({ GRAPH_BASE_URL: baseUrl }).graph.tokenScope).toBe(scope);
  });

  it('may be given for a Graph whose scope is not known', () => {
    const config = load({ GRAPH_BASE_URL: 'https://graph.contoso.example', GRAPH_TOKEN_SCOPE: ' api://graph-gateway/.default ' });
    expect(config.graph.tokenScope).toBe('api://graph-gateway/.default');
  });

  it.each(['https://graph.contoso.example', 'https://canary.graph.microsoft.com', 'http://127.0.0.1:8080'])(
    'is required, naming both settings, for %s without a static token',
    (baseUrl) => {
      const error = refusal({ GRAPH_BASE_URL: baseUrl });
      expect(error.setting).toBe('GRAPH_TOKEN_SCOPE');
      expect(error.message).toContain('GRAPH_TOKEN_SCOPE');
      expect(error.message).toContain('GRAPH_BASE_URL');
    },
  );

  it('is not needed with a static token', () => {
    expect(load(SIMULATOR).graph.tokenScope).toBeUndefined();
  });

  it('must agree with the national cloud GRAPH_BASE_URL names', () => {
    const error = refusal({ GRAPH_BASE_URL: 'https://graph.microsoft.us', GRAPH_TOKEN_SCOPE: 'https://graph.microsoft.com/.default' });
    expect(error.setting).toBe('GRAPH_TOKEN_SCOPE');
    expect(error.message).toContain('https://graph.microsoft.us/.default');
    expect(
      load({ GRAPH_BASE_URL: 'https://graph.microsoft.us', GRAPH_TOKEN_SCOPE: 'https://graph.microsoft.us/.default' }).graph.tokenScope,
    ).toBe('https://graph.microsoft.us/.default');
  });

  it.each(['User.Read', 'https://graph.microsoft.com', 'https://graph.contoso.example/.default extra'])(
    'refuses %j: an app-only scope ends in /.default',
    (scope) => {
      expect(refusal({ GRAPH_BASE_URL: 'https://graph.contoso.example', GRAPH_TOKEN_SCOPE: scope }).setting).toBe('GRAPH_TOKEN_SCOPE');
    },
  );
});

describe('ZTP_TIME_SCALE: 1 unless Graph is a simulator', () => {
  it.each(MICROSOFT_GRAPH)('is refused above or below 1 with %s', (_label, baseUrl) => {
    // A host under Microsoft Graph's has no scope of its own.
    const scope = baseUrl?.includes('canary.') ? { GRAPH_TOKEN_SCOPE: 'https://canary.graph.microsoft.com/.default' } : {};
    for (const scale of ['600', '2', '0.5']) {
      const error = refusal({ GRAPH_BASE_URL: baseUrl, ZTP_TIME_SCALE: scale, ...scope });
      expect(error.setting).toBe('ZTP_TIME_SCALE');
      expect(error.message).toContain('ZTP_TIME_SCALE');
    }
  });

  it.each(ELSEWHERE)('is refused with %s, a host that is not listed as a simulator', (baseUrl) => {
    expect(refusal({ GRAPH_BASE_URL: baseUrl, ZTP_TIME_SCALE: '60', GRAPH_TOKEN_SCOPE: 'api://sim/.default' }).setting).toBe(
      'ZTP_TIME_SCALE',
    );
  });

  it('is 1 against Microsoft Graph', () => {
    expect(load({ ZTP_TIME_SCALE: '1' }).timeScale).toBe(1);
    expect(load({ ZTP_TIME_SCALE: '1.0', GRAPH_BASE_URL: 'https://graph.microsoft.us' }).timeScale).toBe(1);
  });

  it.each(LOOPBACK)('may run fast with %s, a loopback host', (baseUrl) => {
    expect(load({ GRAPH_BASE_URL: baseUrl, GRAPH_STATIC_TOKEN: 't', ZTP_TIME_SCALE: '600' }).timeScale).toBe(600);
  });

  it('may run fast with a host listed in GRAPH_SIMULATOR_HOSTS', () => {
    const env = { GRAPH_BASE_URL: 'https://sim.example', ZTP_TIME_SCALE: '60', GRAPH_SIMULATOR_HOSTS: 'sim.example' };
    expect(load({ ...env, GRAPH_STATIC_TOKEN: 't' }).timeScale).toBe(60);
    expect(load({ ...env, GRAPH_TOKEN_SCOPE: 'api://sim/.default' }).timeScale).toBe(60);
  });
});

describe('ZTP_IMPORT_ID_PREFIX', () => {
  it.each([
    ['ztp-', 'ztp-'],
    ['Contoso-01', 'Contoso-01'],
    ['a', 'a'],
    ['x'.repeat(32), 'x'.repeat(32)],
    [' prod- ', 'prod-'],
  ])('accepts %j as %j', (value, expected) => {
    expect(load({ ZTP_IMPORT_ID_PREFIX: value }).intake.importIdPrefix).toBe(expected);
  });

  it('defaults to ztp- when blank', () => {
    expect(load({ ZTP_IMPORT_ID_PREFIX: ' ' }).intake.importIdPrefix).toBe('ztp-');
  });

  it.each([['x'.repeat(33)], ['ztp_'], ['ztp:'], ['ztp.'], ['z tp'], ['ztp/'], ['zté-']])('refuses %j', (value) => {
    expect(refusal({ ZTP_IMPORT_ID_PREFIX: value }).setting).toBe('ZTP_IMPORT_ID_PREFIX');
  });
});

describe('REPROVISION_WEBHOOK_SECRET', () => {
  const keys = (value: string) => load({ REPROVISION_WEBHOOK_SECRET: value }).webhookKeys;

  it.each([['x'.repeat(15)], ['short']])('refuses %j: under 16 characters', (value) => {
    expect(refusal({ REPROVISION_WEBHOOK_SECRET: value }).setting).toBe('REPROVISION_WEBHOOK_SECRET');
  });

  it('counts the length without the surrounding blanks', () => {
    expect(refusal({ REPROVISION_WEBHOOK_SECRET: `  ${'x'.repeat(15)}  ` }).setting).toBe('REPROVISION_WEBHOOK_SECRET');
  });

  it('takes a plain secret as its UTF-8 bytes', () => {
    expect(keys('x'.repeat(16))).toEqual([Buffer.from('x'.repeat(16))]);
    expect(keys(' geheim-schlüssel-für-ztp ')).toEqual([Buffer.from('geheim-schlüssel-für-ztp', 'utf8')]);
  });

  it('takes a whsec_ secret as the bytes its base64 rest decodes to', () => {
    expect(keys('whsec_' + 'A'.repeat(40))).toEqual([Buffer.alloc(30)]);
    expect(keys('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toEqual([Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64')]);
  });

  it('reads two secrets separated by a comma, in order, each trimmed', () => {
    const first = 'new-secret-0123456789';
    expect(keys(` ${first} , whsec_${Buffer.alloc(24, 7).toString('base64')} `)).toEqual([Buffer.from(first), Buffer.alloc(24, 7)]);
  });

  it.each([
    ['the second of two is too short', `${'a'.repeat(16)},${'b'.repeat(15)}`, 'secret 2 of 2 is shorter than 16 characters'],
    ['the first of two is too short', `tiny-one,${'b'.repeat(16)}`, 'secret 1 of 2 is shorter than 16 characters'],
    ['an empty entry between two', `${'a'.repeat(16)},,${'b'.repeat(16)}`, 'secret 2 of 3 is empty'],
    ['a trailing comma', `${'a'.repeat(16)},`, 'secret 2 of 2 is empty'],
    ['only commas', ' , , ', 'is empty'],
    ['whsec_ with characters outside base64', 'whsec_not*base64*at*all*0123', 'is not valid base64'],
    ['whsec_ with a broken length', `whsec_${'A'.repeat(41)}`, 'is not valid base64'],
    ['whsec_ decoding to 15 bytes', `whsec_${Buffer.alloc(15, 1).toString('base64')}`, 'decodes to fewer than 16 bytes'],
  ])('refuses %s, saying what is wrong without the secret', (_label, value, message) => {
    const error = refusal({ REPROVISION_WEBHOOK_SECRET: value });
    expect(error.setting).toBe('REPROVISION_WEBHOOK_SECRET');
    expect(error.message).toContain(message);
    for (const secret of value.split(',').filter((part) => part.trim().length > 3)) expect(error.message).not.toContain(secret.trim());
  });
});

describe('ZTP_SUPPLIERS', () => {
  const folder = mkdtempSync(join(tmpdir(), 'ztp-config-'));
  const policyFile = join(folder, 'suppliers.json');
  writeFileSync(policyFile, SUPPLIERS_JSON);
  const brokenFile = join(folder, 'broken.json');
  writeFileSync(brokenFile, '[{"id": "contoso"}]');

  it('reads the policy inline', () => {
    expect(load().suppliers).toEqual([CONTOSO]);
  });

  it('reads the policy from a file path', () => {
    expect(load({ ZTP_SUPPLIERS: policyFile }).suppliers).toEqual([CONTOSO]);
    expect(load({ ZTP_SUPPLIERS: `  ${policyFile}  ` }).suppliers).toEqual([CONTOSO]);
  });

  it.each([
    ['JSON that does not parse', '[{'],
    ['an object instead of a list', '{"id": "contoso", "name": "Contoso Ltd"}'],
    ['a supplier without a name', '[{"id": "contoso"}]'],
    ['a file that does not exist', join(folder, 'missing.json')],
    ['a file with an invalid policy', brokenFile],
  ])('refuses %s, naming the setting', (_label, value) => {
    expect(refusal({ ZTP_SUPPLIERS: value }).setting).toBe('ZTP_SUPPLIERS');
  });
});

describe('time scale', () => {
  it('keeps every duration in real-world units: scaling is the caller’s, through scaled', () => {
    const fast = load({ ...SIMULATOR, ZTP_TIME_SCALE: '600' });
    expect(fast.timeScale).toBe(600);
    expect(fast.pipeline).toEqual(load().pipeline);
    expect(fast.graph.syncIntervalMs).toBe(10 * MINUTE);
  });

  it.each([
    [1, MINUTE, MINUTE],
    [600, MINUTE, 100],
    [600, 72 * HOUR, 432 * SECOND],
    [0.5, MINUTE, 2 * MINUTE],
    [1_000_000, DAY, 86.4],
  ])('scaled at %s× turns %i ms into %s ms', (timeScale, ms, expected) => {
    expect(scaled({ timeScale }, ms)).toBeCloseTo(expected, 9);
  });

  it('scales a loaded configuration’s waits', () => {
    const config = load({ ...SIMULATOR, ZTP_TIME_SCALE: '600' });
    expect(scaled(config, config.pipeline.firstPollMs)).toBe(100);
    expect(scaled(config, config.pipeline.importDeadlineMs)).toBe(12 * SECOND);
  });
});

describe('ZTP_HEALTH_PROBE_SECONDS', () => {
  it('defaults to a minute, is read in real seconds whatever the time scale, and at most an hour', () => {
    expect(load().health.probeIntervalMs).toBe(60 * SECOND);
    expect(
      load({ ZTP_HEALTH_PROBE_SECONDS: '1.5', ZTP_TIME_SCALE: '600', GRAPH_BASE_URL: 'https://127.0.0.1:8443', GRAPH_STATIC_TOKEN: 'sim' })
        .health.probeIntervalMs,
    ).toBe(1.5 * SECOND);
    expect(load({ ZTP_HEALTH_PROBE_SECONDS: '3600' }).health.probeIntervalMs).toBe(HOUR);
    for (const bad of ['0', '-1', 'abc', '3601'])
      expect(refusal({ ZTP_HEALTH_PROBE_SECONDS: bad }).setting).toBe('ZTP_HEALTH_PROBE_SECONDS');
  });
});

describe('ZTP_REPROVISIONING_ENABLED', () => {
  it('is on unless set to false', () => {
    expect(load().reprovisioning.enabled).toBe(true);
    expect(load({ ZTP_REPROVISIONING_ENABLED: ' ' }).reprovisioning.enabled).toBe(true);
    expect(load({ ZTP_REPROVISIONING_ENABLED: 'true' }).reprovisioning.enabled).toBe(true);
    expect(load({ ZTP_REPROVISIONING_ENABLED: 'False' }).reprovisioning.enabled).toBe(false);
  });

  it('refuses anything but true or false, naming the setting', () => {
    for (const bad of ['0', 'no', 'off', 'yes', '1']) {
      const error = refusal({ ZTP_REPROVISIONING_ENABLED: bad });
      expect(error.setting).toBe('ZTP_REPROVISIONING_ENABLED');
      expect(error.message).toContain('true or false');
    }
  });
});
