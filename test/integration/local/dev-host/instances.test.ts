import { randomUUID } from 'node:crypto';
import type { StorageBlobFunctionOptions, TimerFunctionOptions } from '@azure/functions';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { DevHost } from '../../../../local/dev-host/index.js';
import { blobReceiptName, HOST_CONTAINER } from '../../../../local/dev-host/instances.js';
import { createLogger } from '../../../../shared/log.js';

/**
 * Dev hosts with one host id on one storage account are instances of one app: each blob runs
 * on one of them, each timer occurrence on one of them; a blob left by an instance that died
 * runs on another once its receipt's lease runs out.
 */

// No queue functions: the Service Bus client is created but never connects.
const NO_BUS = 'Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=a2V5;UseDevelopmentEmulator=true';

const hosts: DevHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((host) => host.stop()));
});

function instance(hostId: string, configure: (host: DevHost) => DevHost, timeScale = 1): DevHost {
  const host = configure(
    new DevHost({
      serviceBusConnectionString: NO_BUS,
      storageConnectionString: inject('storageConnectionString'),
      log: createLogger({ level: 'silent' }),
      blobPollMs: 50,
      hostId,
      timeScale,
    }),
  );
  hosts.push(host);
  return host;
}

function blobTrigger(container: string, ran: { instance: string; blob: string }[], name: string): StorageBlobFunctionOptions {
  return {
    path: `${container}/{name}`,
    connection: 'AzureWebJobsStorage',
    source: 'EventGrid',
    handler: async (_blob, context) => {
      ran.push({ instance: name, blob: String(context.triggerMetadata?.blobTrigger).split('/').pop() ?? '' });
      // Long enough for the other instance to list the blob while it runs.
      await new Promise((resolve) => setTimeout(resolve, 100));
    },
  };
}

const uniqueName = (prefix: string): string => `${prefix}${randomUUID().replace(/-/g, '').slice(0, 16)}`;

describe('dev host instances of one app', () => {
  it('run each blob once between them, and a later instance does not run it again', async () => {
    const container = uniqueName('instances');
    const hostId = uniqueName('app-');
    const ran: { instance: string; blob: string }[] = [];
    const a = instance(hostId, (host) => host.storageBlob('intake', blobTrigger(container, ran, 'a')));
    const b = instance(hostId, (host) => host.storageBlob('intake', blobTrigger(container, ran, 'b')));
    await Promise.all([a.start(), b.start()]);
    const blobs = BlobServiceClient.fromConnectionString(inject('storageConnectionString')).getContainerClient(container);
    const names = Array.from({ length: 12 }, (_, i) => `file-${i}.csv`);
    await Promise.all(names.map((name) => blobs.getBlockBlobClient(name).uploadData(Buffer.from(name))));
    await vi.waitFor(() => expect(ran).toHaveLength(12), { timeout: 15_000, interval: 50 });
    // Time for any blob to run a second time on the other instance.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(ran.map((run) => run.blob).sort()).toEqual([...names].sort());
    expect(new Set(ran.map((run) => run.instance)).size, 'both instances took blobs').toBe(2);

    await Promise.all([a.stop(), b.stop()]);
    const c = instance(hostId, (host) => host.storageBlob('intake', blobTrigger(container, ran, 'c')));
    await c.start();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(ran).toHaveLength(12);

    // Another app (another host id) on the same storage runs them all itself.
    const other: { instance: string; blob: string }[] = [];
    const d = instance(uniqueName('other-'), (host) => host.storageBlob('intake', blobTrigger(container, other, 'd')));
    await d.start();
    await vi.waitFor(() => expect(other).toHaveLength(12), { timeout: 15_000, interval: 50 });
  }, 40_000);

  it('run a blob whose receipt an instance that died still held, once its lease runs out', async () => {
    const container = uniqueName('instances');
    const hostId = uniqueName('app-');
    const storage = BlobServiceClient.fromConnectionString(inject('storageConnectionString'));
    const uploaded = await storage.getContainerClient(container).createIfNotExists();
    expect(uploaded.succeeded).toBe(true);
    const { etag } = await storage.getContainerClient(container).getBlockBlobClient('orphan.csv').uploadData(Buffer.from('x'));
    // What an instance leaves when it dies while running the blob: the receipt, under a lease nobody renews.
    const hostContainer = storage.getContainerClient(HOST_CONTAINER);
    await hostContainer.createIfNotExists();
    const receipt = hostContainer.getBlockBlobClient(blobReceiptName(hostId, 'intake', etag!, container, 'orphan.csv'));
    await receipt.upload('', 0);
    await receipt.getBlobLeaseClient().acquireLease(15);
    const leasedAt = Date.now();

    const ran: { instance: string; blob: string }[] = [];
    await instance(hostId, (host) => host.storageBlob('intake', blobTrigger(container, ran, 'survivor'))).start();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(ran, 'not while the lease holds').toEqual([]);
    await vi.waitFor(() => expect(ran).toEqual([{ instance: 'survivor', blob: 'orphan.csv' }]), { timeout: 30_000, interval: 200 });
    expect(Date.now() - leasedAt).toBeGreaterThanOrEqual(15_000);
    // The receipt is marked done once the function has returned: a moment after it ran.
    await vi.waitFor(async () => expect((await receipt.getProperties()).metadata?.done).toBe('true'), { timeout: 5_000, interval: 100 });
  }, 45_000);

  it('run each timer occurrence on one instance', async () => {
    const hostId = uniqueName('app-');
    const runs: { instance: string; at: number }[] = [];
    // Every second, ten times faster: an occurrence every 100 ms.
    const timer = (name: string): TimerFunctionOptions => ({
      schedule: '* * * * * *',
      runOnStartup: false,
      handler: () => void runs.push({ instance: name, at: Date.now() }),
    });
    const a = instance(hostId, (host) => host.timer('sweeper', timer('a')), 10);
    const b = instance(hostId, (host) => host.timer('sweeper', timer('b')), 10);
    const started = Date.now();
    await Promise.all([a.start(), b.start()]);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await Promise.all([a.stop(), b.stop()]);
    const elapsed = Date.now() - started;

    const slots = runs.map((run) => Math.floor(run.at / 100));
    expect(new Set(slots).size, `two runs of one occurrence: ${JSON.stringify(runs)}`).toBe(slots.length);
    expect(runs.length).toBeLessThanOrEqual(Math.ceil(elapsed / 100) + 1);
    expect(runs.length).toBeGreaterThanOrEqual(10);
  }, 20_000);
});
