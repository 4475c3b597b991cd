import { mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  findStackEndpoints,
  locateStackEndpoints,
  removeStackEndpoints,
  StackEndpointsError,
  stackEndpointsPath,
  writeStackEndpoints,
  type StackEndpoints,
} from '../../../cli/stack-endpoints.js';

const endpoints: StackEndpoints = {
  storageConnectionString:
    'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;',
  serviceBusConnectionString: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;',
  apiBaseUrl: 'http://127.0.0.1:7071/api',
  graphBaseUrl: 'http://127.0.0.1:8443',
  webhookSecret: 'local-0f6c1d2e-5b7a-4c3d-9e8f-a1b2c3d4e5f6',
  pid: 4242,
  startedAt: '2026-01-01T10:00:00.000Z',
};

const freshRoot = () => mkdtempSync(join(tmpdir(), 'ztp-endpoints-'));

describe('local stack endpoints file', () => {
  it('lives at .local/stack.json under the repository root', () => {
    expect(stackEndpointsPath('/repo')).toBe(join('/repo', '.local', 'stack.json'));
  });

  it('round-trips, is readable only by its owner and leaves no temporary file', async () => {
    const root = freshRoot();
    const path = await writeStackEndpoints(root, endpoints);
    expect(path).toBe(stackEndpointsPath(root));
    expect(await findStackEndpoints(root)).toEqual(endpoints);
    expect(readdirSync(join(root, '.local'))).toEqual(['stack.json']);
    if (process.platform !== 'win32') expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('is found from any folder below the root, the nearest one first', async () => {
    const root = freshRoot();
    await writeStackEndpoints(root, endpoints);
    const deep = join(root, 'test', 'fixtures', 'files');
    mkdirSync(deep, { recursive: true });
    expect(await locateStackEndpoints(deep)).toEqual({ path: stackEndpointsPath(root), endpoints });

    const nested = join(root, 'test');
    await writeStackEndpoints(nested, { ...endpoints, apiBaseUrl: 'http://127.0.0.1:9999/api' });
    expect((await findStackEndpoints(deep))?.apiBaseUrl).toBe('http://127.0.0.1:9999/api');
  });

  it('is undefined when no folder up to the file-system root has one, or after removal', async () => {
    const root = freshRoot();
    expect(await findStackEndpoints(root)).toBeUndefined();
    await writeStackEndpoints(root, endpoints);
    await removeStackEndpoints(root);
    await removeStackEndpoints(root);
    expect(await findStackEndpoints(root)).toBeUndefined();
  });

  it('reads a file without a webhook secret, as stacks before it wrote them', async () => {
    const root = freshRoot();
    const { webhookSecret: _left, ...older } = endpoints;
    await writeStackEndpoints(root, older);
    const found = await findStackEndpoints(root);
    expect(found).toEqual(older);
    expect(found?.webhookSecret).toBeUndefined();
  });

  it('keeps fields it does not know, for newer stacks', async () => {
    const root = freshRoot();
    mkdirSync(join(root, '.local'));
    writeFileSync(stackEndpointsPath(root), JSON.stringify({ ...endpoints, dashboardUrl: 'http://127.0.0.1:1/' }));
    expect(await findStackEndpoints(root)).toMatchObject({ ...endpoints, dashboardUrl: 'http://127.0.0.1:1/' });
  });

  it.each([
    ['not JSON', '{', 'is not JSON'],
    ['missing storage', JSON.stringify({ serviceBusConnectionString: 'x', apiBaseUrl: 'y' }), 'storageConnectionString'],
    ['wrong types', JSON.stringify({ ...endpoints, pid: 'one' }), 'pid'],
    ['empty webhook secret', JSON.stringify({ ...endpoints, webhookSecret: '' }), 'webhookSecret'],
  ])('rejects a damaged file (%s) instead of looking further up', async (_case, content, problem) => {
    const root = freshRoot();
    await writeStackEndpoints(root, endpoints);
    const inner = join(root, 'inner');
    mkdirSync(join(inner, '.local'), { recursive: true });
    writeFileSync(stackEndpointsPath(inner), content);
    const error = await findStackEndpoints(inner).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StackEndpointsError);
    expect((error as StackEndpointsError).path).toBe(stackEndpointsPath(inner));
    expect((error as Error).message).toContain(problem);
  });
});
