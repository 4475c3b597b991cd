import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followUpOptions } from '../../../../functions/follow-up.js';
import { DevHost } from '../../../../local/dev-host/index.js';
import { startGraphSimulator, type GraphSimulator } from '../../../../local/graph-simulator/index.js';
import { pipelineQueueOptions } from '../../../../local/stack.js';
import { EVENTS } from '../../../../shared/events.js';
import { ensureTick } from '../../../../shared/services/pipeline/ticks.js';
import { startTestStack, type TestStack } from '../../../support/stack.js';

/**
 * A poll's message that comes back while its run still runs: the message lock ran out because
 * the process could not renew it in time (a starved event loop, a renewal that gave up). The
 * run lock must hold against the redelivery as it does against any other run, so the poll
 * never runs twice side by side. Through the real SDK on the broker with short locks that the
 * dev host does not renew, and a Graph listing that takes longer than the lock.
 */

const LOCK_MS = 1_000;
const LISTING_MS = 4_000;

let sim: GraphSimulator;
let stack: TestStack;
let host: DevHost;

beforeAll(async () => {
  sim = await startGraphSimulator({ token: 't' });
  stack = await startTestStack(
    { GRAPH_BASE_URL: sim.baseUrl, GRAPH_STATIC_TOKEN: 't' },
    { queues: pipelineQueueOptions({ lockDurationMs: LOCK_MS }) },
  );
  host = new DevHost({
    serviceBusConnectionString: stack.broker.connectionString,
    storageConnectionString: stack.storageConnectionString,
    log: stack.runtime.log,
    // No renewal: the lock runs out LOCK_MS after each delivery, as in a process too busy to renew it.
    maxAutoLockRenewalMs: 0,
  }).serviceBusQueue('followUp', followUpOptions);
  await host.start();
});

afterAll(async () => {
  await host?.stop();
  await stack?.stop();
  await sim?.stop();
});

describe('a poll whose message comes back while it runs', () => {
  it('does not run a second time beside itself', { timeout: 60_000 }, async () => {
    // Every Graph answer takes longer than the message lock.
    sim.setFaults({ delayMs: LISTING_MS, delayRate: 1 });
    const correlationId = `redelivery-${randomUUID()}`;
    await ensureTick(stack.runtime.pipelineDeps().ticks, 'imports', new Date(), { correlationId });

    const listings = () =>
      sim
        .requestLog()
        .filter((entry) => entry.method === 'GET' && entry.url.includes('importedWindowsAutopilotDeviceIdentities'))
        .map((entry) => ({ from: entry.at, to: entry.at + entry.durationMs }));
    // The first listing, then long enough for several redeliveries while it is answered.
    const until = Date.now() + 20_000;
    while (listings().length === 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, LISTING_MS + 2 * LOCK_MS));
    await host.idle();

    const seen = listings().sort((a, b) => a.from - b.from);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    const mine = stack.logLines.filter((line) => line.correlationId === correlationId);
    const deliveries = mine.filter((line) => String(line.event).startsWith('pipeline.poll-run-')).map((line) => line.event);
    for (let i = 1; i < seen.length; i++) {
      expect(
        seen[i]!.from,
        `listing ${i + 1} started while listing ${i} was open (${JSON.stringify(seen)}); ${deliveries}`,
      ).toBeGreaterThanOrEqual(seen[i - 1]!.to);
    }
    // The message did come back during the run, and was told to look again later.
    expect(deliveries).toContain(EVENTS.pollRunDeferred);
    expect(deliveries.filter((event) => event === EVENTS.pollRunStarted)).toHaveLength(1);
    expect(deliveries.filter((event) => event === EVENTS.pollRunEnded)).toHaveLength(1);
  });
});
