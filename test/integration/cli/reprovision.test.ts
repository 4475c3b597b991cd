import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REPROVISION_USAGE, runReprovision } from '../../../cli/commands/reprovision.js';
import { writeStackEndpoints } from '../../../cli/stack-endpoints.js';
import { main } from '../../../cli/ztp.js';
import { headerLookup, verifyWebhookSignature, webhookKeys, type SignatureCheck } from '../../../shared/http/webhook-signature.js';
import { closedPort, sendJson, serialOf, startFakeApp, type FakeApp } from '../../support/fake-app.js';

/**
 * `ztp reprovision` against a small webhook on 127.0.0.1 that checks the signature with the
 * product's own verifier and answers as the app does: 202, 409 for a busy device, 401 for a
 * bad signature, 500 as plain text, or not at all. The command against the real app is in
 * test/e2e/serial-addressing.test.ts.
 */

const SECRET = 'cli-reprovision-secret-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Received {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly check: SignatureCheck;
}

const received: Received[] = [];
let serverKeys: Buffer[] = webhookKeys(SECRET);
let app: FakeApp;
let origin: string;
const emptyDir = mkdtempSync(join(tmpdir(), 'ztp-reprovision-'));

/** Where `ztp reprovision` sends its request: the query form, which carries any serial. */
const deviceRoute = (serial: string) => `/api/devices/reprovision?serial=${encodeURIComponent(serial)}`;

beforeAll(async () => {
  app = await startFakeApp((request, body, response) => {
    const check = verifyWebhookSignature(headerLookup(request.headers), body, serverKeys, Date.now());
    received.push({ method: request.method, url: request.url, headers: request.headers, body: body.toString('utf8'), check });
    const serial = serialOf(request.url, 'reprovision') ?? '';
    const json = (status: number, value: unknown) => sendJson(response, status, value);
    if (!check.ok) return json(401, { error: { code: check.code, message: check.message } });
    if (serial === 'HANG') return;
    if (serial === 'BROKEN') {
      response.writeHead(500, { 'Content-Type': 'text/plain' });
      return response.end('upstream exploded\n');
    }
    if (serial === 'BUSY-1') {
      return json(409, { error: { code: 'action-not-allowed', message: 'The device is reprovisioning; no action is allowed now.' } });
    }
    const { action } = JSON.parse(body.toString('utf8')) as { action: string };
    json(202, {
      requestId: 'req-1',
      serial,
      action,
      state: 'reprovisioning',
      statusUrl: `/api/devices?serial=${encodeURIComponent(serial)}`,
    });
  });
  origin = app.origin;
});

afterAll(async () => {
  await app.close();
});

beforeEach(() => {
  received.length = 0;
  serverKeys = webhookKeys(SECRET);
});

async function run(argv: string[], options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {}) {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: (text: string) => (stdout += text),
    stderr: (text: string) => (stderr += text),
    env: options.env ?? { REPROVISION_WEBHOOK_SECRET: SECRET },
    cwd: options.cwd ?? emptyDir,
  };
  const code =
    options.timeoutMs === undefined
      ? await main(['reprovision', ...argv], io)
      : await runReprovision(argv, io, { timeoutMs: options.timeoutMs });
  expect(stdout + stderr).not.toContain(SECRET);
  return { code, stdout, stderr };
}

const wipe = (serial: string, ...more: string[]) => [
  serial,
  '--action',
  'wipe',
  '--ticket',
  'INC0012345',
  '--requested-by',
  'jane.doe@contoso.com',
  ...more,
];

