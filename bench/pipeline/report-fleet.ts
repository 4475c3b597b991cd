import type { RequestLogEntry, RequestStats } from '../../local/graph-simulator/index.js';
import type { GraphRequestCounts } from '../../shared/adapters/graph/graph-metrics.js';
import type { TableOperationCounts, TableOperationKind } from '../../shared/adapters/tables/table-metrics.js';
import { TABLES } from '../../shared/adapters/tables/table-names.js';
import { EVENTS } from '../../shared/events.js';
import { fixed, int, log, table } from './format.js';
import type { BusTraffic, ProductRun } from './product-run.js';
import type { AppliedBudget } from './settings.js';
import { busiestWindows, type WindowPeak } from './windows.js';

/**
 * The report's figures on the product's own resources, per device and per process: Table
 * Storage round trips, Service Bus messages, memory, the Graph request windows, and the
 * product's own request counts beside the simulator's.
 */

const KINDS: readonly TableOperationKind[] = ['get', 'insert', 'update', 'upsert', 'delete', 'transaction', 'partition-query', 'scan'];

/**
 * Tables that hold no device data (leases, budget, health, the sweeper's cursors, webhook keys):
 * every other table, an index added later included, counts as the devices' in "entities read per poll".
 */
const NOT_DEVICE_DATA: ReadonlySet<string> = new Set([TABLES.ticks, TABLES.graphBudget, TABLES.health, TABLES.sweeper, TABLES.idempotency]);

const POLL_RUN_EVENTS = [EVENTS.importPoll, EVENTS.autopilotPoll, EVENTS.reprovisionPoll];

export function totalRequests(counts: TableOperationCounts, tables?: (name: string) => boolean): number {
  let total = 0;
  for (const [name, kinds] of Object.entries(counts)) {
    if (tables && !tables(name)) continue;
    for (const count of Object.values(kinds)) total += count.requests;
  }
  return total;
}

export interface PollReads {
  pollRuns: number;
  /** Entities returned by queries (partition queries and scans) on the device tables over the run. */
  entitiesRead: number;
  perPoll: number | undefined;
  /** Mean devices a poll run watched (its log line's `watched`). */
  meanWatched: number | undefined;
}

export function pollReads(run: ProductRun): PollReads {
  const pollRuns = POLL_RUN_EVENTS.reduce((total, name) => total + (run.final.events[name] ?? 0), 0);
  let entitiesRead = 0;
  for (const [name, kinds] of Object.entries(run.final.tableOperations)) {
    if (NOT_DEVICE_DATA.has(name)) continue;
    entitiesRead += (kinds['partition-query']?.entities ?? 0) + (kinds.scan?.entities ?? 0);
  }
  const watched = run.final.polls.map((poll) => Number(poll.fields.watched)).filter((value) => Number.isFinite(value));
  return {
    pollRuns,
    entitiesRead,
    perPoll: pollRuns > 0 ? entitiesRead / pollRuns : undefined,
    meanWatched: watched.length > 0 ? watched.reduce((a, b) => a + b, 0) / watched.length : undefined,
  };
}

