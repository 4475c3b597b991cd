import type { RequestLogEntry } from '../../local/graph-simulator/index.js';

/** Graph requests as the simulator logged them, sorted into the kinds the benchmark reports. */

export const REQUEST_KINDS = [
  { kind: 'import POST (batch)', route: 'POST importedWindowsAutopilotDeviceIdentities/import' },
  { kind: 'import POST (one device)', route: 'POST importedWindowsAutopilotDeviceIdentities' },
  { kind: 'DELETE import record', route: 'DELETE importedWindowsAutopilotDeviceIdentities/{id}' },
  { kind: 'updateDeviceProperties', route: 'POST windowsAutopilotDeviceIdentities/{id}/updateDeviceProperties' },
  { kind: 'sync', route: 'POST windowsAutopilotSettings/sync' },
  { kind: 'GET import records (page)', route: 'GET importedWindowsAutopilotDeviceIdentities' },
  { kind: 'GET import record', route: 'GET importedWindowsAutopilotDeviceIdentities/{id}' },
  { kind: 'GET Autopilot identities (page)', route: 'GET windowsAutopilotDeviceIdentities' },
  { kind: 'GET identity by serial (page)', route: 'GET windowsAutopilotDeviceIdentities' },
  { kind: 'GET Autopilot identity', route: 'GET windowsAutopilotDeviceIdentities/{id}' },
] as const;

export interface KindCount {
  requests: number;
  throttled: number;
  /** Answered 404: a DELETE of a record already gone is a write spent for nothing. */
  notFound: number;
  write: boolean;
}

export interface RequestCounts {
  byKind: Map<string, KindCount>;
  writes: number;
  reads: number;
  throttled: number;
  notFound: number;
  /** Requests answered with something other than 2xx, 404 or 429. */
  failed: number;
}

/** Whether a listing page carries a filter; later pages hide it inside the opaque $skiptoken. */
function isFiltered(url: string): boolean {
  const query = new URL(url, 'http://simulator').searchParams;
  if (query.has('$filter')) return true;
  const token = query.get('$skiptoken');
  if (token === null) return false;
  try {
    return typeof (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { filter?: unknown }).filter === 'string';
  } catch {
    return false;
  }
}

export function kindOf(entry: RequestLogEntry): string {
  if (entry.route === 'GET windowsAutopilotDeviceIdentities') {
    return isFiltered(entry.url) ? 'GET identity by serial (page)' : 'GET Autopilot identities (page)';
  }
  return REQUEST_KINDS.find((known) => known.route === entry.route)?.kind ?? entry.route;
}

export function countRequests(log: readonly RequestLogEntry[]): RequestCounts {
  const byKind = new Map<string, KindCount>(
    REQUEST_KINDS.map(({ kind, route }) => [kind, { requests: 0, throttled: 0, notFound: 0, write: !route.startsWith('GET ') }]),
  );
  const counts: RequestCounts = { byKind, writes: 0, reads: 0, throttled: 0, notFound: 0, failed: 0 };
  for (const entry of log) {
    const write = entry.method !== 'GET';
    const kind = kindOf(entry);
    const count = byKind.get(kind) ?? { requests: 0, throttled: 0, notFound: 0, write };
    byKind.set(kind, count);
    count.requests += 1;
    if (write) counts.writes += 1;
    else counts.reads += 1;
    if (entry.status === 429) {
      count.throttled += 1;
      counts.throttled += 1;
    } else if (entry.status === 404) {
      count.notFound += 1;
      counts.notFound += 1;
    } else if (entry.status < 200 || entry.status >= 300) {
      counts.failed += 1;
    }
  }
  return counts;
}
