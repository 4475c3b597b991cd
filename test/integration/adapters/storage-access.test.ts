import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type AzuriteInstance } from '../../../local/azurite.js';
import { startGraphSimulator, type GraphSimulator } from '../../../local/graph-simulator/index.js';
import {
  startManagedIdentityEndpoint,
  type ManagedIdentityEndpoint,
  type ManagedIdentityEndpointOptions,
} from '../../../local/managed-identity-endpoint.js';
import { startServiceBusBroker, type ServiceBusBroker } from '../../../local/servicebus-broker/index.js';
import { pipelineQueueOptions } from '../../../local/stack.js';

/**
 * The identity-based storage connection end to end, through the real SDKs: the product, in a
 * process of its own (test/support/identity-storage-product.ts), is given only
 * `AzureWebJobsStorage__blobServiceUri` / `__tableServiceUri` / `__queueServiceUri` with
 * `__credential=managedidentity` and `__clientId`, and an App Service style managed identity
 * endpoint (local/managed-identity-endpoint.ts). Azurite serves HTTPS and checks bearer tokens
 * (`--oauth basic`: issuer, audience, lifetime; not the signature). The product has no key.
 *
 * A wrong identity fails start-up: the runtime creates its tables first, so the first storage
 * call is made before any function does work, and start-up fails with a StorageAccessError
 * that names AzureWebJobsStorage, the identity, and what storage or the endpoint answered.
 */

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const product = path.join(repo, 'test', 'support', 'identity-storage-product.ts');
const GRAPH_TOKEN = `graph-${randomUUID()}`;
const clientId = randomUUID();
const SUPPLIERS = [{ id: 'contoso', name: 'Contoso Ltd', allowedGroupTags: ['MPS-STD'], defaultGroupTag: 'MPS-STD' }];

