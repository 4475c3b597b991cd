import { randomUUID } from 'node:crypto';
import type { StorageBlobFunctionOptions } from '@azure/functions';
import { BlobServiceClient } from '@azure/storage-blob';
import { describe, expect, inject, it, vi } from 'vitest';
import { DevHost } from '../../../../local/dev-host/index.js';
import { createLogger } from '../../../../shared/log.js';

/** The local host runs blob-triggered functions as host.json allows: four at a time, each new blob once. */
describe('dev host blob triggers', () => {
  it('runs at most four invocations at once and every blob once', async () => {
    const storage = inject('storageConnectionString');
    const container = `devhost${randomUUID().replace(/-/g, '').slice(0, 20)}`;
    let running = 0;
    let most = 0;
    const seen: string[] = [];
    // Invocations are held until released, so reaching the limit does not hang on how fast blobs arrive.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const options: StorageBlobFunctionOptions = {
      path: `${container}/{name}`,
      connection: 'AzureWebJobsStorage',
      source: 'EventGrid',
      handler: async (_blob, context) => {
        running++;
        most = Math.max(most, running);
        await held;
        seen.push(String(context.triggerMetadata?.blobTrigger).split('/').pop() ?? '');
        running--;
      },
    };
    // No queue functions: the Service Bus client is created but never connects.
    const host = new DevHost({
      serviceBusConnectionString: 'Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=a2V5;UseDevelopmentEmulator=true',
      storageConnectionString: storage,
      log: createLogger({ level: 'silent' }),
      blobPollMs: 50,
    }).storageBlob('count', options);
    await host.start();
    try {
      const blobs = BlobServiceClient.fromConnectionString(storage).getContainerClient(container);
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => blobs.getBlockBlobClient(`file-${i}.csv`).uploadData(Buffer.from(`row ${i}`))),
      );
      await vi.waitFor(() => expect(running).toBe(4), { timeout: 10_000, interval: 20 });
      // Six polls' worth of time for a fifth invocation to start, were the limit not kept.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(running).toBe(4);
      release();
      await vi.waitFor(() => expect(seen).toHaveLength(10), { timeout: 10_000, interval: 20 });
      // Time for a blob to run a second time, were each not run once.
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      await host.stop();
    }
    expect(seen.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `file-${i}.csv`).sort());
    expect(most).toBe(4);
  });
});
