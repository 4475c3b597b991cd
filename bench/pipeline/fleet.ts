import type { TableOperationCounts } from '../../shared/adapters/tables/table-metrics.js';
import { TIMED_STATES, type TimedState, type WorkerProgress } from './protocol.js';

/**
 * What every product process has reported so far, put together: a device's steps may be logged
 * by different instances (intake on one, import on another), so the first arrival in each state
 * and the latest state are taken over all of them. Milestones (every device registered, every
 * device enrolled) are seen as the report that completes them arrives, with the Table Storage
 * counts of that moment.
 */

export const SETTLED_STATES: ReadonlySet<string> = new Set(['enrolled', 'failed', 'stalled']);

export interface Milestone {
  /** Real ms since epoch of the transition that completed it. */
  at: number;
  /** Every instance's Table Storage counts when the benchmark heard of it, summed. */
  tableOperations: TableOperationCounts;
}

export class Fleet {
  private readonly first = Object.fromEntries(TIMED_STATES.map((state) => [state, new Map<string, number>()])) as Record<
    TimedState,
    Map<string, number>
  >;
  private readonly latest = new Map<string, { state: string; at: number }>();
  private settledCount = 0;
  private readonly tables = new Map<number, TableOperationCounts>();
  readonly milestones: Partial<Record<'registered' | 'enrolled', Milestone>> = {};

  constructor(
    private readonly devices: number,
    /** Called as a milestone is reached, to record what else stood where at that moment. */
    private readonly onMilestone: (name: 'registered' | 'enrolled') => void = () => undefined,
  ) {}

  add(instance: number, progress: WorkerProgress): void {
    this.tables.set(instance, progress.tableOperations);
    for (const [serial, to, at] of progress.transitions) {
      const first = this.first[to as TimedState] as Map<string, number> | undefined;
      if (first && !first.has(serial)) first.set(serial, at);
      const before = this.latest.get(serial);
      // Instances report out of step with each other: the later transition is the latest state.
      if (before && before.at > at) continue;
      if (before && SETTLED_STATES.has(before.state)) this.settledCount -= 1;
      if (SETTLED_STATES.has(to)) this.settledCount += 1;
      this.latest.set(serial, { state: to, at });
    }
    for (const name of ['registered', 'enrolled'] as const) {
      if (this.milestones[name] || this.first[name].size < this.devices) continue;
      let at = 0;
      for (const time of this.first[name].values()) at = Math.max(at, time);
      this.milestones[name] = { at, tableOperations: this.tableOperations() };
      this.onMilestone(name);
    }
  }

  reached(state: TimedState): number {
    return this.first[state].size;
  }

  /** Devices whose latest state is enrolled, failed or stalled. */
  settled(): number {
    return this.settledCount;
  }

  /** Per state, the real times at which each device first reached it, ascending. */
  firstReached(): Record<TimedState, number[]> {
    return Object.fromEntries(TIMED_STATES.map((state) => [state, [...this.first[state].values()].sort((a, b) => a - b)])) as Record<
      TimedState,
      number[]
    >;
  }

  /** The latest counts of every instance, summed. */
  tableOperations(): TableOperationCounts {
    return sumTableOperations([...this.tables.values()]);
  }
}

export function sumTableOperations(all: readonly TableOperationCounts[]): TableOperationCounts {
  const sum: TableOperationCounts = {};
  for (const counts of all) {
    for (const [table, kinds] of Object.entries(counts)) {
      const into = (sum[table] ??= {});
      for (const [kind, count] of Object.entries(kinds)) {
        const target = (into[kind as keyof typeof kinds] ??= { requests: 0, entities: 0 });
        target.requests += count.requests;
        target.entities += count.entities;
      }
    }
  }
  return sum;
}
