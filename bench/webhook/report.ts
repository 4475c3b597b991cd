import { fixed, int, table } from '../pipeline/format.js';

/** Latency figures: nearest-rank percentiles of wall times in ms, and their table. */

export interface Sample {
  /** What the figure is for: an answer kind, or a baseline route. */
  readonly kind: string;
  readonly ms: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export interface Summary {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export function summarise(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? 0,
    mean,
  };
}

const ms = (value: number): string => fixed(value, 1);

/** One row per kind (in `order`), then `overall` when there is more than one kind. */
export function latencyTable(samples: readonly Sample[], order: readonly string[], labels: Readonly<Record<string, string>> = {}): string {
  const rows = order
    .map((kind) => [kind, summarise(samples.filter((sample) => sample.kind === kind).map((sample) => sample.ms))] as const)
    .filter(([, summary]) => summary.n > 0);
  if (rows.length > 1) rows.push(['overall', summarise(samples.map((sample) => sample.ms))]);
  return table(
    ['answer', 'n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'mean ms'],
    rows.map(([kind, s]) => [labels[kind] ?? kind, int(s.n), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max), ms(s.mean)]),
  );
}
