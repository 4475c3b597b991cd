import type { DeviceState, WaitStep } from './lifecycle.js';

/**
 * A file's devices counted as they move, so its summary and the settle step read one row
 * instead of every device of the file. Counted: the devices the file accepted and still has,
 * by state and by the step they wait on, and those a later file has taken since. A device
 * entry the file did not accept (a rejected row that recorded a device) is not counted here:
 * it is listed, with the failed and stalled devices, and the summary counts the list.
 */

export interface BatchCounts {
  readonly byState: Partial<Record<DeviceState, number>>;
  readonly waitingFor: Partial<Record<WaitStep, number>>;
  readonly moved: number;
}

/** What decides how a file's entry of a device is counted and whether it is listed. */
export interface CountedEntry {
  readonly state: DeviceState;
  readonly waitingFor: WaitStep | undefined;
  readonly accepted: boolean;
  readonly movedTo: string | undefined;
}

export const NO_COUNTS: BatchCounts = { byState: {}, waitingFor: {}, moved: 0 };

/** The states a summary lists device by device (with the rows the file rejected). */
export const ATTENTION_STATES: ReadonlySet<DeviceState> = new Set(['rejected', 'failed', 'stalled']);

/** A device still waiting for its Autopilot outcome holds its file back from settling. */
const AWAITING_OUTCOME: ReadonlySet<DeviceState> = new Set(['received', 'importing']);

/** Whether the summary lists this entry: a row the file rejected, or a device of the file that needs attention. */
export function isListed(entry: CountedEntry): boolean {
  return !entry.accepted || (entry.movedTo === undefined && ATTENTION_STATES.has(entry.state));
}

/** Whether this entry keeps its file from settling. */
export function awaitsOutcome(entry: Pick<CountedEntry, 'state' | 'movedTo'>): boolean {
  return entry.movedTo === undefined && AWAITING_OUTCOME.has(entry.state);
}

/** How many of the counted devices still wait for their Autopilot outcome. */
export function awaitingOutcome(counts: BatchCounts): number {
  return [...AWAITING_OUTCOME].reduce((sum, state) => sum + (counts.byState[state] ?? 0), 0);
}

function bump<K extends string>(record: Partial<Record<K, number>>, key: K, by: number): Partial<Record<K, number>> {
  const value = (record[key] ?? 0) + by;
  const next = { ...record };
  if (value === 0) delete next[key];
  else next[key] = value;
  return next;
}

function add(counts: BatchCounts, entry: CountedEntry, by: 1 | -1): BatchCounts {
  if (!entry.accepted) return counts;
  if (entry.movedTo !== undefined) return { ...counts, moved: counts.moved + by };
  return {
    byState: bump(counts.byState, entry.state, by),
    waitingFor: entry.waitingFor === undefined ? counts.waitingFor : bump(counts.waitingFor, entry.waitingFor, by),
    moved: counts.moved,
  };
}

/** The counts after one entry changed from `before` to `after` (undefined: no entry). */
export function countChange(counts: BatchCounts, before: CountedEntry | undefined, after: CountedEntry | undefined): BatchCounts {
  const removed = before === undefined ? counts : add(counts, before, -1);
  return after === undefined ? removed : add(removed, after, 1);
}

/** The counts of a whole set of entries. */
export function countEntries(entries: Iterable<CountedEntry>): BatchCounts {
  let counts = NO_COUNTS;
  for (const entry of entries) counts = countChange(counts, undefined, entry);
  return counts;
}

/** Counts kept in parts (a file's ranges of lines), taken together. */
export function sumCounts(parts: Iterable<BatchCounts>): BatchCounts {
  let sum = NO_COUNTS;
  for (const part of parts)
    sum = {
      byState: bumpAll(sum.byState, part.byState),
      waitingFor: bumpAll(sum.waitingFor, part.waitingFor),
      moved: sum.moved + part.moved,
    };
  return sum;
}

function bumpAll<K extends string>(record: Partial<Record<K, number>>, by: Partial<Record<K, number>>): Partial<Record<K, number>> {
  let next = record;
  for (const [key, count] of Object.entries(by) as [K, number][]) next = bump(next, key, count);
  return next;
}
