import { randomUUID } from 'node:crypto';
import {
  InvocationContext,
  type ServiceBusQueueFunctionOptions,
  type StorageBlobFunctionOptions,
} from '@azure/functions';
import { ServiceBusClient, type ServiceBusReceivedMessage, type ServiceBusReceiver } from '@azure/service-bus';
import { BlobServiceClient } from '@azure/storage-blob';
import type { Logger } from '../../shared/log.js';

/**
 * Runs the product's real function definitions — the exported options objects the Azure
 * Functions host is given — without the host:
 * - Service Bus queue triggers: peek-lock receive, complete when the handler resolves,
 *   abandon when it throws (the queue's max delivery count then dead-letters), like the host
 *   with autoCompleteMessages.
 * - Blob triggers with source EventGrid: a watcher lists the container and delivers each new
 *   or changed blob once (as Event Grid's BlobCreated would), retrying a failed invocation
 *   a few times with backoff, as the host does before giving up.
 * It is for local runs and end-to-end tests, not a production host.
 */

export interface DevHostOptions {
  readonly serviceBusConnectionString: string;
  readonly storageConnectionString: string;
  readonly log: Logger;
  /** How often blob containers are listed for new files (ms). */
  readonly blobPollMs?: number;
  /** Concurrent messages per queue (host.json maxConcurrentCalls). */
  readonly maxConcurrentCalls?: number;
}

interface BlobWatch {
  readonly name: string;
  readonly options: StorageBlobFunctionOptions;
  readonly container: string;
  readonly seen: Map<string, string>;
}

const BLOB_ATTEMPTS = 5;

export class DevHost {
  private readonly bus: ServiceBusClient;
  private readonly blobService: BlobServiceClient;
  private readonly receivers: ServiceBusReceiver[] = [];
  private readonly queues: { name: string; options: ServiceBusQueueFunctionOptions }[] = [];
  private readonly blobs: BlobWatch[] = [];
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private stopped = false;
  /** Invocations that failed for good (after the blob retries). */
  readonly failures: { functionName: string; error: string }[] = [];

  constructor(private readonly options: DevHostOptions) {
    this.bus = new ServiceBusClient(options.serviceBusConnectionString);
    this.blobService = BlobServiceClient.fromConnectionString(options.storageConnectionString);
  }

  serviceBusQueue(name: string, options: ServiceBusQueueFunctionOptions): this {
    this.queues.push({ name, options });
    return this;
  }

  storageBlob(name: string, options: StorageBlobFunctionOptions): this {
    const [container] = options.path.split('/');
    if (!container) throw new Error(`Blob trigger ${name} has no container in its path ${options.path}`);
    this.blobs.push({ name, options, container, seen: new Map() });
    return this;
  }

  async start(): Promise<void> {
    for (const { name, options } of this.queues) this.startQueue(name, options);
    for (const watch of this.blobs) await this.blobService.getContainerClient(watch.container).createIfNotExists();
    const pollMs = this.options.blobPollMs ?? 250;
    const loop = (): void => {
      if (this.stopped) return;
      this.polling = this.pollBlobs().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, pollMs);
      });
    };
    if (this.blobs.length > 0) loop();
  }

  private startQueue(name: string, options: ServiceBusQueueFunctionOptions): void {
    const receiver = this.bus.createReceiver(options.queueName, { receiveMode: 'peekLock' });
    this.receivers.push(receiver);
    receiver.subscribe(
      {
        processMessage: async (message: ServiceBusReceivedMessage) => {
          const context = new InvocationContext({
            invocationId: randomUUID(),
            functionName: name,
            triggerMetadata: {
              messageId: message.messageId,
              deliveryCount: message.deliveryCount,
              enqueuedTimeUtc: message.enqueuedTimeUtc?.toISOString(),
              correlationId: message.correlationId,
              subject: message.subject,
            },
            logHandler: () => undefined,
          });
          const run = Promise.resolve(options.handler(message.body, context));
          this.inFlight.add(run);
          try {
            await run;
          } catch (error) {
            this.options.log.warn(
              { event: 'devhost.invocation-failed', functionName: name, messageId: message.messageId, deliveryCount: message.deliveryCount, err: error },
              `${name} failed; the message will be redelivered or dead-lettered`,
            );
            throw error;
          } finally {
            this.inFlight.delete(run);
          }
        },
        processError: async (args) => {
          if (this.stopped) return;
          this.options.log.debug({ event: 'devhost.receiver-error', functionName: name, err: args.error }, 'receiver error');
        },
      },
      { autoCompleteMessages: true, maxConcurrentCalls: this.options.maxConcurrentCalls ?? 8 },
    );
  }

  private async pollBlobs(): Promise<void> {
    for (const watch of this.blobs) {
      try {
        const container = this.blobService.getContainerClient(watch.container);
        for await (const blob of container.listBlobsFlat()) {
          const etag = blob.properties.etag ?? '';
          if (watch.seen.get(blob.name) === etag) continue;
          watch.seen.set(blob.name, etag);
          const run = this.invokeBlob(watch, blob.name);
          this.inFlight.add(run);
          void run.finally(() => this.inFlight.delete(run));
        }
      } catch (error) {
        if (!this.stopped) this.options.log.debug({ event: 'devhost.blob-poll-failed', err: error }, 'listing blobs failed');
      }
    }
  }

  private async invokeBlob(watch: BlobWatch, blobName: string): Promise<void> {
    const fullPath = `${watch.container}/${blobName}`;
    const [, supplier, ...rest] = fullPath.split('/');
    for (let attempt = 1; attempt <= BLOB_ATTEMPTS && !this.stopped; attempt++) {
      const context = new InvocationContext({
        invocationId: randomUUID(),
        functionName: watch.name,
        triggerMetadata: { blobTrigger: fullPath, supplier, name: rest.join('/'), uri: `${watch.container}/${blobName}` },
        logHandler: () => undefined,
      });
      try {
        // The real host passes the content; the product streams it itself, so none is read here.
        await watch.options.handler(Buffer.alloc(0), context);
        return;
      } catch (error) {
        this.options.log.warn({ event: 'devhost.invocation-failed', functionName: watch.name, blob: fullPath, attempt, err: error }, `${watch.name} failed`);
        if (attempt === BLOB_ATTEMPTS) {
          this.failures.push({ functionName: watch.name, error: error instanceof Error ? error.message : String(error) });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt).unref());
      }
    }
  }

  /** Resolves when no invocation is running. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling;
    await Promise.allSettled(this.receivers.map((receiver) => receiver.close()));
    await Promise.allSettled([...this.inFlight]);
    await this.bus.close();
  }
}
