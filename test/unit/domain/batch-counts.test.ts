import { describe, expect, it } from 'vitest';
import {
  awaitingOutcome,
  awaitsOutcome,
  countChange,
  countEntries,
  isListed,
  NO_COUNTS,
  sumCounts,
  type CountedEntry,
} from '../../../shared/domain/batch-counts.js';

const entry = (fields: Partial<CountedEntry> = {}): CountedEntry => ({
  state: 'received',
  waitingFor: undefined,
  accepted: true,
  movedTo: undefined,
  ...fields,
});

describe('batch counts', () => {
  it('counts the accepted devices by state and by the step they wait on, and the ones a later file took', () => {
    const counts = countEntries([
      entry(),
      entry({ state: 'importing', waitingFor: 'import' }),
      entry({ state: 'importing', waitingFor: 'import' }),
      entry({ state: 'registered', waitingFor: 'profile-assignment' }),
      entry({ state: 'enrolled', movedTo: 'b2' }),
      // Not the file's device: listed, and counted by the summary from the list.
      entry({ state: 'rejected', accepted: false }),
    ]);
    expect(counts).toEqual({
      byState: { received: 1, importing: 2, registered: 1 },
      waitingFor: { import: 2, 'profile-assignment': 1 },
      moved: 1,
    });
    expect(awaitingOutcome(counts)).toBe(3);
  });

  it('moves a device from one count to another, and leaves no zero behind', () => {
    const importing = entry({ state: 'importing', waitingFor: 'import' });
    const registered = entry({ state: 'registered' });
    const counts = countChange(countEntries([importing]), importing, registered);
    expect(counts).toEqual({ byState: { registered: 1 }, waitingFor: {}, moved: 0 });
    expect(countChange(counts, registered, { ...registered, movedTo: 'b2' })).toEqual({ byState: {}, waitingFor: {}, moved: 1 });
    expect(countChange(NO_COUNTS, undefined, registered)).toEqual({ byState: { registered: 1 }, waitingFor: {}, moved: 0 });
  });

  it('equals a count from scratch after any sequence of changes', () => {
    const states = ['received', 'importing', 'registered', 'failed', 'stalled', 'rejected'] as const;
    const rows = new Map<number, CountedEntry>();
    let counts = NO_COUNTS;
    for (let step = 0; step < 500; step++) {
      const key = (step * 7) % 23;
      const after = entry({
        state: states[(step * 5) % states.length]!,
        waitingFor: step % 3 === 0 ? 'import' : undefined,
        accepted: step % 11 !== 0,
        movedTo: step % 13 === 0 ? 'b9' : undefined,
      });
      counts = countChange(counts, rows.get(key), after);
      rows.set(key, after);
    }
    expect(counts).toEqual(countEntries(rows.values()));
  });

  it('sums counts kept in parts to the count of all their entries, with no zero left behind', () => {
    const first = [entry(), entry({ state: 'importing', waitingFor: 'import' }), entry({ state: 'enrolled', movedTo: 'b2' })];
    const second = [
      entry({ state: 'importing', waitingFor: 'import' }),
      entry({ state: 'failed' }),
      entry({ state: 'rejected', accepted: false }),
    ];
    expect(sumCounts([countEntries(first), countEntries(second), NO_COUNTS])).toEqual(countEntries([...first, ...second]));
    expect(sumCounts([])).toEqual(NO_COUNTS);
    const moved = countChange(countEntries([entry()]), entry(), undefined);
    expect(sumCounts([moved, countEntries([entry({ state: 'failed' })])])).toEqual({ byState: { failed: 1 }, waitingFor: {}, moved: 0 });
  });

  it('lists the rows the file rejected and the devices that need attention, not the rest', () => {
    expect(isListed(entry({ state: 'rejected', accepted: false }))).toBe(true);
    expect(isListed(entry({ state: 'received', accepted: false, movedTo: 'b2' }))).toBe(true);
    expect(isListed(entry({ state: 'failed' }))).toBe(true);
    expect(isListed(entry({ state: 'stalled', waitingFor: 'import' }))).toBe(true);
    expect(isListed(entry({ state: 'failed', movedTo: 'b2' }))).toBe(false);
    expect(isListed(entry({ state: 'enrolled' }))).toBe(false);
    expect(awaitsOutcome(entry({ state: 'importing' }))).toBe(true);
    expect(awaitsOutcome(entry({ state: 'importing', movedTo: 'b2' }))).toBe(false);
  });
});
