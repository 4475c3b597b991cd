import type { ImportedIdentity } from '../../domain/autopilot.js';
import type { DeviceRecord } from '../../domain/device.js';
import { EVENTS } from '../../events.js';
import type { Logger } from '../../log.js';
import { importChunkQueue, redriveImportMessage, redriveReprovisionMessage, reprovisionQueue } from '../../messages/index.js';
import type { RedriveDeps } from './redrive-types.js';
import { ensureTick } from './ticks.js';

/**
 * The work that follows a re-drive's transitions, sent once they are all written: import
 * messages for devices Autopilot never saw, the re-provisioning worker's messages, the polls
 * that follow the others, an Autopilot sync for devices found registered, and the clean-up of
 * imported records whose devices have moved on.
 */
export class HandOff {
  private readonly received: { serialNumber: string; sequence: number }[] = [];
  private readonly requests: { serialNumber: string; requestId: string; sequence: number }[] = [];
  private readonly polls = new Set<'imports' | 'autopilot' | 'reprovision'>();
  private readonly finishedRecords: string[] = [];
  private sync = false;

  constructor(
    private readonly deps: RedriveDeps,
    private readonly correlationId: string,
    private readonly log: Logger,
  ) {}

  importAgain(device: DeviceRecord): void {
    this.received.push({ serialNumber: device.serialNumber, sequence: device.eventCount });
  }

  reprovision(device: DeviceRecord, requestId: string): void {
    this.requests.push({ serialNumber: device.serialNumber, requestId, sequence: device.eventCount });
  }

  poll(tick: 'imports' | 'autopilot' | 'reprovision'): void {
    this.polls.add(tick);
  }

  registered(record: ImportedIdentity | undefined): void {
    this.sync = true;
    this.polls.add('autopilot');
    this.finished(record);
  }

  finished(record: ImportedIdentity | undefined): void {
    if (record) this.finishedRecords.push(record.id);
  }

  async send(): Promise<void> {
    const { deps, correlationId } = this;
    const messages = [];
    for (let start = 0; start < this.received.length; start += deps.importChunkSize) {
      messages.push(redriveImportMessage(this.received.slice(start, start + deps.importChunkSize), correlationId));
    }
    await deps.queue.send(importChunkQueue, messages);
    await deps.queue.send(
      reprovisionQueue,
      this.requests.map((request) =>
        redriveReprovisionMessage({ serialNumber: request.serialNumber, requestId: request.requestId }, request.sequence, correlationId),
      ),
    );
    if (this.sync) {
      const synced = await deps.graph.syncAutopilot();
      if (!synced.ok) this.log.info({ event: EVENTS.syncSkipped, kind: synced.kind }, 'Autopilot sync not sent this time');
    }
    const at = new Date(deps.now().getTime() + deps.waits.firstPollMs);
    for (const tick of this.polls) await ensureTick(deps.ticks, tick, at, { correlationId });
    // Records of devices that moved on: deleted now, at clean-up priority; the next import poll deletes any left.
    for (const id of this.finishedRecords) {
      const deleted = await deps.graph.deleteImportedIdentity(id);
      if (!deleted.ok && deleted.kind !== 'not-found') break;
    }
  }
}
