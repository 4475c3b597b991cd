/**
 * Graph requests this process put on the wire, by method and the status Graph answered (0 when
 * no answer came: a timeout or a broken connection): the product's own count, which the pipeline
 * benchmark sets beside the simulator's request log. Requests the budget refused never reach the
 * wire and are not counted here.
 */

export type GraphRequestCounts = Record<string, Record<string, number>>;

let counts: GraphRequestCounts = {};

export function countGraphRequest(method: string, status: number): void {
  const byStatus = (counts[method.toUpperCase()] ??= {});
  const key = String(status);
  byStatus[key] = (byStatus[key] ?? 0) + 1;
}

/** A copy of the counts since start or the last reset. */
export function graphRequestCounts(): GraphRequestCounts {
  return structuredClone(counts);
}

export function resetGraphRequestCounts(): void {
  counts = {};
}
