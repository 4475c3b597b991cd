import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import https from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TableClient } from '@azure/data-tables';
import { ServiceBusClient } from '@azure/service-bus';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/config.js';
import { QUEUES } from '../../../shared/messages/index.js';

/**
 * `npm run infra` as a user runs it (its entry through tsx, as the npm script does): the
 * settings it prints are the ones it writes to `.local/infra.json`, each service they name
 * answers, the app takes them as its whole configuration, and SIGINT stops everything and
 * frees every port.
 */

const repo = path.resolve(__dirname, '..', '..', '..');
const tsx = path.join(repo, 'node_modules', 'tsx', 'dist', 'cli.mjs');

interface Infra {
  readonly child: ChildProcess;
  readonly root: string;
  readonly settings: Record<string, string>;
  readonly stderr: () => string;
}

const started: Infra[] = [];
afterEach(() => {
  for (const { child, root } of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});

async function startInfra(env: Record<string, string>): Promise<Infra> {
  const root = mkdtempSync(path.join(tmpdir(), 'ztp-infra-'));
  const child = spawn(process.execPath, [tsx, path.join(repo, 'local', 'infra.ts')], {
    cwd: repo,
    env: { ...process.env, ZTP_LOCAL_ROOT: root, GRAPH_BASE_URL: '', ZTP_TIME_SCALE: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const infra = { child, root, settings: {}, stderr: () => stderr };
  started.push(infra);
  const until = Date.now() + 45_000;
  while (!stderr.includes('infrastructure is running')) {
    if (Date.now() > until || child.exitCode !== null) throw new Error(`npm run infra did not start:\n${stdout}\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const lines = stdout.split('\n').filter((line) => line !== '');
  // Nothing but settings on standard output: a script reads it as it is.
  for (const line of lines) expect(line).toMatch(/^[A-Za-z_][A-Za-z0-9_]*=\S/);
  const settings = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  return { ...infra, settings };
}

async function stop(infra: Infra): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => infra.child.once('exit', (code) => resolve(code)));
  infra.child.kill('SIGINT');
  return Promise.race([exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still running')), 20_000))]);
}

function portOf(url: string): number {
  return Number(new URL(url.replace(/^sb:/, 'http:')).port);
}

/** The ports each setting names: Azurite's three, the broker's, the simulator's. */
function ports(settings: Record<string, string>): number[] {
  const storage = Object.fromEntries(
    settings
      .AzureWebJobsStorage!.split(';')
      .filter(Boolean)
      .map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)]),
  );
  const endpoints = [storage.BlobEndpoint!, storage.QueueEndpoint!, storage.TableEndpoint!];
  endpoints.push(/Endpoint=(sb:\/\/[^;]+)/.exec(settings.ServiceBusConnection!)![1]!);
  if (settings.GRAPH_BASE_URL) endpoints.push(settings.GRAPH_BASE_URL);
  return endpoints.map(portOf);
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

function graphGet(settings: Record<string, string>, pathAndQuery: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      `${settings.GRAPH_BASE_URL}${pathAndQuery}`,
      { headers: { authorization: `Bearer ${settings.GRAPH_STATIC_TOKEN}` }, ca: readFileSync(settings.NODE_EXTRA_CA_CERTS!) },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.once('error', reject);
  });
}

describe('npm run infra', () => {
  it('prints the settings it writes to .local/infra.json; each service answers; SIGINT stops it all', { timeout: 120_000 }, async () => {
    const infra = await startInfra({ ZTP_TIME_SCALE: '600' });
    const { settings } = infra;
    expect(Object.keys(settings)).toEqual([
      'AzureWebJobsStorage',
      'ServiceBusConnection',
      'GRAPH_BASE_URL',
      'GRAPH_STATIC_TOKEN',
      'NODE_EXTRA_CA_CERTS',
      'ZTP_TIME_SCALE',
      'REPROVISION_WEBHOOK_SECRET',
      'ZTP_SUPPLIERS',
    ]);
    const file = path.join(infra.root, '.local', 'infra.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(settings);
    expect(statSync(file).mode & 0o077, 'readable by its owner only').toBe(0);
    // The simulator's clock follows ZTP_TIME_SCALE, as npm start's does.
    expect(settings.ZTP_TIME_SCALE).toBe('600');
    expect(infra.stderr()).toContain('(simulator, clock 600x)');
    expect(settings.GRAPH_BASE_URL).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(settings.NODE_EXTRA_CA_CERTS).toBe(path.join(infra.root, '.local', 'graph-simulator-ca.pem'));

    // The app takes them as its whole configuration.
    const config = loadConfig(settings);
    expect(config.timeScale).toBe(600);
    expect(config.suppliers.map((supplier) => supplier.id)).toEqual(['demo', 'contoso']);

    // Azurite: tables and blobs.
    const table = TableClient.fromConnectionString(settings.AzureWebJobsStorage!, 'infracheck', { allowInsecureConnection: true });
    await table.createTable();
    await table.createEntity({ partitionKey: 'p', rowKey: 'r', value: 7 });
    expect((await table.getEntity<{ value: number }>('p', 'r')).value).toBe(7);
    const container = BlobServiceClient.fromConnectionString(settings.AzureWebJobsStorage!).getContainerClient('infracheck');
    await container.create();
    await container.getBlockBlobClient('b').uploadData(Buffer.from('x'));
    expect((await container.getBlockBlobClient('b').downloadToBuffer()).toString()).toBe('x');

    // The broker, with the app's queues: a message there and back on each.
    const bus = new ServiceBusClient(settings.ServiceBusConnection!);
    try {
      for (const queue of Object.values(QUEUES)) {
        await bus.createSender(queue).sendMessages({ body: { check: queue } });
        const receiver = bus.createReceiver(queue, { receiveMode: 'receiveAndDelete' });
        const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5_000 });
        expect(message?.body).toEqual({ check: queue });
        await receiver.close();
      }
    } finally {
      await bus.close();
    }

    // The simulator, over HTTPS with the certificate NODE_EXTRA_CA_CERTS names, with the token.
    const listed = await graphGet(settings, '/v1.0/deviceManagement/windowsAutopilotDeviceIdentities');
    expect(listed.status).toBe(200);
    expect(JSON.parse(listed.body)).toMatchObject({ value: [] });

    const used = ports(settings);
    expect(used).toHaveLength(5);
    expect(await stop(infra)).toBe(0);
    for (const port of used) expect(await refused(port), `port ${port} still open`).toBe(true);
    const azuritePid = Number(/\(pid (\d+)\)/.exec(infra.stderr())?.[1]);
    expect(() => process.kill(azuritePid, 0), 'Azurite left running').toThrow();
    expect(existsSync(file), '.local/infra.json removed').toBe(false);
    expect(existsSync(settings.NODE_EXTRA_CA_CERTS!)).toBe(false);
    expect(infra.stderr()).toContain('stopped.');
  });

  it(
    'starts no simulator when GRAPH_BASE_URL names another Graph, and keeps the given secret and suppliers',
    { timeout: 90_000 },
    async () => {
      const suppliers = JSON.stringify([{ id: 'fabrikam', name: 'Fabrikam', allowedGroupTags: [] }]);
      const infra = await startInfra({
        GRAPH_BASE_URL: 'https://graph.example.test',
        REPROVISION_WEBHOOK_SECRET: 'a-secret-of-the-users-own-0123',
        ZTP_SUPPLIERS: suppliers,
      });
      expect(infra.settings).toEqual({
        AzureWebJobsStorage: expect.stringContaining('TableEndpoint=http://127.0.0.1:'),
        ServiceBusConnection: expect.stringContaining('UseDevelopmentEmulator=true'),
        REPROVISION_WEBHOOK_SECRET: 'a-secret-of-the-users-own-0123',
        ZTP_SUPPLIERS: suppliers,
      });
      const used = ports(infra.settings);
      infra.child.kill('SIGTERM');
      await new Promise((resolve) => infra.child.once('exit', resolve));
      expect(infra.child.exitCode).toBe(0);
      for (const port of used) expect(await refused(port)).toBe(true);
    },
  );
});
