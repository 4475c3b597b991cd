import { randomUUID } from 'node:crypto';
import { ServiceBusClient } from '@azure/service-bus';
import Long from 'long';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startServiceBusBroker, type ServiceBusBroker } from '../../../../local/servicebus-broker/index.js';
import { WorkQueue } from '../../../../shared/adapters/bus/work-queue.js';
import { parseMessage, QUEUES } from '../../../../shared/messages/index.js';
import { TickLeaseRepository } from '../../../../shared/adapters/tables/tick-leases.js';
import { TableStore } from '../../../../shared/adapters/tables/table-store.js';
import {
  beginTickRun,
  endTickRun,
  ensureTick,
  keepTickRun,
  RUN_LEASE_MS,
  type TickDeps,
} from '../../../../shared/services/pipeline/ticks.js';

interface ScheduledTick {
  readonly messageId: unknown;
  readonly state: string;
  readonly scheduledFor: string | undefined;
  readonly kind: string | undefined;
  readonly correlationId: unknown;
  readonly payload: unknown;
}

/**
 * The poll chains' lease, against Azurite, and their messages, through the real SDK on the
 * Service Bus test broker: one chain however many ask, and never a dead one.
 */
describe('ensureTick', () => {
  let broker: ServiceBusBroker;
  let client: ServiceBusClient;
  let queue: WorkQueue;
  let leases: TickLeaseRepository;
  // Anchored on the real time so that every run the test asks for is still ahead on the broker.
  let clock = new Date();
  let deps: TickDeps;

  beforeAll(async () => {
    // Duplicate detection off: a second schedule of the same run must show, not be dropped.
    broker = await startServiceBusBroker({ queues: [{ name: QUEUES.followup, duplicateDetectionWindowMs: 0 }] });
    client = new ServiceBusClient(broker.connectionString);
    queue = new WorkQueue(client);
    leases = new TickLeaseRepository(TableStore.connect(inject('storageConnectionString'), `ticks${randomUUID().replace(/-/g, '')}`));
    await leases.ensure();
    deps = { leases, now: () => clock, queue };
  });

  afterAll(async () => {
    await queue?.close();
    await client?.close();
    await broker?.stop();
  });

  const at = (minutes: number): Date => new Date(clock.getTime() + minutes * 60_000);

  /** The imports poll's run at `when`, as it should sit on the queue. */
  const scheduledRun = (
    when: Date,
    correlationId: string,
    payload: { idle?: number; cleanup?: readonly string[] } = {},
  ): ScheduledTick => ({
    messageId: `tick:imports:${when.getTime()}`,
    state: 'scheduled',
    scheduledFor: when.toISOString(),
    kind: 'tick',
    correlationId,
    payload: { tick: 'imports', at: when.toISOString(), idle: payload.idle ?? 0, ...(payload.cleanup ? { cleanup: payload.cleanup } : {}) },
  });

  /** Everything on the follow-up queue, scheduled messages included, without taking any. */
  async function onQueue(): Promise<ScheduledTick[]> {
    const receiver = client.createReceiver(QUEUES.followup);
    try {
      // From the first message each time: an implicit peek continues where the last one stopped.
      const messages = await receiver.peekMessages(100, { fromSequenceNumber: Long.ZERO });
      return messages.map((message) => {
        const parsed = parseMessage(QUEUES.followup, message.body);
        if (!parsed.ok) throw new Error(`not a follow-up message: ${parsed.description}`);
        return {
          messageId: message.messageId,
          state: message.state,
          scheduledFor: message.scheduledEnqueueTimeUtc?.toISOString(),
          kind: message.subject,
          correlationId: message.correlationId,
          payload: parsed.message.payload,
        };
      });
    } finally {
      await receiver.close();
    }
  }

  it('schedules once for many requests while a run is ahead, and earlier when asked for earlier', async () => {
    const first = at(5);
    await ensureTick(deps, 'imports', first, { correlationId: 'a' });
    await ensureTick(deps, 'imports', at(5), { correlationId: 'b' });
    await ensureTick(deps, 'imports', at(8), { correlationId: 'c' });
    expect(await onQueue()).toEqual([scheduledRun(first, 'a')]);

    const earlier = at(2);
    await ensureTick(deps, 'imports', earlier, { correlationId: 'd', cleanup: [] });
    const queued = await onQueue();
    // The later run stays scheduled (stale runs are never cancelled) and merges into the chain.
    expect(queued.map((m) => m.messageId)).toEqual([`tick:imports:${first.getTime()}`, `tick:imports:${earlier.getTime()}`]);
    expect(queued[1]).toEqual(scheduledRun(earlier, 'd'));
    expect((await leases.get('imports')).scheduledFor).toBe(earlier.toISOString());
    expect(broker.stats(QUEUES.followup)).toMatchObject({ active: 0, scheduled: 2 });
  });

  it('starts again after a quiet spell: a run in the past is not a pending run', async () => {
    clock = at(60); // every scheduled run is long over; the chain ended
    const before = await onQueue();
    await ensureTick(deps, 'imports', at(1), { correlationId: 'e' });
    const after = await onQueue();
    expect(after).toHaveLength(before.length + 1);
    expect(after.at(-1)).toEqual(scheduledRun(at(1), 'e'));
    expect((await leases.get('imports')).scheduledFor).toBe(at(1).toISOString());
  });

  it('lets the running poll schedule its successor even though its own lease is still there', async () => {
    const own = (await leases.get('imports')).scheduledFor!;
    clock = new Date(Date.parse(own) + 1000); // the run is executing now
    const before = await onQueue();
    const cleanup = ['imp-1', 'imp-2'];
    await ensureTick(deps, 'imports', at(4), { replacing: own, idle: 2, correlationId: 'f', cleanup });
    const after = await onQueue();
    expect(after).toHaveLength(before.length + 1);
    expect(after.at(-1)).toEqual(scheduledRun(at(4), 'f', { idle: 2, cleanup }));

    // Its successor is now the pending run: a later request from anyone adds nothing.
    await ensureTick(deps, 'imports', at(9), { correlationId: 'g' });
    expect(await onQueue()).toHaveLength(after.length);
    expect((await leases.get('imports')).scheduledFor).toBe(at(4).toISOString());
  });

  it('lets a run that starts a moment early (clocks differ) schedule its successor past its own pending time', async () => {
    const own = (await leases.get('imports')).scheduledFor!;
    clock = new Date(Date.parse(own) - 500); // by this instance's clock the run is still ahead
    const before = await onQueue();
    await ensureTick(deps, 'imports', at(3), { correlationId: 'h' });
    expect(await onQueue()).toHaveLength(before.length);

    await ensureTick(deps, 'imports', at(3), { replacing: own, idle: 1, correlationId: 'h' });
    const after = await onQueue();
    expect(after).toHaveLength(before.length + 1);
    expect(after.at(-1)).toMatchObject({
      messageId: `tick:imports:${at(3).getTime()}`,
      state: 'scheduled',
      payload: { tick: 'imports', idle: 1 },
    });
    expect((await leases.get('imports')).scheduledFor).toBe(at(3).toISOString());
  });

  it('runs one poll at a time: a second run stands down and asks for a rerun', async () => {
    const first = { tick: 'autopilot' as const, at: at(0).toISOString(), idle: 0 };
    const second = { tick: 'autopilot' as const, at: at(1).toISOString(), idle: 0 };
    const running = await beginTickRun(deps, first, 'delivery-1');
    expect(running).toMatchObject({ kind: 'run', owner: `autopilot:${first.at}/delivery-1` });
    expect(await beginTickRun(deps, second)).toEqual({ kind: 'stand-down' });
    // The first run's message back while it still runs (its message lock was lost): it never runs beside it.
    expect(await beginTickRun(deps, first, 'delivery-2')).toEqual({
      kind: 'wait',
      until: new Date(clock.getTime() + RUN_LEASE_MS),
    });
    expect(await endTickRun(deps, 'autopilot', (running as { owner: string }).owner)).toBe(true);
    const next = await beginTickRun(deps, second);
    expect(next.kind).toBe('run');
    expect(await endTickRun(deps, 'autopilot', (next as { owner: string }).owner)).toBe(false);
  });

  it('frees the poll when a run dies, once its lock runs out; a delivery of that run taking over keeps the rerun asked of it', async () => {
    const dead = { tick: 'reprovision' as const, at: at(0).toISOString(), idle: 0 };
    const other = { tick: 'reprovision' as const, at: at(1).toISOString(), idle: 0 };
    expect((await beginTickRun(deps, dead, 'crashed')).kind).toBe('run');
    expect(await beginTickRun(deps, other)).toEqual({ kind: 'stand-down' });
    const started = clock;
    try {
      clock = new Date(started.getTime() + RUN_LEASE_MS - 1);
      expect((await beginTickRun(deps, dead, 'redelivered')).kind).toBe('wait');
      clock = new Date(started.getTime() + RUN_LEASE_MS + 1);
      const takeover = await beginTickRun(deps, dead, 'redelivered');
      expect(takeover).toMatchObject({ kind: 'run', owner: `reprovision:${dead.at}/redelivered` });
      // The crashed delivery cannot release what it no longer holds.
      expect(await endTickRun(deps, 'reprovision', `reprovision:${dead.at}/crashed`)).toBe(false);
      expect(await endTickRun(deps, 'reprovision', `reprovision:${dead.at}/redelivered`)).toBe(true);
    } finally {
      clock = started;
    }
  });

  it('a chain of runs each scheduling its successor reads the lease once; a copy gone stale reads it again', async () => {
    const table = `ticks${randomUUID().replace(/-/g, '')}`;
    const own = new TickLeaseRepository(TableStore.connect(inject('storageConnectionString'), table));
    const other = new TickLeaseRepository(TableStore.connect(inject('storageConnectionString'), table));
    await own.ensure();
    let reads = 0;
    const counting: TickDeps = {
      ...deps,
      leases: {
        get: (tick) => {
          reads++;
          return own.get(tick);
        },
        lastKnown: (tick) => own.lastKnown(tick),
        set: (tick, scheduledFor, etag) => own.set(tick, scheduledFor, etag),
        setLock: (tick, lock, etag) => own.setLock(tick, lock, etag),
        getLock: (tick) => own.getLock(tick),
      },
    };
    const started = clock;
    const t = (minutes: number): Date => new Date(started.getTime() + minutes * 60_000);
    try {
      await ensureTick(counting, 'reprovision', t(30), { correlationId: 'chain' });
      for (let run = 30; run < 35; run++) {
        clock = new Date(t(run).getTime() + 100); // run `run` is executing
        await ensureTick(counting, 'reprovision', t(run + 1), { replacing: t(run).toISOString(), correlationId: 'chain' });
      }
      expect(reads).toBe(1);
      expect((await other.get('reprovision')).scheduledFor).toBe(t(35).toISOString());

      // Another instance asks for a run sooner than the one this instance last wrote.
      clock = new Date(t(34).getTime() + 100);
      const lease = await other.get('reprovision');
      await other.set('reprovision', t(34.5).toISOString(), lease.etag);
      // This instance, on its copy, takes itself for run 35 asking for its successor: the write
      // at the copy's ETag fails, the read shows the sooner run pending, and the lease stays.
      const before = (await onQueue()).length;
      await ensureTick(counting, 'reprovision', t(36), { replacing: t(35).toISOString(), correlationId: 'chain' });
      expect(reads).toBe(2);
      expect((await other.get('reprovision')).scheduledFor).toBe(t(34.5).toISOString());
      // The message sent before the write is an extra run, which merges into the chain.
      expect((await onQueue()).length).toBe(before + 1);
    } finally {
      clock = started;
    }
  });

  it('renews and releases its lock without reading it first, and still sees a rerun asked for meanwhile', async () => {
    let reads = 0;
    const counting: TickDeps = {
      ...deps,
      leases: {
        get: (tick) => leases.get(tick),
        lastKnown: (tick) => leases.lastKnown(tick),
        set: (tick, scheduledFor, etag) => leases.set(tick, scheduledFor, etag),
        setLock: (tick, lock, etag) => leases.setLock(tick, lock, etag),
        getLock: (tick) => {
          reads++;
          return leases.getLock(tick);
        },
      },
    };
    const quiet = { tick: 'autopilot' as const, at: at(20).toISOString(), idle: 0 };
    const begun = await beginTickRun(counting, quiet, 'quiet');
    if (begun.kind !== 'run') throw new Error(`expected a run, got ${begun.kind}`);
    const held = keepTickRun(counting, 'autopilot', begun.owner, begun.written, () => undefined, 20);
    const renewed = Date.parse((await leases.getLock('autopilot')).until!);
    clock = new Date(clock.getTime() + 1000);
    try {
      await expect.poll(async () => Date.parse((await leases.getLock('autopilot')).until!), { timeout: 5_000 }).toBeGreaterThan(renewed);
    } finally {
      clock = new Date(clock.getTime() - 1000);
    }
    expect(await endTickRun(counting, 'autopilot', begun.owner, await held.stop())).toBe(false);
    // The one read is beginTickRun's own.
    expect(reads).toBe(1);

    // Another run asks for a rerun while this one runs: the release at the old ETag conflicts, reads, and reports it.
    const busy = { tick: 'autopilot' as const, at: at(21).toISOString(), idle: 0 };
    const running = await beginTickRun(counting, busy, 'busy');
    if (running.kind !== 'run') throw new Error(`expected a run, got ${running.kind}`);
    expect(await beginTickRun(counting, { ...busy, at: at(22).toISOString() })).toEqual({ kind: 'stand-down' });
    expect(await endTickRun(counting, 'autopilot', running.owner, running.written)).toBe(true);
    expect((await leases.getLock('autopilot')).owner).toBeUndefined();
  });

  it('keeps the lock while the run renews it, and says so when another run has taken it', async () => {
    const run = { tick: 'imports' as const, at: at(7).toISOString(), idle: 0 };
    const begun = await beginTickRun(deps, run, 'long');
    if (begun.kind !== 'run') throw new Error(`expected a run, got ${begun.kind}`);
    const owner = begun.owner;
    const started = clock;
    let lost = 0;
    const held = keepTickRun(deps, 'imports', owner, begun.written, () => lost++, 50);
    try {
      // Time passes on the lock's clock; each renewal moves its end on.
      clock = new Date(started.getTime() + RUN_LEASE_MS - 10);
      await expect
        .poll(async () => Date.parse((await leases.getLock('imports')).until!), { timeout: 5_000 })
        .toBeGreaterThan(started.getTime() + RUN_LEASE_MS);
      expect((await beginTickRun(deps, run, 'redelivered')).kind).toBe('wait');
      expect(lost).toBe(0);
      // Another run took it (this one was too busy to renew in time): told once.
      const lock = await leases.getLock('imports');
      await leases.setLock('imports', { owner: 'imports:other/x', until: lock.until, rerun: false }, lock.etag);
      await expect.poll(() => lost, { timeout: 5_000 }).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(lost).toBe(1);
    } finally {
      await held.stop();
      clock = started;
    }
    expect(await endTickRun(deps, 'imports', owner)).toBe(false);
  });

  it('answers a poll between its pages: no write while the lock is fresh, a renewal when not, false once another run has it', async () => {
    let writes = 0;
    const counting: TickDeps = {
      ...deps,
      leases: Object.assign(Object.create(leases) as TickLeaseRepository, {
        setLock: (...args: Parameters<TickLeaseRepository['setLock']>) => {
          writes++;
          return leases.setLock(...args);
        },
      }),
    };
    const run = { tick: 'reprovision' as const, at: at(30).toISOString(), idle: 0 };
    const begun = await beginTickRun(counting, run, 'paged');
    if (begun.kind !== 'run') throw new Error(`expected a run, got ${begun.kind}`);
    const started = clock;
    let lost = 0;
    // No beat within the test: every write seen is one the poll's question made.
    const held = keepTickRun(counting, 'reprovision', begun.owner, begun.written, () => lost++, 3_600_000);
    writes = 0;
    try {
      expect(await held.stillHeld()).toBe(true);
      expect(writes).toBe(0);

      // Half a lease on: the answer renews the lock first, and the next page needs no write.
      clock = new Date(started.getTime() + RUN_LEASE_MS / 2 + 1);
      expect(await held.stillHeld()).toBe(true);
      expect(writes).toBe(1);
      expect(Date.parse((await leases.getLock('reprovision')).until!)).toBe(clock.getTime() + RUN_LEASE_MS);
      expect(await held.stillHeld()).toBe(true);
      expect(writes).toBe(1);

      // Another run took the lock over: the next answer that looks (its renewal conflicts, the
      // lock is read) says so, and so do all after it, without another round trip.
      const lock = await leases.getLock('reprovision');
      await leases.setLock('reprovision', { owner: 'reprovision:other/x', until: lock.until, rerun: false }, lock.etag);
      writes = 0;
      clock = new Date(clock.getTime() + RUN_LEASE_MS / 2 + 1);
      expect(await held.stillHeld()).toBe(false);
      expect(lost).toBe(1);
      expect(writes).toBe(1);
      expect(await held.stillHeld()).toBe(false);
      expect(writes).toBe(1);
      expect((await leases.getLock('reprovision')).owner).toBe('reprovision:other/x');
    } finally {
      await held.stop();
      clock = started;
    }
  });
});
