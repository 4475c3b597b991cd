import os from 'node:os';
import type { BaselineRun } from './baseline.js';
import type { Floor } from './floor.js';
import { fixed, int, log, ratio, seconds, table } from './format.js';
import { describeLoad, type MachineState } from './machine.js';
import type { PipelineOptions } from './options.js';
import type { ProductRun } from './product-run.js';
import type { AppliedBudget } from './settings.js';
import type { TimedState } from './protocol.js';
import {
  countersAgree,
  pollReads,
  printBusiest,
  printCounters,
  printHeapPeaks,
  printInstances,
  printServiceBus,
  printTableOperations,
  totalRequests,
} from './report-fleet.js';
import { printHandlers, printPhases, printPolls, printRequests } from './report-tables.js';
import { countRequests, kindOf } from './requests.js';
import type { Workload } from './workload.js';

/** The printout after the runs: what happened in each, then the summary against the targets. */

/** Issue 13's targets (fleet scale); the time ratio's depends on the fleet size. */
const TARGETS = {
  writesPerDevice: 1.05,
  readsPerDevice: 0.05,
  throttled: 0,
  registeredRatio: (devices: number): number => (devices > 10_000 ? 1.3 : 1.1),
  tableOperationsPerDevice: 7,
  peakRssMib: 400,
  baselineSpeedup: 15,
  baselineRequestShare: 0.55,
};

const verdict = (pass: boolean | undefined): string => (pass === undefined ? '' : pass ? 'PASS' : 'FAIL');

/** The time at which the n-th device reached a state (all of them when n is the device count). */
function allReached(run: ProductRun, state: TimedState, n: number): number | undefined {
  const times = run.final.firstReached[state];
  return times.length >= n ? (run.toSim(times[n - 1]!) - run.t0) / 1000 : undefined;
}

