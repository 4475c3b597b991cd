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
    expect(config.storageConnectionString).toBe('UseDevelopmentStorage=true');
    expect(config.logLevel).toBe('debug');
  });
});

describe('defaults', () => {
  it('fill every optional setting with the documented value', () => {
    const config = load();
    expect(config).toMatchObject({
      storageConnectionString: 'UseDevelopmentStorage=true',
      webhookKeys: [Buffer.from('0123456789abcdef')],
      suppliers: [CONTOSO],
      timeScale: 1,
      logLevel: 'info',
      graph: {
        baseUrl: 'https://graph.microsoft.com',
        writesPerWindow: 100,
        requestsPerWindow: 1000,
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
}

const NUMERIC: readonly NumericSetting[] = [
  { setting: 'GRAPH_WRITES_PER_20S', read: (c) => c.graph.writesPerWindow, unit: 1, integer: true },
  { setting: 'GRAPH_REQUESTS_PER_20S', read: (c) => c.graph.requestsPerWindow, unit: 1, integer: true },
  { setting: 'GRAPH_REQUEST_TIMEOUT_MS', read: (c) => c.graph.requestTimeoutMs, unit: 1, integer: true },
  { setting: 'GRAPH_IMPORT_CHUNK_SIZE', read: (c) => c.graph.importChunkSize, unit: 1, integer: true, max: 500 },
  { setting: 'GRAPH_PAGE_SIZE', read: (c) => c.graph.pageSize, unit: 1, integer: true, max: 999 },
  { setting: 'GRAPH_SYNC_INTERVAL_SECONDS', read: (c) => c.graph.syncIntervalMs, unit: SECOND, integer: false },
  { setting: 'GRAPH_DEFAULT_RETRY_AFTER_SECONDS', read: (c) => c.graph.defaultRetryAfterMs, unit: SECOND, integer: false },
  { setting: 'ZTP_TIME_SCALE', read: (c) => c.timeScale, unit: 1, integer: false, max: 1_000_000 },
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
  it.each(NUMERIC.map((row) => [row.setting, row] as const))('%s: a whole value is read in its unit', (_setting, row) => {
    expect(row.read(load({ [row.setting]: '7' }))).toBe(7 * row.unit);
    expect(row.read(load({ [row.setting]: ' 7 ' }))).toBe(7 * row.unit);
  });

  it.each(NUMERIC.map((row) => [row.setting, row] as const))('%s: blank means the default', (_setting, row) => {
    expect(row.read(load({ [row.setting]: '  ' }))).toBe(row.read(load()));
  });

  it.each(NUMERIC.flatMap((row) => NOT_POSITIVE.map((value) => [row.setting, value] as const)))('%s: refuses %j', (setting, value) => {
    expect(refusal({ [setting]: value }).setting).toBe(setting);
  });

  it.each(NUMERIC.filter((row) => row.integer).map((row) => [row.setting] as const))('%s: refuses a fraction', (setting) => {
    expect(refusal({ [setting]: '2.5' }).setting).toBe(setting);
  });

  it.each(NUMERIC.filter((row) => !row.integer).map((row) => [row.setting, row] as const))('%s: accepts a fraction', (_setting, row) => {
    expect(row.read(load({ [row.setting]: '2.5' }))).toBe(2.5 * row.unit);
  });

  it.each(NUMERIC.filter((row) => row.max !== undefined).map((row) => [row.setting, row.max!, row] as const))(
    '%s: accepts at most %i',
    (setting, max, row) => {
      expect(row.read(load({ [setting]: String(max) }))).toBe(max * row.unit);
      expect(refusal({ [setting]: String(max + 1) }).setting).toBe(setting);
    },
  );
});

describe('Graph base URL and static token', () => {
  it.each([
    ['a trailing slash', 'http://127.0.0.1:8080/', 'http://127.0.0.1:8080'],
    ['several trailing slashes', 'https://sim.example//', 'https://sim.example'],
    ['a path', 'https://sim.example/graph', 'https://sim.example/graph'],
  ])('GRAPH_BASE_URL with %s', (_label, value, expected) => {
    expect(load({ GRAPH_BASE_URL: value }).graph.baseUrl).toBe(expected);
  });

  it.each([['not a url'], ['/relative/path'], ['ftp://graph.microsoft.com'], ['file:///etc/passwd']])(
    'GRAPH_BASE_URL refuses %j',
    (value) => {
      expect(refusal({ GRAPH_BASE_URL: value }).setting).toBe('GRAPH_BASE_URL');
    },
  );

  it.each([
    ['the default base URL', undefined],
    ['Microsoft Graph named explicitly', 'https://graph.microsoft.com'],
    ['Microsoft Graph with a trailing slash', 'https://graph.microsoft.com/'],
    ['Microsoft Graph in capitals', 'https://GRAPH.MICROSOFT.COM'],
  ])('GRAPH_STATIC_TOKEN is refused with %s', (_label, baseUrl) => {
    expect(refusal({ GRAPH_BASE_URL: baseUrl, GRAPH_STATIC_TOKEN: 'sim-token' }).setting).toBe('GRAPH_STATIC_TOKEN');
  });

  it('GRAPH_STATIC_TOKEN is used with a simulator', () => {
    const config = load({ GRAPH_BASE_URL: 'https://127.0.0.1:8443', GRAPH_STATIC_TOKEN: ' sim-token ' });
    expect(config.graph).toMatchObject({ baseUrl: 'https://127.0.0.1:8443', staticToken: 'sim-token' });
  });

  it('a blank GRAPH_STATIC_TOKEN is no token, also against Microsoft Graph', () => {
    expect(load({ GRAPH_STATIC_TOKEN: '  ' }).graph).not.toHaveProperty('staticToken');
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
    const fast = load({ ZTP_TIME_SCALE: '600' });
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
    const config = load({ ZTP_TIME_SCALE: '600' });
    expect(scaled(config, config.pipeline.firstPollMs)).toBe(100);
    expect(scaled(config, config.pipeline.importDeadlineMs)).toBe(12 * SECOND);
  });
});

describe('ZTP_HEALTH_PROBE_SECONDS', () => {
  it('defaults to a minute, is read in real seconds whatever the time scale, and at most an hour', () => {
    expect(load().health.probeIntervalMs).toBe(60 * SECOND);
    expect(load({ ZTP_HEALTH_PROBE_SECONDS: '1.5', ZTP_TIME_SCALE: '600' }).health.probeIntervalMs).toBe(1.5 * SECOND);
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