export function printTableOperations(run: ProductRun, n: number): void {
  const registered = run.milestones.registered?.tableOperations;
  const enrolled = run.milestones.enrolled?.tableOperations;
  const perDevice = (counts: TableOperationCounts | undefined, name: string, kind: TableOperationKind): string =>
    counts ? fixed((counts[name]?.[kind]?.requests ?? 0) / n, 3) : '';
  const rows: string[][] = [];
  const names = Object.keys(run.final.tableOperations).sort();
  for (const name of names) {
    for (const kind of KINDS) {
      const count = run.final.tableOperations[name]?.[kind];
      if (!count || count.requests === 0) continue;
      rows.push([
        `${name} ${kind}`,
        int(count.requests),
        fixed(count.requests / n, 3),
        int(count.entities),
        perDevice(registered, name, kind),
        perDevice(enrolled, name, kind),
      ]);
    }
  }
  const totalRow = (label: string, filter?: (name: string) => boolean): string[] => {
    const all = totalRequests(run.final.tableOperations, filter);
    return [
      label,
      int(all),
      fixed(all / n, 3),
      '',
      registered ? fixed(totalRequests(registered, filter) / n, 3) : '',
      enrolled ? fixed(totalRequests(enrolled, filter) / n, 3) : '',
    ];
  };
  rows.push(totalRow('all tables'));
  rows.push(totalRow(`all but the Graph budget (${TABLES.graphBudget})`, (name) => name !== TABLES.graphBudget));
  log(table(['table / kind (round trips)', 'whole run', 'per device', 'entities', 'to registered /dev', 'to enrolled /dev'], rows));
  const reads = pollReads(run);
  log(
    `  Table entities read per poll run: ${reads.perPoll === undefined ? '—' : int(reads.perPoll)} (${int(reads.entitiesRead)} entities returned by queries on the device tables — ` +
      `${names.filter((name) => !NOT_DEVICE_DATA.has(name)).join(', ')} — over the whole run, whoever asked, ÷ ${int(reads.pollRuns)} poll runs; ` +
      `a poll run watched ${reads.meanWatched === undefined ? '—' : int(reads.meanWatched)} devices on average)`,
  );
}

export function printServiceBus(run: ProductRun, n: number): void {
  const sent = (traffic: BusTraffic | undefined, queue: string): string => (traffic ? fixed((traffic[queue]?.sent ?? 0) / n, 3) : '');
  const rows = Object.entries(run.serviceBus).map(([queue, traffic]) => [
    queue,
    int(traffic.sent),
    fixed(traffic.sent / n, 3),
    int(traffic.duplicates),
    int(traffic.delivered),
    fixed(traffic.delivered / n, 3),
    int(traffic.completed),
    sent(run.milestones.registered?.serviceBus, queue),
    sent(run.milestones.enrolled?.serviceBus, queue),
  ]);
  const sum = (pick: (traffic: BusTraffic[string]) => number): number => Object.values(run.serviceBus).reduce((t, q) => t + pick(q), 0);
  const sentBy = (traffic: BusTraffic | undefined): string =>
    traffic ? fixed(Object.values(traffic).reduce((t, q) => t + q.sent, 0) / n, 3) : '';
  rows.push([
    'all queues',
    int(sum((q) => q.sent)),
    fixed(sum((q) => q.sent) / n, 3),
    int(sum((q) => q.duplicates)),
    int(sum((q) => q.delivered)),
    fixed(sum((q) => q.delivered) / n, 3),
    int(sum((q) => q.completed)),
    sentBy(run.milestones.registered?.serviceBus),
    sentBy(run.milestones.enrolled?.serviceBus),
  ]);
  log(
    table(
      [
        'queue (broker counts)',
        'sent',
        'per device',
        'duplicates',
        'received',
        'per device',
        'completed',
        'sent to registered /dev',
        'to enrolled /dev',
      ],
      rows,
    ),
  );
}

const graphTotal = (counts: GraphRequestCounts): number =>
  Object.values(counts).reduce((total, byStatus) => total + Object.values(byStatus).reduce((a, b) => a + b, 0), 0);

export function printInstances(run: ProductRun): void {
  const rows = run.instances.map(({ startRssMib, final }) => {
    const invocations = Object.values(final.handlers).reduce((total, timing) => total + timing.invocations, 0);
    return [
      String(final.instance),
      int(final.filesTaken),
      int(invocations),
      int(final.polls.length),
      int(graphTotal(final.graphRequests)),
      int(totalRequests(final.tableOperations)),
      int(final.cpuSeconds),
      `${int(startRssMib)} MiB`,
      `${int(final.peakRssMib)} MiB`,
    ];
  });
  log(
    table(['instance', 'files', 'invocations', 'poll runs', 'Graph sent', 'Table round trips', 'CPU s', 'RSS at start', 'peak RSS'], rows),
  );
}