describe('ztp reprovision: a signed request', () => {
  it('POSTs the body to the device route, the serial in ?serial= (any serial: / included), signed in the ZTP scheme, and exits 0 on 202', async () => {
    const serial = 'SER 1/Ä?#';
    const { code, stdout, stderr } = await run(wipe(serial, '--url', origin));
    expect(stderr).toBe('');
    expect(code).toBe(0);

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe(deviceRoute(serial));
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.body).toBe('{"action":"wipe","ticket":"INC0012345","requestedBy":"jane.doe@contoso.com"}');
    expect(request!.check).toMatchObject({ ok: true, scheme: 'ztp' });
    expect(request!.headers['webhook-signature']).toBeUndefined();

    const key = request!.headers['idempotency-key'] as string;
    expect(key).toMatch(UUID);
    expect(stdout).toContain(`Idempotency-Key: ${key} (new; to retry this request, pass --idempotency-key ${key})`);
    expect(stdout).toContain(`202 Accepted from POST ${origin}${deviceRoute(serial)}`);
    expect(stdout).toContain('"state": "reprovisioning"');
    expect(stdout).toContain(`"serial": "${serial}"`);
  });

  it('with --scheme standard-webhooks, the idempotency key given is also the webhook-id', async () => {
    const { code, stdout } = await run(
      wipe('SER-2', '--url', origin, '--scheme', 'standard-webhooks', '--idempotency-key', 'INC0012345-try-1'),
    );
    expect(code).toBe(0);
    const [request] = received;
    expect(request!.headers['idempotency-key']).toBe('INC0012345-try-1');
    expect(request!.headers['webhook-id']).toBe('INC0012345-try-1');
    expect(request!.headers['x-ztp-signature']).toBeUndefined();
    expect(request!.check).toMatchObject({ ok: true, scheme: 'standard-webhooks', webhookId: 'INC0012345-try-1' });
    expect(stdout).not.toContain('Idempotency-Key:');
  });

  it('sends only the fields given: the group tag of a retag, allowReimport of a deregister', async () => {
    const common = ['--ticket', ' INC7 ', '--requested-by', 'Zoë Müller', '--url', origin];
    expect((await run(['SER-3', '--action', 'retag', '--group-tag', 'MPS-KIOSK', ...common])).code).toBe(0);
    expect((await run(['SER-3', '--action', 'deregister', '--allow-reimport', ...common])).code).toBe(0);
    expect((await run(['SER-3', '--action', 'fresh-start', ...common])).code).toBe(0);
    expect(received.map((request) => request.body)).toEqual([
      '{"action":"retag","ticket":"INC7","requestedBy":"Zoë Müller","groupTag":"MPS-KIOSK"}',
      '{"action":"deregister","ticket":"INC7","requestedBy":"Zoë Müller","allowReimport":true}',
      '{"action":"fresh-start","ticket":"INC7","requestedBy":"Zoë Müller"}',
    ]);
    expect(received.every((request) => request.check.ok)).toBe(true);
  });

  it('signs with the first of several secrets', async () => {
    const env = { REPROVISION_WEBHOOK_SECRET: `${SECRET}, the-other-secret-0123456789` };
    serverKeys = webhookKeys(SECRET);
    expect((await run(wipe('SER-4', '--url', origin), { env })).code).toBe(0);
    serverKeys = webhookKeys('the-other-secret-0123456789');
    const refused = await run(wipe('SER-4', '--url', origin), { env });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('401 Unauthorized');
    expect(refused.stdout).toContain('"code": "invalid-signature"');
  });

  it('signs with the decoded bytes of a whsec_ secret', async () => {
    const secret = `whsec_${Buffer.from('twenty-four-random-bytes').toString('base64')}`;
    serverKeys = webhookKeys(secret);
    expect((await run(wipe('SER-5', '--url', origin), { env: { REPROVISION_WEBHOOK_SECRET: secret } })).code).toBe(0);
    expect(received[0]!.check.ok).toBe(true);
  });

  it('takes --url with /api and trailing slashes as the same API', async () => {
    expect((await run(wipe('SER-6', '--url', `${origin}/api/`))).code).toBe(0);
    expect((await run(wipe('SER-6', '--url', `${origin}//`))).code).toBe(0);
    expect(received.map((request) => request.url)).toEqual([deviceRoute('SER-6'), deviceRoute('SER-6')]);
  });
});