let azurite: AzuriteInstance;
let broker: ServiceBusBroker;
let graph: GraphSimulator;
let scratch: string;
let debugLog: string;
const endpoints: ManagedIdentityEndpoint[] = [];
let runs = 0;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), 'ztp-idstore-'));
  debugLog = path.join(scratch, 'azurite-debug.log');
  [azurite, broker, graph] = await Promise.all([
    startAzurite({ oauth: true, debugLog }),
    startServiceBusBroker({ queues: pipelineQueueOptions() }),
    startGraphSimulator({ token: GRAPH_TOKEN }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([azurite?.stop(), broker?.stop(), graph?.stop(), ...endpoints.map((endpoint) => endpoint.stop())]);
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

interface ProductRun {
  readonly code: number | null;
  readonly result: Record<string, unknown>;
  readonly stderr: string;
}

async function identityEndpoint(options: Partial<ManagedIdentityEndpointOptions> = {}): Promise<ManagedIdentityEndpoint> {
  const endpoint = await startManagedIdentityEndpoint({ clientIds: [clientId], ...options });
  endpoints.push(endpoint);
  return endpoint;
}

/**
 * The product's process, with nothing of this one's environment but PATH: no key, no other
 * credential. `settings` are added; one given as undefined is left out.
 */
function runProduct(endpoint: ManagedIdentityEndpoint, settings: Record<string, string | undefined> = {}): Promise<ProductRun> {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? '',
    NODE_EXTRA_CA_CERTS: azurite.certificate!.file,
    ...endpoint.env,
    AzureWebJobsStorage__blobServiceUri: azurite.blobEndpoint,
    AzureWebJobsStorage__tableServiceUri: azurite.tableEndpoint,
    AzureWebJobsStorage__queueServiceUri: azurite.queueEndpoint,
    AzureWebJobsStorage__credential: 'managedidentity',
    AzureWebJobsStorage__clientId: clientId,
    ServiceBusConnection: broker.connectionString,
    GRAPH_BASE_URL: graph.baseUrl,
    GRAPH_STATIC_TOKEN: GRAPH_TOKEN,
    REPROVISION_WEBHOOK_SECRET: `identity-test-${randomUUID()}`,
    ZTP_SUPPLIERS: JSON.stringify(SUPPLIERS),
    LOG_LEVEL: 'warn',
    ...settings,
  };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', product, String(++runs)], {
      cwd: repo,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve({ code, result: JSON.parse(line) as Record<string, unknown>, stderr });
      } catch {
        reject(new Error(`the product printed no result (exit ${code}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

interface SeenRequest {
  readonly service: string;
  readonly method: string;
  readonly authorization: string | undefined;
}

/** Every request in Azurite's debug log, once the log has stopped growing. */
async function requestsAzuriteSaw(): Promise<SeenRequest[]> {
  for (let size = -1; statSync(debugLog).size !== size;) {
    size = statSync(debugLog).size;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const seen: SeenRequest[] = [];
  const line = /(Blob|Queue|Table)StorageContextMiddleware: RequestMethod=(\w+) .*?RequestHeaders:(\{.*?\}) ClientIP=/;
  for (const text of readFileSync(debugLog, 'utf8').split('\n')) {
    const match = line.exec(text);
    if (!match) continue;
    const headers = JSON.parse(match[3]!) as Record<string, string>;
    seen.push({ service: match[1]!, method: match[2]!, authorization: headers.authorization });
  }
  return seen;
}

describe('identity-based storage (AzureWebJobsStorage__…ServiceUri, __credential, __clientId)', () => {
  it('runs the product on blobs, tables and the queue with its managed identity alone', async () => {
    const endpoint = await identityEndpoint();
    const run = await runProduct(endpoint);

    expect(run.result, run.stderr).toMatchObject({
      stage: 'done',
      intake: { status: 'complete', counts: { rows: 3, accepted: 3, rejected: 0 } },
      batch: { status: 'complete', supplier: 'contoso' },
      acceptedInReport: 3,
      // The poison message went onto the queue and the sweep took it off again, both with the identity.
      sweep: { intakeFailures: { new: 1, recorded: 1 } },
    });
    expect(run.code).toBe(0);

    // The credential asked the endpoint for storage's audience, for the configured identity, and nothing else.
    expect(endpoint.requests.length).toBeGreaterThan(0);
    for (const request of endpoint.requests) {
      expect(request).toEqual({
        resource: 'https://storage.azure.com',
        clientId,
        apiVersion: '2019-08-01',
        identityHeader: true,
        status: 200,
      });
    }

    // Every request Azurite saw carried a bearer token, on each of the three services.
    const seen = await requestsAzuriteSaw();
    expect(new Set(seen.map((request) => request.service))).toEqual(new Set(['Blob', 'Queue', 'Table']));
    expect(seen.filter((request) => !request.authorization?.startsWith('Bearer '))).toEqual([]);
  });

  it('without __credential, reaches storage through the default credential chain, which finds the same managed identity', async () => {
    const endpoint = await identityEndpoint();
    const run = await runProduct(endpoint, { AzureWebJobsStorage__credential: undefined });

    expect(run.result, run.stderr).toMatchObject({ stage: 'done', intake: { status: 'complete' }, acceptedInReport: 3 });
    expect(endpoint.requests.length).toBeGreaterThan(0);
    expect(endpoint.requests.every((request) => request.resource === 'https://storage.azure.com' && request.clientId === clientId)).toBe(
      true,
    );
  });

  it('fails at start, naming the setting, when storage refuses the token (issued for another audience)', async () => {
    const endpoint = await identityEndpoint({ audience: 'https://vault.azure.net' });
    const run = await runProduct(endpoint);

    expect(run.code).toBe(1);
    expect(run.result).toMatchObject({ stage: 'start', error: { name: 'StorageAccessError' } });
    const { message } = run.result.error as { message: string };
    expect(message).toContain(`AzureWebJobsStorage, with the managed identity ${clientId} at ${azurite.tableEndpoint}`);
    expect(message).toMatch(/403 AuthenticationFailed: Invalid token audience\.$/);
    expect(endpoint.requests.every((request) => request.status === 200)).toBe(true);
  });

  it('fails at start, naming the setting, when the app holds no identity with the configured client id', async () => {
    const endpoint = await identityEndpoint({ clientIds: [randomUUID()] });
    const run = await runProduct(endpoint);

    expect(run.code).toBe(1);
    expect(run.result).toMatchObject({ stage: 'start', error: { name: 'StorageAccessError' } });
    const { message } = run.result.error as { message: string };
    expect(message).toContain(`AzureWebJobsStorage, with the managed identity ${clientId}`);
    expect(message).toContain('ManagedIdentityCredential');
    expect(message).toContain(`the app holds no identity with client id ${clientId}`);
    expect(endpoint.requests.length).toBeGreaterThan(0);
    expect(endpoint.requests.every((request) => request.status === 400 && request.clientId === clientId)).toBe(true);
  });
});