/** The product's own count of what it sent, per method and answer, beside the simulator's log. */
export function countersAgree(run: ProductRun): { agree: boolean; rows: string[][] } {
  const simulator: GraphRequestCounts = {};
  for (const entry of run.requests) {
    const byStatus = (simulator[entry.method] ??= {});
    byStatus[String(entry.status)] = (byStatus[String(entry.status)] ?? 0) + 1;
  }
  const product = run.final.graphRequests;
  const keys = new Set<string>();
  for (const counts of [simulator, product])
    for (const [method, byStatus] of Object.entries(counts)) for (const s of Object.keys(byStatus)) keys.add(`${method} ${s}`);
  let agree = true;
  const rows = [...keys].sort().map((key) => {
    const [method = '', status = ''] = key.split(' ');
    const ours = product[method]?.[status] ?? 0;
    const theirs = simulator[method]?.[status] ?? 0;
    if (ours !== theirs) agree = false;
    const perInstance = run.instances.map(({ final }) => int(final.graphRequests[method]?.[status] ?? 0)).join(' + ');
    return [
      `${method} answered ${status === '0' ? '(none)' : status}`,
      int(ours),
      run.instances.length > 1 ? perInstance : '',
      int(theirs),
      ours === theirs ? '' : `differ by ${int(ours - theirs)}`,
    ];
  });
  return { agree, rows };
}

export function printCounters(run: ProductRun): boolean {
  const { agree, rows } = countersAgree(run);
  log(table(['Graph requests', 'product counted', 'per instance', 'simulator logged', ''], rows));
  log(`  the product's own counts ${agree ? 'agree with' : 'DO NOT agree with'} the simulator's log`);
  return agree;
}

export interface WindowFigures {
  sliding: { requests: WindowPeak; writes: WindowPeak };
  aligned: { requests: WindowPeak; writes: WindowPeak };
  withinBudget: boolean;
}

export function printBusiest(entries: readonly RequestLogEntry[], stats: RequestStats, t0: number, budget: AppliedBudget): WindowFigures {
  const { limits, graphLimits } = budget;
  const windows = busiestWindows(entries, limits.windowMs);
  const at = (peak: WindowPeak): string => `t+${int((peak.from - t0) / 1000)} s`;
  const granted = `${limits.requestsPerWindow} / ${limits.writesPerWindow}`;
  const graph = `${graphLimits.requestsPerWindow} / ${graphLimits.writesPerWindow}`;
  log(
    table(
      [`busiest ${fixed(limits.windowMs / 1000, 0)} s (simulated)`, 'requests', 'from', 'writes', 'from', 'budget grants', "Graph's limit"],
      [
        [
          'any interval',
          int(windows.sliding.requests.count),
          at(windows.sliding.requests),
          int(windows.sliding.writes.count),
          at(windows.sliding.writes),
          granted,
          graph,
        ],
        [
          'aligned windows',
          int(windows.aligned.requests.count),
          at(windows.aligned.requests),
          int(windows.aligned.writes.count),
          at(windows.aligned.writes),
          granted,
          graph,
        ],
      ],
    ),
  );
  // The simulator may report its own figure (a later addition); shown as it gives it.
  const own = Object.entries(stats as unknown as Record<string, unknown>).filter(([key]) => /^busiest/i.test(key));
  for (const [key, value] of own) log(`  the simulator's own ${key}: ${JSON.stringify(value)}`);
  const withinBudget = windows.sliding.requests.count <= limits.requestsPerWindow && windows.sliding.writes.count <= limits.writesPerWindow;
  return { ...windows, withinBudget };
}

export function printHeapPeaks(run: ProductRun): void {
  for (const { final } of run.instances) {
    const peak = final.heapPeak;
    if (!peak) continue;
    log(
      `  instance ${final.instance}: at t+${int((run.toSim(peak.at) - run.t0) / 1000)} s, RSS ${int(peak.rssMib)} MiB, V8 heap ${int(peak.heapUsedMib)} MiB used of ${int(peak.heapTotalMib)} reserved, outside the heap (buffers) ${int(peak.externalMib)} MiB — ${peak.file}`,
    );
    log(`    by package or folder (sampled live MiB): ${peak.topModules.map((m) => `${m.module} ${fixed(m.mib, 1)}`).join(', ')}`);
    log(
      table(
        ['    allocated by', 'MiB'],
        peak.topSites.map((site) => [`    ${site.site}`, fixed(site.mib, 1)]),
      ),
    );
  }
}