describe('ztp reprovision: the answers', () => {
  it('exits 1 on 409 and prints the answer', async () => {
    const { code, stdout } = await run(wipe('BUSY-1', '--url', origin));
    expect(code).toBe(1);
    expect(stdout).toContain('409 Conflict');
    expect(stdout).toContain('The device is reprovisioning');
  });

  it('--json prints status, idempotency key and body as one line', async () => {
    const accepted = await run(wipe('SER-7', '--url', origin, '--json'));
    expect(accepted.code).toBe(0);
    expect(accepted.stdout.trim().split('\n')).toHaveLength(1);
    const parsed = JSON.parse(accepted.stdout) as { status: number; idempotencyKey: string; body: unknown };
    expect(parsed).toEqual({
      status: 202,
      idempotencyKey: received[0]!.headers['idempotency-key'],
      body: { requestId: 'req-1', serial: 'SER-7', action: 'wipe', state: 'reprovisioning', statusUrl: '/api/devices?serial=SER-7' },
    });
    const busy = await run(wipe('BUSY-1', '--url', origin, '--json', '--idempotency-key', 'k-1'));
    expect(busy.code).toBe(1);
    expect(JSON.parse(busy.stdout)).toMatchObject({ status: 409, idempotencyKey: 'k-1', body: { error: { code: 'action-not-allowed' } } });
  });

  it('exits 1 on a 500 that is not JSON, shows it and says how to retry', async () => {
    const { code, stdout } = await run(wipe('BROKEN', '--url', origin, '--idempotency-key', 'retry-me'));
    expect(code).toBe(1);
    expect(stdout).toContain('500 Internal Server Error');
    expect(stdout).toContain('upstream exploded');
    expect(stdout).toContain('retry with --idempotency-key retry-me');
  });

  it('exits 2 when nothing answers, naming the key to retry with', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const { code, stdout, stderr } = await run(wipe('SER-8', '--url', url));
    expect(code).toBe(2);
    const key = /Idempotency-Key: (\S+)/.exec(stdout)?.[1];
    expect(key).toMatch(UUID);
    expect(stderr).toMatch(new RegExp(`^ztp reprovision: no answer from ${url}/api/devices/reprovision\\?serial=SER-8 \\(ECONNREFUSED\\)`));
    expect(stderr).toContain(`retry with --idempotency-key ${key}`);
  });

  it('exits 2 when the answer does not come in time', async () => {
    const { code, stderr } = await run(wipe('HANG', '--url', origin), { timeoutMs: 300 });
    expect(code).toBe(2);
    expect(stderr).toContain('(none within 0.3 s)');
    expect(received).toHaveLength(1);
  });
});

describe('ztp reprovision: refused before sending', () => {
  it.each([
    [['SER-9', '--ticket', 'T', '--requested-by', 'me'], '--action <action> is required'],
    [['SER-9', '--action', 'reboot', '--ticket', 'T', '--requested-by', 'me'], '"reboot" is not an action'],
    [['SER-9', '--action', 'retag', '--ticket', 'T', '--requested-by', 'me'], 'retag needs --group-tag <tag>'],
    [['SER-9', '--action', 'retag', '--group-tag', ' ', '--ticket', 'T', '--requested-by', 'me'], '--group-tag is empty'],
    [
      ['SER-9', '--action', 'wipe', '--allow-reimport', '--ticket', 'T', '--requested-by', 'me'],
      '--allow-reimport goes with --action deregister',
    ],
    [['SER-9', '--action', 'wipe', '--requested-by', 'me'], '--ticket <ticket> is required'],
    [['SER-9', '--action', 'wipe', '--ticket', 'T'], '--requested-by <who> is required'],
    [['SER-9', '--action', 'wipe', '--ticket', ' ', '--requested-by', 'me'], '--ticket is empty'],
    [wipe('SER-9', '--scheme', 'stripe'), '--scheme must be ztp or standard-webhooks'],
    [wipe('SER-9', '--idempotency-key', 'has space'), '--idempotency-key must be 1-256 visible ASCII characters'],
    [wipe('SER-9', '--url', '127.0.0.1:7071'), 'is not an absolute URL'],
    [wipe('SER-9', '--url', 'ftp://127.0.0.1'), '--url must be an http or https URL'],
    [wipe('SER-9', '--url', 'http://127.0.0.1:7071/?x=1'), 'without a query or fragment'],
    [['--action', 'wipe', '--ticket', 'T', '--requested-by', 'me'], 'no serial number given'],
    [wipe('SER-9', '--force'), "Unknown option '--force'"],
  ])('%j: exit 2 with the usage', async (argv, message) => {
    const { code, stdout, stderr } = await run([...argv, ...(argv.includes('--url') ? [] : ['--url', origin])]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).toContain('Usage: ztp reprovision');
    expect(received).toHaveLength(0);
  });

  it('exits 2 without REPROVISION_WEBHOOK_SECRET', async () => {
    for (const env of [{}, { REPROVISION_WEBHOOK_SECRET: '  ' }]) {
      const { code, stdout, stderr } = await run(wipe('SER-9', '--url', origin), { env });
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/^ztp reprovision: REPROVISION_WEBHOOK_SECRET is not set: .+\n$/);
    }
    expect(received).toHaveLength(0);
  });

  it('exits 2 with a secret the app would refuse, without echoing it', async () => {
    const { code, stderr } = await run(wipe('SER-9', '--url', origin), {
      env: { REPROVISION_WEBHOOK_SECRET: 'too-short-secret' + ',x-y' },
    });
    expect(code).toBe(2);
    expect(stderr).toBe('ztp reprovision: REPROVISION_WEBHOOK_SECRET secret 2 of 2 is shorter than 16 characters\n');
    expect(received).toHaveLength(0);
  });

  it('prints its usage with --help', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout).toBe(REPROVISION_USAGE);
  });
});

