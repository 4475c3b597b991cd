import { BlobServiceClient, RestError, type BlobLeaseClient, type ContainerClient } from '@azure/storage-blob';

/**
 * What several dev hosts of one app share through its storage account, so that they split the
 * work as instances of a Functions app do instead of each doing all of it:
 * - a blob event runs on one instance: the first to take the lease on the blob's receipt runs
 *   it and marks the receipt done; an instance that dies mid-run leaves the lease to expire, and
 *   another one runs the blob again (the Functions host keeps the same receipts for its blob
 *   triggers; with Event Grid as the source, Event Grid redelivers an event that was not
 *   answered);
 * - a timer runs once per occurrence: every instance wakes at the occurrence, and the one that
 *   moves the timer's status blob to it (ETag-guarded) runs it (the Functions host holds a
 *   singleton lock for each timer for the same purpose).
 * Kept where the Functions host keeps its own bookkeeping, the `azure-webjobs-hosts` container,
 * under the host id all instances of one app share.
 */

export const HOST_CONTAINER = 'azure-webjobs-hosts';

/** The shortest blob lease storage allows; renewed a few times within it while the blob runs. */
const RECEIPT_LEASE_SECONDS = 15;
const RECEIPT_RENEW_MS = 5_000;

/** A blob this instance runs: renewed until it is completed (done for every instance) or released (another may take it). */
export interface BlobClaim {
  complete(): Promise<void>;
  release(): Promise<void>;
}

export type BlobClaimResult = BlobClaim | 'done' | 'busy';

/** Where the receipt of one version of a blob for one function is kept, in HOST_CONTAINER. */
export function blobReceiptName(hostId: string, functionName: string, etag: string, container: string, blobName: string): string {
  return `blobreceipts/${hostId}/${functionName}/${etag.replace(/"/g, '')}/${container}/${blobName}`;
}

export class InstanceCoordination {
  private readonly container: ContainerClient;
  private ensured: Promise<unknown> | undefined;

  constructor(
    storageConnectionString: string,
    private readonly hostId: string,
    private readonly onRenewFailed: (error: unknown) => void = () => undefined,
  ) {
    this.container = BlobServiceClient.fromConnectionString(storageConnectionString).getContainerClient(HOST_CONTAINER);
  }

  private ensure(): Promise<unknown> {
    this.ensured ??= this.container.createIfNotExists().catch((error: unknown) => {
      this.ensured = undefined;
      throw error;
    });
    return this.ensured;
  }

  /**
   * Takes the receipt of one version (ETag) of a blob for one function: 'done' when an instance
   * already ran it, 'busy' while another holds it.
   */
  async claimBlob(functionName: string, container: string, blobName: string, etag: string): Promise<BlobClaimResult> {
    await this.ensure();
    const receipt = this.container.getBlockBlobClient(blobReceiptName(this.hostId, functionName, etag, container, blobName));
    await createIfAbsent(() => receipt.upload('', 0, { conditions: { ifNoneMatch: '*' } }));
    if (await isDone()) return 'done';
    const lease = receipt.getBlobLeaseClient();
    try {
      await lease.acquireLease(RECEIPT_LEASE_SECONDS);
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 409) return 'busy';
      throw error;
    }
    // Done between the first look and the lease: the instance that ran it let go of it since.
    if (await isDone()) {
      await lease.releaseLease().catch(() => undefined);
      return 'done';
    }
    return this.held(lease, (conditions) => receipt.setMetadata({ done: 'true' }, { conditions }));

    async function isDone(): Promise<boolean> {
      return (await receipt.getProperties()).metadata?.done === 'true';
    }
  }

  private held(lease: BlobLeaseClient, markDone: (conditions: { leaseId: string }) => Promise<unknown>): BlobClaim {
    const renewal = setInterval(() => void lease.renewLease().catch(this.onRenewFailed), RECEIPT_RENEW_MS);
    renewal.unref();
    const finish = async (done: boolean): Promise<void> => {
      clearInterval(renewal);
      try {
        if (done) await markDone({ leaseId: lease.leaseId });
      } finally {
        await lease.releaseLease().catch(() => undefined);
      }
    };
    return { complete: () => finish(true), release: () => finish(false) };
  }

  /**
   * Whether this instance runs a timer's occurrence `slot` (the occurrence's number: its time
   * divided by the timer's period): true for exactly one of the instances that ask.
   */
  async claimTimerSlot(functionName: string, slot: number): Promise<boolean> {
    await this.ensure();
    const status = this.container.getBlockBlobClient(`timers/${this.hostId}/${functionName}/status`);
    for (let attempt = 0; attempt < 5; attempt++) {
      let current: { slot: number; etag: string | undefined };
      try {
        const properties = await status.getProperties();
        current = { slot: Number(properties.metadata?.slot ?? -1), etag: properties.etag };
      } catch (error) {
        if (!(error instanceof RestError) || error.statusCode !== 404) throw error;
        await createIfAbsent(() => status.upload('', 0, { conditions: { ifNoneMatch: '*' }, metadata: { slot: '-1' } }));
        continue;
      }
      if (current.slot >= slot) return false;
      try {
        await status.setMetadata({ slot: String(slot) }, { conditions: { ifMatch: current.etag } });
        return true;
      } catch (error) {
        // Another instance moved it first: look again, it is most likely this slot.
        if (!(error instanceof RestError) || error.statusCode !== 412) throw error;
      }
    }
    return false;
  }
}

/** Creates an empty blob unless it exists (409 from storage, 412 from some emulators for the failed condition). */
async function createIfAbsent(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (error) {
    if (!(error instanceof RestError) || (error.statusCode !== 409 && error.statusCode !== 412)) throw error;
  }
}
