import type { RequestLogEntry } from '../../local/graph-simulator/index.js';
import type { ReprovisionAction } from '../../shared/domain/lifecycle.js';

/**
 * The simulator's request log, sorted by the action of the request each Graph call served:
 * a call names its device by Intune managed-device id, Autopilot identity id, or serial (in a
 * `$filter`), and each device of the benchmark got exactly one accepted request.
 */

export interface DeviceIds {
  readonly serial: string;
  readonly autopilotId?: string;
  readonly managedDeviceIds: readonly string[];
}

export interface ActionRequests {
  /** Route name ("GET managedDevices/{id}") → requests. */
  readonly byRoute: Map<string, number>;
  readonly throttled: number;
}

export function requestsPerAction(
  log: readonly RequestLogEntry[],
  devices: readonly DeviceIds[],
  actionOf: ReadonlyMap<string, ReprovisionAction>,
): { perAction: Map<ReprovisionAction, ActionRequests>; other: Map<string, number> } {
  const serialById = new Map<string, string>();
  const serialByKey = new Map<string, string>();
  for (const device of devices) {
    serialByKey.set(device.serial.toUpperCase(), device.serial);
    if (device.autopilotId) serialById.set(device.autopilotId.toLowerCase(), device.serial);
    for (const id of device.managedDeviceIds) serialById.set(id.toLowerCase(), device.serial);
  }
  const perAction = new Map<ReprovisionAction, { byRoute: Map<string, number>; throttled: number }>();
  const other = new Map<string, number>();
  for (const entry of log) {
    const serial = serialOf(entry.url, serialById, serialByKey);
    const action = serial === undefined ? undefined : actionOf.get(serial);
    if (action === undefined) {
      other.set(entry.route, (other.get(entry.route) ?? 0) + 1);
      continue;
    }
    const counts = perAction.get(action) ?? { byRoute: new Map<string, number>(), throttled: 0 };
    counts.byRoute.set(entry.route, (counts.byRoute.get(entry.route) ?? 0) + 1);
    if (entry.status === 429) counts.throttled += 1;
    perAction.set(action, counts);
  }
  return { perAction, other };
}

function serialOf(url: string, byId: ReadonlyMap<string, string>, byKey: ReadonlyMap<string, string>): string | undefined {
  const path = url.split('?', 1)[0] ?? '';
  const id = /\/deviceManagement\/(?:managedDevices|windowsAutopilotDeviceIdentities)\/([^/]+)/.exec(path)?.[1];
  if (id !== undefined) return byId.get(decodeURIComponent(id).toLowerCase());
  const query = decodeURIComponent(url.slice(path.length).replace(/\+/g, ' '));
  const quoted = /serialNumber[^']*'((?:[^']|'')*)'/i.exec(query)?.[1];
  return quoted === undefined ? undefined : byKey.get(quoted.replace(/''/g, "'").toUpperCase());
}