describe('ztp reprovision: finding the local stack', () => {
  const stack = (apiBaseUrl: string) => ({
    storageConnectionString: 'UseDevelopmentStorage=true',
    serviceBusConnectionString: 'Endpoint=sb://127.0.0.1;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true',
    apiBaseUrl,
    pid: process.pid,
  });

  it('without --url, sends to the API of the stack found from the working directory', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ztp-reprovision-stack-'));
    await writeStackEndpoints(root, stack(`${origin}/api`));
    mkdirSync(join(root, 'sub'));
    const { code } = await run(wipe('SER-10'), { cwd: join(root, 'sub') });
    expect(code).toBe(0);
    expect(received[0]!.url).toBe(deviceRoute('SER-10'));
  });

  it('with ZTP_LOCAL_ROOT, looks there only, as the stack writes its file there', async () => {
    const here = mkdtempSync(join(tmpdir(), 'ztp-reprovision-here-'));
    await writeStackEndpoints(here, stack(`http://127.0.0.1:${await closedPort()}/api`));
    const there = mkdtempSync(join(tmpdir(), 'ztp-reprovision-there-'));
    await writeStackEndpoints(there, stack(`${origin}/api`));
    const { code } = await run(wipe('SER-11'), { cwd: here, env: { REPROVISION_WEBHOOK_SECRET: SECRET, ZTP_LOCAL_ROOT: there } });
    expect(code).toBe(0);
    expect(received).toHaveLength(1);

    const dead = await run(wipe('SER-11'), { cwd: here });
    expect(dead.code).toBe(2);
    expect(dead.stderr).toContain(`is the local stack of ${join(here, '.local', 'stack.json')} still running?`);

    // A root with no stack in it is not made up for by the one in the working directory: that would be another stack.
    const empty = mkdtempSync(join(tmpdir(), 'ztp-reprovision-empty-'));
    const none = await run(wipe('SER-11'), { cwd: there, env: { REPROVISION_WEBHOOK_SECRET: SECRET, ZTP_LOCAL_ROOT: empty } });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`no ${join(empty, '.local', 'stack.json')} (ZTP_LOCAL_ROOT)`);
    expect(received).toHaveLength(1);
  });

  it('without REPROVISION_WEBHOOK_SECRET, signs with the secret the stack publishes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ztp-reprovision-secret-'));
    await writeStackEndpoints(root, { ...stack(`${origin}/api`), webhookSecret: `${SECRET},the-other-secret-0123456789` });
    for (const env of [{}, { REPROVISION_WEBHOOK_SECRET: ' ' }]) {
      const { code, stderr } = await run(wipe('SER-13'), { cwd: root, env });
      expect(stderr).toBe('');
      expect(code).toBe(0);
    }
    expect(received.map((request) => request.check)).toEqual([
      expect.objectContaining({ ok: true, scheme: 'ztp' }),
      expect.objectContaining({ ok: true, scheme: 'ztp' }),
    ]);
  });

  it("also with a --url that is the stack's origin, however it is spelt", async () => {
    const root = mkdtempSync(join(tmpdir(), 'ztp-reprovision-secret-'));
    await writeStackEndpoints(root, { ...stack(`${origin}/api`), webhookSecret: SECRET });
    for (const url of [origin, `${origin}/`, `${origin}/api`, `${origin}/api/`]) {
      expect((await run(wipe('SER-14', '--url', url), { cwd: root, env: {} })).code, url).toBe(0);
    }
    expect(received).toHaveLength(4);
    expect(received.every((request) => request.check.ok)).toBe(true);
  });

  it("REPROVISION_WEBHOOK_SECRET comes first: the stack's secret is not used when it is set", async () => {
    const root = mkdtempSync(join(tmpdir(), 'ztp-reprovision-secret-'));
    await writeStackEndpoints(root, { ...stack(`${origin}/api`), webhookSecret: 'the-stacks-own-secret-0123456789' });
    expect((await run(wipe('SER-15'), { cwd: root })).code).toBe(0);
    serverKeys = webhookKeys('the-stacks-own-secret-0123456789');
    const refused = await run(wipe('SER-15'), { cwd: root });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('401 Unauthorized');
    expect(refused.stdout + refused.stderr).not.toContain('the-stacks-own-secret-0123456789');
  });

  it("never sends the stack's secret anywhere else: a --url that is not the stack needs REPROVISION_WEBHOOK_SECRET", async () => {
    const root = mkdtempSync(join(tmpdir(), 'ztp-reprovision-secret-'));
    const elsewhere = `http://127.0.0.1:${await closedPort()}`;
    await writeStackEndpoints(root, { ...stack(`${elsewhere}/api`), webhookSecret: SECRET });
    for (const url of [origin, `${elsewhere}/other`, elsewhere.replace('127.0.0.1', 'localhost')]) {
      const { code, stdout, stderr } = await run(wipe('SER-16', '--url', url), { cwd: root, env: {} });
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toBe(
        `ztp reprovision: REPROVISION_WEBHOOK_SECRET is not set (--url is not the local stack of ${join(root, '.local', 'stack.json')}, ` +
          'whose secret is used only for its own API): set it to the webhook secret the app has (the first of a comma-separated list signs)\n',
      );
    }
    expect(received).toHaveLength(0);
  });

  it('exits 2 without REPROVISION_WEBHOOK_SECRET when the stack publishes no secret, or its secret is refused', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ztp-reprovision-secret-'));
    const path = join(root, '.local', 'stack.json');
    await writeStackEndpoints(root, stack(`${origin}/api`));
    const none = await run(wipe('SER-17'), { cwd: root, env: {} });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^ztp reprovision: REPROVISION_WEBHOOK_SECRET is not set \(the local stack of .+ publishes none: .+\n$/);
    expect(none.stderr).toContain(path);

    await writeStackEndpoints(root, { ...stack(`${origin}/api`), webhookSecret: 'short-secret' });
    const bad = await run(wipe('SER-17'), { cwd: root, env: {} });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(`ztp reprovision: the webhook secret in ${path} the secret is shorter than 16 characters\n`);
    expect(received).toHaveLength(0);
  });

  it('with --url, a damaged stack file is ignored: only REPROVISION_WEBHOOK_SECRET can sign then', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ztp-reprovision-secret-'));
    mkdirSync(join(root, '.local'));
    writeFileSync(join(root, '.local', 'stack.json'), '{');
    expect((await run(wipe('SER-18', '--url', origin), { cwd: root })).code).toBe(0);
    const unsigned = await run(wipe('SER-18', '--url', origin), { cwd: root, env: {} });
    expect(unsigned.code).toBe(2);
    expect(unsigned.stderr).toMatch(/^ztp reprovision: REPROVISION_WEBHOOK_SECRET is not set: /);
    const found = await run(wipe('SER-18'), { cwd: root });
    expect(found.code).toBe(2);
    expect(found.stderr).toContain('is not JSON');
  });

  it('exits 2 without --url and without a local stack', async () => {
    const { code, stderr } = await run(wipe('SER-12'));
    expect(code).toBe(2);
    expect(stderr).toContain('no --url given and no running local stack was found');
    expect(stderr).toContain('npm start');
    expect(received).toHaveLength(0);
  });
});