export function report(
  options: PipelineOptions,
  workload: Workload,
  floor: Floor,
  budget: AppliedBudget,
  machineAtStart: MachineState,
  product: ProductRun,
  baseline: BaselineRun | undefined,
): void {
  const n = workload.devices.length;
  const productCounts = countRequests(product.requests);
  const baselineCounts = baseline ? countRequests(baseline.requests) : undefined;

  const registered = allReached(product, 'registered', n);
  const enrolled = allReached(product, 'enrolled', n);
  const received = allReached(product, 'received', n);
  const importing = allReached(product, 'importing', n);
  const profiled = allReached(product, 'profile-assigned', n);
  const autopilotLastEnrolled =
    product.autopilotEnrolledAt.length >= n ? (product.autopilotEnrolledAt[n - 1]! - product.t0) / 1000 : undefined;
  const at = (kind: string, pick: 'first' | 'last'): number | undefined => {
    const matching = product.requests.filter((entry) => kindOf(entry) === kind);
    const entry = pick === 'first' ? matching[0] : matching.at(-1);
    return entry ? (entry.simulatedAt - product.t0) / 1000 : undefined;
  };

  log('');
  log("== Floor (what the simulator and the app's budget impose) ==");
  for (const line of floor.explanation) log(`  ${line}`);

  log('');
  log('== Product timeline (simulated seconds after the last file landed) ==');
  log(
    table(
      ['event', 'at'],
      [
        ['every device received (intake done)', seconds(received)],
        ['first import POST', seconds(at('import POST (batch)', 'first'))],
        ['last import POST', seconds(at('import POST (batch)', 'last'))],
        ['every device importing (claimed)', seconds(importing)],
        ['every device registered', seconds(registered)],
        ['every device profile-assigned', seconds(profiled)],
        ['Autopilot enrolled the last device (simulator)', seconds(autopilotLastEnrolled)],
        ['every device enrolled (product)', seconds(enrolled)],
        ['last import record deleted', seconds(at('DELETE import record', 'last'))],
      ],
    ),
  );
  log(`  import records left in the tenant at the end: ${int(product.importRecordsLeft)}${product.timedOut ? ' (run timed out)' : ''}`);
  log(
    `  devices failed ${int(product.final.firstReached.failed.length)}, stalled ${int(product.final.firstReached.stalled.length)}; handler invocations that threw ${int(product.final.failedInvocations)}`,
  );

  log('');
  log('== Graph requests by kind ==');
  printRequests(n, productCounts, baselineCounts);

  log('');
  log('== Product: where the requests went ==');
  const lastRequest = product.requests.at(-1)?.simulatedAt ?? product.t0;
  const registeredAt = registered === undefined ? lastRequest + 1 : product.t0 + registered * 1000;
  const enrolledAt = enrolled === undefined ? Math.max(lastRequest + 1, registeredAt) : product.t0 + enrolled * 1000;
  const end = Math.max(lastRequest + 1, enrolledAt);
  printPhases(product, [
    { name: 'until every device registered', from: product.t0, to: registeredAt },
    { name: 'registered → every device enrolled', from: registeredAt, to: enrolledAt },
    { name: 'after every device enrolled', from: enrolledAt, to: end },
  ]);

  log('');
  log("== Graph: the busiest 20 s, against what the app's budget grants (requests / writes) ==");
  const windows = printBusiest(product.requests, product.simulatorStats, product.t0, budget);

  log('');
  log("== Graph: the product's own request counts (every instance) beside the simulator's log ==");
  printCounters(product);

  log('');
  log('== Table Storage round trips, counted in the adapter (every instance) ==');
  printTableOperations(product, n);

  log('');
  log('== Service Bus messages ==');
  printServiceBus(product, n);

  log('');
  log('== Product processes ==');
  printInstances(product);
  if (product.instances.some(({ final }) => final.heapPeak)) {
    log('');
    log('== Heap at the peak (V8 sampling heap profile, --heap-profile-dir) ==');
    printHeapPeaks(product);
  }

  log('');
  log('== Product: handler time (real, and what it is worth on the simulated clock) ==');
  printHandlers(product, options.scale);

  log(
    `  CPU over the run (${int(product.realSeconds)} s real): product ${int(product.final.cpuSeconds)} s (all instances), Azurite ${product.azuriteCpuSeconds === undefined ? '?' : int(product.azuriteCpuSeconds)} s, ` +
      `simulator and benchmark ${int(product.simulatorCpuSeconds)} s, on ${os.cpus().length} cores`,
  );

  log('');
  log('== Product: log events ==');
  const events = Object.entries(product.final.events).sort((a, b) => b[1] - a[1]);
  log(`  ${events.map(([name, count]) => `${name} ${int(count)}`).join(', ')}`);
  log(`  devices re-queued by the sweeper: ${int(product.final.requeuedDevices)}`);
  for (const warning of product.final.warnings) log(`  warning: ${warning}`);

  log('');
  log('== Product: polls ==');
  printPolls(product);

  const writesPerDevice = productCounts.writes / n;
  const projectedWrites = (productCounts.writes + product.importRecordsLeft) / n;
  const readsPerDevice = productCounts.reads / n;
  const registeredRatio = registered === undefined ? undefined : registered / floor.registeredSeconds;
  const enrolledRatio = enrolled === undefined ? undefined : enrolled / floor.enrolledSeconds;
  const b = baseline?.result;
  const bRegisteredRatio = b ? b.registeredSeconds / floor.registeredSeconds : undefined;
  const ratioTarget = TARGETS.registeredRatio(n);
  const toEnrolled = product.milestones.enrolled ? totalRequests(product.milestones.enrolled.tableOperations) / n : undefined;
  const peakRss = Math.max(...product.instances.map(({ final }) => final.peakRssMib));
  const reads = pollReads(product);
  const agree = countersAgree(product).agree;
  const speedup = b && registered !== undefined ? b.registeredSeconds / registered : undefined;
  const requestShare =
    baselineCounts && baselineCounts.writes + baselineCounts.reads > 0
      ? (productCounts.writes + productCounts.reads) / (baselineCounts.writes + baselineCounts.reads)
      : undefined;
  const partial = options.untilRegistered || options.untilEnrolled || product.timedOut;

  log('');
  log(
    options.untilRegistered
      ? '== Summary (the product run stopped at registered: its request counts cover only that part) =='
      : options.untilEnrolled
        ? '== Summary (the product run stopped at enrolled: the clean-up left is counted, not waited for) =='
        : '== Summary ==',
  );
  log(
    table(
      ['measure', 'target', 'product', '', 'baseline'],
      [
        [
          'Graph writes per device (429s included)',
          `≤ ${TARGETS.writesPerDevice}`,
          fixed(writesPerDevice) + (product.importRecordsLeft > 0 ? ` (${fixed(projectedWrites)} with the clean-up left)` : ''),
          verdict(projectedWrites <= TARGETS.writesPerDevice),
          baselineCounts ? fixed(baselineCounts.writes / n) : '—',
        ],
        [
          'status reads per device',
          `≤ ${TARGETS.readsPerDevice}`,
          fixed(readsPerDevice, 3),
          verdict(readsPerDevice <= TARGETS.readsPerDevice),
          baselineCounts ? fixed(baselineCounts.reads / n, 3) : '—',
        ],
        [
          '429 responses',
          `${TARGETS.throttled}`,
          int(productCounts.throttled),
          verdict(productCounts.throttled <= TARGETS.throttled),
          baselineCounts ? int(baselineCounts.throttled) : '—',
        ],
        ['time to every device registered', '', seconds(registered), '', b ? seconds(b.registeredSeconds) : '—'],
        [
          `  ÷ floor ${int(floor.registeredSeconds)} s`,
          `≤ ${ratioTarget}`,
          ratio(registeredRatio),
          verdict(registeredRatio === undefined ? false : registeredRatio <= ratioTarget),
          ratio(bRegisteredRatio),
        ],
        ['time to every device enrolled', '', seconds(enrolled), '', 'not tracked'],
        [`  ÷ floor ${int(floor.enrolledSeconds)} s`, '', ratio(enrolledRatio), '', ''],
        [
          'Table round trips per device, file to enrolled',
          `≤ ${TARGETS.tableOperationsPerDevice}`,
          toEnrolled === undefined ? '— (not enrolled)' : fixed(toEnrolled),
          verdict(toEnrolled === undefined ? undefined : toEnrolled <= TARGETS.tableOperationsPerDevice),
          '',
        ],
        ['Table entities read per poll run', 'flat in settled devices', reads.perPoll === undefined ? '—' : int(reads.perPoll), '', ''],
        [
          `peak RSS per product process (${product.instances.length})`,
          `≤ ${TARGETS.peakRssMib} MiB`,
          product.instances.map(({ final }) => `${int(final.peakRssMib)}`).join(' / ') + ' MiB',
          verdict(peakRss <= TARGETS.peakRssMib),
          '',
        ],
        [
          'busiest 20 s, any interval (requests / writes)',
          `≤ ${budget.limits.requestsPerWindow} / ${budget.limits.writesPerWindow}`,
          `${int(windows.sliding.requests.count)} / ${int(windows.sliding.writes.count)}`,
          verdict(windows.withinBudget),
          '',
        ],
        ["product's Graph counts = simulator's", 'equal', agree ? 'equal' : 'differ', verdict(agree), ''],
        [
          'baseline time to registered ÷ product time',
          `≥ ${TARGETS.baselineSpeedup}×`,
          speedup === undefined ? '—' : ratio(speedup),
          verdict(speedup === undefined ? undefined : speedup >= TARGETS.baselineSpeedup),
          '',
        ],
        [
          'product Graph requests ÷ baseline requests',
          `≤ ${TARGETS.baselineRequestShare}`,
          requestShare === undefined ? '—' : fixed(requestShare) + (partial ? ' (product run cut short)' : ''),
          verdict(requestShare === undefined || partial ? undefined : requestShare <= TARGETS.baselineRequestShare),
          '',
        ],
      ],
    ),
  );
  if (options.instances > 1)
    log(`  ${options.instances} instances: compare the time to registered with a one-instance run of the same workload.`);
  if (b) {
    log('');
    log(
      `Baseline: last POST at ${seconds(b.postedSeconds)}, every outcome known at ${seconds(b.registeredSeconds)} after ${b.listings} listings, ` +
        `records deleted by ${seconds(b.cleanedSeconds)}; outcomes ${JSON.stringify(b.outcomes)}; ${int(b.throttledRetries)} 429s waited out; ` +
        `${fixed(b.meanRequestSeconds, 3)} simulated s per request on average.`,
    );
  }
  log('');
  log(`Machine at start: ${describeLoad(machineAtStart)}`);
  log(`Machine at end:   ${describeLoad(product.machineAtEnd)}${baseline ? ' (after the product run)' : ''}`);
  if (baseline) log(`After the baseline: ${describeLoad(baseline.machineAtEnd)}`);
}
