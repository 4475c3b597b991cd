import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { TickLeaseRepository } from '../../shared/adapters/tables/tick-leases.js';
import { TableStore } from '../../shared/adapters/tables/table-store.js';
import { beginTickRun, endTickRun, ensureTick, type TickDeps } from '../../shared/services/pipeline/ticks.js';
import type { OutgoingMessage } from '../../shared/adapters/bus/work-queue.js';

/** The poll chains' lease, against Azurite: one chain however many ask, and never a dead one. */
describe('ensureTick', () => {
  let leases: TickLeaseRepository;
  const scheduled: { at: Date; messages: readonly OutgoingMessage[] }[] = [];
  let clock = new Date('2026-01-01T10:00:00Z');
  let deps: TickDeps;

  beforeAll(async () => {
    leases = new TickLeaseRepository(TableStore.fromConnectionString(inject('storageConnectionString'), `ticks${randomUUID().replace(/-/g, '')}`));
    await leases.ensure();
    // The schedule port records what would go on the queue; the lease is the real table.
    deps = { leases, now: () => clock, queue: { schedule: async (_queue, messages, at) => void scheduled.push({ at, messages }) } };
  });

  const at = (minutes: number): Date => new Date(clock.getTime() + minutes * 60_000);

  it('schedules once for many requests while a run is ahead, and earlier when asked for earlier', async () => {
    await ensureTick(deps, 'imports', at(5), { correlationId: 'a' });
    await ensureTick(deps, 'imports', at(5), { correlationId: 'b' });
    await ensureTick(deps, 'imports', at(8), { correlationId: 'c' });
    expect(scheduled).toHaveLength(1);
    await ensureTick(deps, 'imports', at(2), { correlationId: 'd' });
    expect(scheduled).toHaveLength(2);
    expect(scheduled[1]!.at).toEqual(at(2));
    expect((await leases.get('imports')).scheduledFor).toBe(at(2).toISOString());
  });

  it('starts again after a quiet spell: a run in the past is not a pending run', async () => {
    clock = at(60); // every scheduled run is long over; the chain ended
    const before = scheduled.length;
    await ensureTick(deps, 'imports', at(1), { correlationId: 'e' });
    expect(scheduled.length).toBe(before + 1);
    expect(scheduled.at(-1)!.messages[0]!.messageId).toBe(`tick:imports:${at(1).getTime()}`);
  });

  it('lets the running poll schedule its successor even though its own lease is still there', async () => {
    const own = (await leases.get('imports')).scheduledFor!;
    clock = new Date(Date.parse(own) + 1000); // the run is executing now
    const before = scheduled.length;
    await ensureTick(deps, 'imports', at(4), { replacing: own, idle: 2, correlationId: 'f' });
    expect(scheduled.length).toBe(before + 1);
    expect(scheduled.at(-1)!.messages[0]!.payload).toMatchObject({ tick: 'imports', idle: 2 });
  });

  it('runs one poll at a time: a second run stands down and asks for a rerun', async () => {
    const first = { tick: 'autopilot' as const, at: at(0).toISOString(), idle: 0 };
    const second = { tick: 'autopilot' as const, at: at(1).toISOString(), idle: 0 };
    expect(await beginTickRun(deps, first)).toBe(true);
    expect(await beginTickRun(deps, second)).toBe(false);
    // The first run's own redelivery may go on; its end reports the rerun that was asked for.
    expect(await beginTickRun(deps, first)).toBe(true);
    expect(await endTickRun(deps, first)).toBe(true);
    expect(await beginTickRun(deps, second)).toBe(true);
    expect(await endTickRun(deps, second)).toBe(false);
  });
});
