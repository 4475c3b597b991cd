import { fixed, int, log, seconds, table } from './format.js';
import type { ProductRun } from './product-run.js';
import { kindOf, REQUEST_KINDS, type RequestCounts } from './requests.js';

/** The report's larger tables: requests by kind, requests by phase, handler time, polls. */

export function printRequests(n: number, product: RequestCounts, baseline: RequestCounts | undefined): void {
  const kinds = [...new Set([...product.byKind.keys(), ...(baseline?.byKind.keys() ?? [])])].filter(
    (kind) =>
      (product.byKind.get(kind)?.requests ?? 0) + (baseline?.byKind.get(kind)?.requests ?? 0) > 0 ||
      REQUEST_KINDS.some((known) => known.kind === kind && known.kind.startsWith('import POST (batch)')),
  );
  const cells = (counts: RequestCounts | undefined, kind: string): string[] => {
    const count = counts?.byKind.get(kind);
    if (!counts) return ['', '', '', ''];
    return [int(count?.requests ?? 0), fixed((count?.requests ?? 0) / n, 3), int(count?.throttled ?? 0), int(count?.notFound ?? 0)];
  };
  const rows = kinds.map((kind) => [
    `${(product.byKind.get(kind)?.write ?? baseline?.byKind.get(kind)?.write) ? 'write' : 'read '}  ${kind}`,
    ...cells(product, kind),
    ...cells(baseline, kind),
  ]);
  const totals = (counts: RequestCounts | undefined, which: 'writes' | 'reads'): string[] =>
    counts ? [int(counts[which]), fixed(counts[which] / n, 3), '', ''] : ['', '', '', ''];
  rows.push(['all writes', ...totals(product, 'writes'), ...totals(baseline, 'writes')]);
  rows.push(['all reads (status)', ...totals(product, 'reads'), ...totals(baseline, 'reads')]);
  const answers = (counts: RequestCounts | undefined): string[] =>
    counts ? ['', '', int(counts.throttled), int(counts.notFound)] : ['', '', '', ''];
  rows.push(['429 / 404 answers', ...answers(product), ...answers(baseline)]);
  log(table(['Graph requests (sent, 429s included)', 'product', 'per device', '429', '404', 'baseline', 'per device', '429', '404'], rows));
}

interface Phase {
  name: string;
  from: number;
  to: number;
}

/** Phases cover the whole run: the first also takes anything sent before t0, the last anything after its end. */
export function printPhases(run: ProductRun, phases: readonly Phase[]): void {
  const rows: string[][] = [];
  for (const [index, phase] of phases.entries()) {
    const from = index === 0 ? -Infinity : phase.from;
    const to = index === phases.length - 1 ? Infinity : phase.to;
    const inPhase = run.requests.filter((entry) => entry.simulatedAt >= from && entry.simulatedAt < to);
    const byKind = new Map<string, number>();
    for (const entry of inPhase) byKind.set(kindOf(entry), (byKind.get(kindOf(entry)) ?? 0) + 1);
    const throttled = inPhase.filter((entry) => entry.status === 429).length;
    const detail = [...byKind.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([kind, count]) => `${kind} ${int(count)}`)
      .join(', ');
    rows.push([phase.name, seconds((phase.to - phase.from) / 1000), int(inPhase.length), int(throttled), detail]);
  }
  log(table(['phase (simulated time)', 'length', 'requests', '429', 'by kind'], rows));
}

/** A poll's log field: numbers with separators, timings (`ms`) as `list 12 scan 40 …`. */
function showField(value: unknown): string {
  if (typeof value === 'number') return int(value);
  if (value !== null && typeof value === 'object')
    return `(${Object.entries(value)
      .map(([key, inner]) => `${key} ${showField(inner)}`)
      .join(' ')})`;
  return String(value);
}

export function printPolls(run: ProductRun): void {
  const several = run.instances.length > 1;
  const rows = run.final.polls.map((poll) => {
    const fields = Object.entries(poll.fields)
      .map(([key, value]) => `${key} ${showField(value)}`)
      .join(', ');
    return [`t+${int((run.toSim(poll.at) - run.t0) / 1000)} s`, several ? `${poll.tick} (${poll.instance})` : poll.tick, fields];
  });
  const shown = rows.length > 60 ? [...rows.slice(0, 40), ['…', '', `${rows.length - 50} more`], ...rows.slice(-10)] : rows;
  log(table(['poll ended', several ? 'poll (instance)' : 'poll', 'what it saw'], shown));
}

export function printHandlers(run: ProductRun, scale: number): void {
  const rows = Object.entries(run.final.handlers)
    .sort((a, b) => b[1].totalMs - a[1].totalMs)
    .map(([kind, timing]) => [
      kind,
      int(timing.invocations),
      fixed(timing.totalMs / 1000, 1),
      int((timing.totalMs / 1000) * scale),
      int(timing.maxMs),
      int((timing.maxMs / 1000) * scale),
    ]);
  log(table(['handler', 'runs', 'busy real s', '= simulated s', 'longest real ms', '= simulated s'], rows));
}
