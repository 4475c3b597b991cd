import { randomUUID } from 'node:crypto';
import type { StorageBlobFunctionOptions } from '@azure/functions';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueClient } from '@azure/storage-queue';
import { describe, expect, inject, it, vi } from 'vitest';
import { DevHost } from '../../../../local/dev-host/index.js';
import { BLOB_TRIGGER_POISON_QUEUE, readPoisonBlobMessage } from '../../../../shared/domain/intake-failures.js';
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

  it('puts a blob whose every attempt failed on the poison queue, as the host does', async () => {
    const storage = inject('storageConnectionString');
    // The intake container's name: the poison message names it, and only those are the intake's.
    const container = 'hash-uploads';
    const name = `poison-${randomUUID()}.csv`;
    let attempts = 0;
    const options: StorageBlobFunctionOptions = {
      path: `${container}/{name}`,
      connection: 'AzureWebJobsStorage',
      source: 'EventGrid',
      handler: (_blob, context) => {
        if (String(context.triggerMetadata?.blobTrigger).endsWith(name)) attempts++;
        throw new Error('storage unreachable');
      },
    };
    const host = new DevHost({
      serviceBusConnectionString: 'Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=a2V5;UseDevelopmentEmulator=true',
      storageConnectionString: storage,
      log: createLogger({ level: 'silent' }),
      blobPollMs: 50,
    }).storageBlob('intakeHashFile', options);
    const queue = new QueueClient(storage, BLOB_TRIGGER_POISON_QUEUE);
    await host.start();
    try {
      const blob = BlobServiceClient.fromConnectionString(storage).getContainerClient(container).getBlockBlobClient(name);
      const uploaded = await blob.uploadData(Buffer.from('not a hash file'));
      const found = await vi.waitFor(
        async () => {
          const peeked = await queue.peekMessages({ numberOfMessages: 32 });
          const mine = peeked.peekedMessageItems
            .map((message) => readPoisonBlobMessage(message.messageText, undefined))
            .find((failed) => failed?.blobName === name);
          expect(mine).toBeDefined();
          return mine;
        },
        { timeout: 20_000, interval: 200 },
      );
      expect(attempts).toBe(5);
      expect(found?.reason).toContain('Host.Functions.intakeHashFile');
      expect(found?.etag?.replace(/"/g, '')).toBe(uploaded.etag?.replace(/"/g, ''));
    } finally {
      await host.stop();
    }
  }, 30_000);
});
