import { mkdirSync, mkdtempSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REDRIVE_USAGE, runRedrive } from '../../../cli/commands/redrive.js';
import { writeStackEndpoints } from '../../../cli/stack-endpoints.js';
import { main } from '../../../cli/ztp.js';
import { sendJson, serialOf, startFakeApp, type FakeApp } from '../../support/fake-app.js';

/**
 * `ztp redrive` against a small server on 127.0.0.1 that answers the redrive routes as the app
 * does: 202 for a stalled device or a file, 409 `not-stalled`, 404, 503, 401 without the
 * function key it wants, or not at all. The command against the real app is in
 * test/integration/functions/redrive-api.test.ts and test/e2e/serial-addressing.test.ts.
 */

const KEY = 'function-key-0123456789';
const BATCH = '0123456789abcdef0123456789abcdef';

interface Received {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

const received: Received[] = [];
let app: FakeApp;
let origin: string;
const emptyDir = mkdtempSync(join(tmpdir(), 'ztp-redrive-'));

/** Where `ztp redrive` sends a device's re-drive: the query form, which carries any serial. */
const deviceRoute = (serial: string) => `/api/devices/redrive?serial=${encodeURIComponent(serial)}`;

beforeAll(async () => {
  app = await startFakeApp((request, _body, response) => {
    received.push({ method: request.method, url: request.url, headers: request.headers });
    const json = (status: number, value: unknown) => sendJson(response, status, value);
    const serial = serialOf(request.url, 'redrive');
    const batch = /^\/api\/batches\/([^/]+)\/redrive$/.exec(request.url ?? '');
    if (serial === 'LOCKED' && request.headers['x-functions-key'] !== KEY) return json(401, {});
    if (serial === 'HANG') return;
    if (serial === 'NOBODY')
      return json(404, { error: { code: 'device-not-found', message: 'No device with this serial number is known.' } });
    if (serial === 'BUSY')
      return json(409, { error: { code: 'not-stalled', message: 'The device is importing, not stalled.', state: 'importing' } });
    if (serial === 'GRAPH-DOWN') return json(503, { error: { code: 'autopilot-unavailable', message: 'try again later' } });
    if (serial !== undefined) return json(202, { serial, state: 'received' });
    if (batch) return json(202, { batchId: decodeURIComponent(batch[1]!), redriven: 2, serials: ['SER-A', 'SER-B'] });
    json(404, { error: { code: 'not-found', message: 'no route' } });
  });
  origin = app.origin;
});

afterAll(async () => {
  await app.close();
});

beforeEach(() => {
  received.length = 0;
});

async function run(argv: string[], options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {}) {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: (text: string) => (stdout += text),
    stderr: (text: string) => (stderr += text),
    env: options.env ?? {},
    cwd: options.cwd ?? emptyDir,
  };
  const code =
    options.timeoutMs === undefined ? await main(['redrive', ...argv], io) : await runRedrive(argv, io, { timeoutMs: options.timeoutMs });
  expect(stdout + stderr).not.toContain(KEY);
  return { code, stdout, stderr };
}

describe('ztp redrive', () => {
  it('POSTs to the device route, the serial in ?serial= (any serial: / included), and exits 0 on 202, printing the answer', async () => {
    const serial = 'SER 1/Ä?#';
    const { code, stdout, stderr } = await run([serial, '--url', origin]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(received).toEqual([expect.objectContaining({ method: 'POST', url: deviceRoute(serial) })]);
    expect(received[0]!.headers['x-functions-key']).toBeUndefined();
    expect(stdout).toContain(`202 Accepted from POST ${origin}${deviceRoute(serial)}`);
    expect(stdout).toContain(`"serial": "${serial}"`);
    expect(stdout).toContain('"state": "received"');
  });

  it('--batch POSTs to the batch route; --json prints status and body as one line', async () => {
    const { code, stdout } = await run(['--batch', BATCH, '--url', `${origin}/api/`, '--json']);
    expect(code).toBe(0);
    expect(received[0]!.url).toBe(`/api/batches/${BATCH}/redrive`);
    expect(stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(stdout)).toEqual({ status: 202, body: { batchId: BATCH, redriven: 2, serials: ['SER-A', 'SER-B'] } });
  });

  it('sends the function key in ZTP_FUNCTION_KEY, and says so when the app wants one', async () => {
    const without = await run(['LOCKED', '--url', origin]);
    expect(without.code).toBe(1);
    expect(without.stdout).toContain('401');
    expect(without.stdout).toContain('set ZTP_FUNCTION_KEY');

    const withKey = await run(['LOCKED', '--url', origin], { env: { ZTP_FUNCTION_KEY: ` ${KEY} ` } });
    expect(withKey.code).toBe(0);
    expect(received.at(-1)!.headers['x-functions-key']).toBe(KEY);
  });

  it.each([
    ['BUSY', 'not-stalled'],
    ['NOBODY', 'device-not-found'],
    ['GRAPH-DOWN', 'autopilot-unavailable'],
  ])('exits 1 for %s and prints the answer', async (serial, code) => {
    const answer = await run([serial, '--url', origin]);
    expect(answer.code).toBe(1);
    expect(answer.stdout).toContain(`"code": "${code}"`);
  });

  it('exits 2 when the answer does not come, saying a retry is safe', async () => {
    const { code, stderr } = await run(['HANG', '--url', origin], { timeoutMs: 300 });
    expect(code).toBe(2);
    expect(stderr).toContain('no answer from');
    expect(stderr).toContain('safe to retry');
  });

  it.each([
    [[], 'no serial number given'],
    [['SER-1', 'SER-2'], 'give exactly one serial number'],
    [['SER-1', '--batch', BATCH], 'not both'],
    [['--batch', ' '], '--batch is empty'],
    [['SER-1', '--url', 'ftp://example.com'], '--url must be an http or https URL'],
  ])('exits 2 on usage errors: %j', async (argv, message) => {
    const { code, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).toContain(REDRIVE_USAGE);
    expect(received).toEqual([]);
  });

  it('prints its usage with --help', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout).toBe(REDRIVE_USAGE);
  });

  it('without --url, sends to the API of the local stack found from the working directory', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ztp-redrive-stack-'));
    await writeStackEndpoints(root, {
      storageConnectionString: 'UseDevelopmentStorage=true',
      serviceBusConnectionString: 'Endpoint=sb://127.0.0.1;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true',
      apiBaseUrl: `${origin}/api`,
      pid: process.pid,
    });
    mkdirSync(join(root, 'sub'));
    const { code } = await run(['SER-10'], { cwd: join(root, 'sub') });
    expect(code).toBe(0);
    expect(received[0]!.url).toBe(deviceRoute('SER-10'));
  });

  it('exits 2 without --url and without a local stack', async () => {
    const { code, stderr } = await run(['SER-11']);
    expect(code).toBe(2);
    expect(stderr).toContain('no running local stack was found');
  });
});
