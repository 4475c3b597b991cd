import type { ResolvedOptions } from './options.js';
import type { Timeline } from './timeline.js';

export type SyncOutcome = 'started' | 'running' | 'too-soon';

/** Graph answers 429 to a sync "within 10 minutes of the previous sync" (windowsAutopilotSettings: sync). */
const SYNC_COOLDOWN_MS = 10 * 60 * 1000;

/** `windowsAutopilotSettings/sync`: it changes nothing else, as imported devices appear as soon as their import completes. */
export class AutopilotSync {
  private lastStartedAt: number | undefined;
  private lastEndsAt = 0;

  constructor(
    private readonly timeline: Timeline,
    private readonly options: ResolvedOptions,
  ) {}

  sync(): SyncOutcome {
    const now = this.timeline.now();
    if (now < this.lastEndsAt) return 'running';
    if (this.lastStartedAt !== undefined && now - this.lastStartedAt < SYNC_COOLDOWN_MS) return 'too-soon';
    this.lastStartedAt = now;
    this.lastEndsAt = now + this.timeline.draw(this.options.latencies.syncRunSeconds);
    return 'started';
  }

  state(): { lastSyncAt: number | undefined; running: boolean } {
    return { lastSyncAt: this.lastStartedAt, running: this.timeline.now() < this.lastEndsAt };
  }
}
