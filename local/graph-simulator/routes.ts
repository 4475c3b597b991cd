import type { ImportInput } from './imports.js';
import {
  collectionPage,
  GraphHttpError,
  parseContainsSerial,
  parseEqSerial,
  readCollectionQuery,
  renderIdentity,
  renderImported,
  renderManagedDevice,
  type Answer,
  type ApiVersion,
} from './odata.js';
import { normaliseSerial, type ResolvedOptions } from './options.js';
import type { Tenant } from './tenant.js';

/** The Graph routes the simulator serves, matched on the path after /v1.0 or /beta. */

export interface RouteRequest {
  method: string;
  version: ApiVersion;
  /** Path segments after the version, e.g. ['deviceManagement', 'managedDevices', '{id}', 'wipe']. */
  segments: string[];
  query: URLSearchParams;
  body: unknown;
  /** scheme://host the client used, for @odata.nextLink and @odata.context. */
  origin: string;
}

export interface MatchedRoute {
  /** Stable name for logs and counters, e.g. "POST managedDevices/{id}/wipe". */
  name: string;
  write: boolean;
  run(): Answer;
}

const IMPORTED = 'importedWindowsAutopilotDeviceIdentities';
const IDENTITIES = 'windowsAutopilotDeviceIdentities';
const MANAGED = 'managedDevices';
const SETTINGS = 'windowsAutopilotSettings';

export function matchRoute(request: RouteRequest, tenant: Tenant, options: ResolvedOptions): MatchedRoute {
  const { method, segments } = request;
  const [root, collection, id, action, ...rest] = segments;
  const write = method !== 'GET';
  const name = (pattern: string): string => `${method} ${pattern}`;
  const unknown = (): MatchedRoute => ({
    name: name('(unknown)'),
    write,
    run: () => {
      const segment = segments.find((s, i) => i > 0 && !knownSegment(s)) ?? segments[0] ?? '';
      throw new GraphHttpError(400, 'BadRequest', `Resource not found for the segment '${segment}'.`);
    },
  });
  if (root !== 'deviceManagement' || collection === undefined || rest.length > 0) return unknown();

  const route = (pattern: string, allowed: string, run: () => Answer): MatchedRoute => ({
    name: name(pattern),
    write,
    run: () => {
      if (method !== allowed)
        throw new GraphHttpError(405, 'BadRequest', `No HTTP resource was found that matches the request method '${method}'.`);
      return run();
    },
  });
  const context = (suffix: string): string => `${request.origin}/${request.version}/$metadata#${suffix}`;
  const collectionUrl = `${request.origin}/${request.version}/deviceManagement/${collection}`;
  const page = (items: Record<string, unknown>[], filterFor: (filter: string) => (item: Record<string, unknown>) => boolean): Answer => {
    const query = readCollectionQuery(request.query, options.pageSize, options.maxPageSize, options.refusedQueryOptions);
    const filtered = query.filter === undefined ? items : items.filter(filterFor(query.filter));
    return { status: 200, body: collectionPage(filtered, query, collectionUrl, context(`deviceManagement/${collection}`)) };
  };
  const entity = (body: Record<string, unknown>): Answer => ({
    status: 200,
    body: { '@odata.context': context(`deviceManagement/${collection}/$entity`), ...body },
  });
  const notFound = (kind: string): never => {
    throw new GraphHttpError(404, 'ResourceNotFound', `${kind} with id '${id ?? ''}' was not found.`);
  };

  if (collection === IMPORTED) {
    if (id === undefined) {
      if (method === 'POST') {
        return route(IMPORTED, 'POST', () => {
          const [record] = tenant.importDevices([objectBody(request.body) as ImportInput]);
          return { status: 201, body: { '@odata.context': context(`deviceManagement/${IMPORTED}/$entity`), ...renderImported(record!) } };
        });
      }
      return route(IMPORTED, 'GET', () =>
        page([...tenant.imported.values()].map(renderImported), (filter) => {
          throw new GraphHttpError(400, 'BadRequest', `Filter not supported on ${IMPORTED}: ${filter}`);
        }),
      );
    }
    if (id === 'import' && action === undefined) {
      return route(`${IMPORTED}/import`, 'POST', () => {
        const list = objectBody(request.body)[IMPORTED];
        if (!Array.isArray(list) || list.some((item) => typeof item !== 'object' || item === null)) {
          throw new GraphHttpError(400, 'BadRequest', `The request body must hold '${IMPORTED}': an array of objects.`);
        }
        if (list.length > options.maxImportBatchSize) {
          throw new GraphHttpError(400, 'BadRequest', `Too many devices in one import request (${list.length}).`);
        }
        // Rule 25: one row the service cannot read fails the whole request, before anything is imported.
        const refused = options.refuseImportRowsWhere;
        if (refused && (list as Record<string, unknown>[]).some((row) => refused(row))) {
          throw new GraphHttpError(
            400,
            'BadRequest',
            'InvalidZtdRequestBody (801): the request holds a device identity that cannot be read; no device was imported.',
          );
        }
        const records = tenant.importDevices(list as ImportInput[]);
        return {
          status: 200,
          body: {
            '@odata.context': context(`Collection(microsoft.graph.importedWindowsAutopilotDeviceIdentity)`),
            value: records.map(renderImported),
          },
        };
      });
    }
    if (action !== undefined) return unknown();
    if (method === 'DELETE') {
      return route(`${IMPORTED}/{id}`, 'DELETE', () =>
        tenant.deleteImported(id) ? { status: 204 } : notFound('importedWindowsAutopilotDeviceIdentity'),
      );
    }
    return route(`${IMPORTED}/{id}`, 'GET', () => {
      const record = tenant.imported.get(id);
      return record ? entity(renderImported(record)) : notFound('importedWindowsAutopilotDeviceIdentity');
    });
  }

  if (collection === IDENTITIES) {
    const render = (identity: Parameters<typeof renderIdentity>[0]): Record<string, unknown> =>
      renderIdentity(identity, request.version, options.emptyId);
    if (id === undefined) {
      return route(IDENTITIES, 'GET', () => {
        if (options.autopilotSelectFails && [...request.query.keys()].some((key) => key.toLowerCase() === '$select')) {
          // Reported for years on v1.0 and beta, with or without $filter, whatever the properties.
          throw new GraphHttpError(
            500,
            'InternalServerError',
            'An internal server error has occurred - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000',
          );
        }
        return page([...tenant.identities.values()].map(render), (filter) => {
          const fragment = parseContainsSerial(filter);
          if (fragment === undefined) throw new GraphHttpError(400, 'BadRequest', `Invalid filter clause: ${filter}`);
          if (options.containsMisbehavesOn?.test(fragment)) return () => false;
          const wanted = fragment.toUpperCase();
          return (item) => String(item.serialNumber).toUpperCase().includes(wanted);
        });
      });
    }
    if (action === 'updateDeviceProperties') {
      return route(`${IDENTITIES}/{id}/updateDeviceProperties`, 'POST', () => {
        const body = objectBody(request.body);
        const properties: Record<string, string> = {};
        for (const key of ['groupTag', 'displayName', 'userPrincipalName', 'addressableUserName'] as const) {
          const value = body[key];
          if (value === undefined || value === null) continue;
          if (typeof value !== 'string') throw new GraphHttpError(400, 'BadRequest', `Property '${key}' must be a string.`);
          properties[key] = value;
        }
        // Rule 26: an identity whose updates the service refuses keeps its properties, whatever the body.
        const identity = tenant.identities.get(id);
        if (identity && options.refuseDevicePropertiesWhere?.(identity)) {
          throw new GraphHttpError(412, 'ConditionNotMet', 'An error has occurred: the device properties were not updated.');
        }
        return tenant.updateDeviceProperties(id, properties) ? { status: 204 } : notFound('windowsAutopilotDeviceIdentity');
      });
    }
    if (action !== undefined) return unknown();
    if (method === 'DELETE') {
      return route(`${IDENTITIES}/{id}`, 'DELETE', () => {
        const outcome = tenant.deleteIdentity(id);
        if (outcome === 'not-found') return notFound('windowsAutopilotDeviceIdentity');
        if (outcome === 'enrolled') {
          const { status, code } = options.deleteEnrolledIdentityError;
          throw new GraphHttpError(
            status,
            code,
            'The device is enrolled in Intune. Delete the managed device before deleting the Autopilot device.',
          );
        }
        return { status: 204 };
      });
    }
    return route(`${IDENTITIES}/{id}`, 'GET', () => {
      const identity = tenant.identities.get(id);
      return identity ? entity(render(identity)) : notFound('windowsAutopilotDeviceIdentity');
    });
  }

  if (collection === MANAGED) {
    if (id === undefined) {
      return route(MANAGED, 'GET', () =>
        page(
          [...tenant.managedDevices.values()].map((d) => renderManagedDevice(d, request.version)),
          (filter) => {
            const serial = parseEqSerial(filter);
            if (serial === undefined) throw new GraphHttpError(400, 'BadRequest', `Invalid filter clause: ${filter}`);
            return (item) => normaliseSerial(String(item.serialNumber)) === normaliseSerial(serial);
          },
        ),
      );
    }
    const device = (): ReturnType<typeof tenant.managedDevices.get> => tenant.managedDevices.get(id);
    if (action === undefined) {
      if (method === 'DELETE')
        return route(`${MANAGED}/{id}`, 'DELETE', () => (tenant.deleteManagedDevice(id) ? { status: 204 } : notFound('managedDevice')));
      return route(`${MANAGED}/{id}`, 'GET', () => {
        const found = device();
        return found ? entity(renderManagedDevice(found, request.version)) : notFound('managedDevice');
      });
    }
    if (action === 'wipe') {
      return route(`${MANAGED}/{id}/wipe`, 'POST', () => {
        const body = request.body === undefined ? {} : objectBody(request.body);
        if (body.useProtectedWipe !== undefined && request.version === 'v1.0') {
          throw new GraphHttpError(400, 'BadRequest', "The parameter 'useProtectedWipe' is not supported in v1.0.");
        }
        const ok = tenant.wipe(id, { keepEnrollmentData: body.keepEnrollmentData === true, keepUserData: body.keepUserData === true });
        return ok ? { status: 204 } : notFound('managedDevice');
      });
    }
    if (action === 'cleanWindowsDevice') {
      return route(`${MANAGED}/{id}/cleanWindowsDevice`, 'POST', () =>
        tenant.cleanWindowsDevice(id) ? { status: 204 } : notFound('managedDevice'),
      );
    }
    if (action === 'retire') {
      return route(`${MANAGED}/{id}/retire`, 'POST', () => (tenant.retire(id) ? { status: 204 } : notFound('managedDevice')));
    }
    return unknown();
  }

  if (collection === SETTINGS) {
    if (id === 'sync' && action === undefined) {
      return route(`${SETTINGS}/sync`, 'POST', () => {
        const outcome = tenant.sync();
        if (outcome === 'running') throw new GraphHttpError(409, 'Conflict', 'A sync is already in progress.');
        if (outcome === 'too-soon')
          throw new GraphHttpError(429, 'TooManyRequests', 'A sync was requested within 10 minutes of the previous sync.');
        return { status: 204 };
      });
    }
    if (id === undefined) {
      return route(SETTINGS, 'GET', () => {
        const state = tenant.syncState();
        return {
          status: 200,
          body: {
            '@odata.context': context(`deviceManagement/${SETTINGS}/$entity`),
            id: 'windowsAutopilotSettings',
            lastSyncDateTime: state.lastSyncAt === undefined ? '0001-01-01T00:00:00Z' : new Date(state.lastSyncAt).toISOString(),
            lastManualSyncTriggerDateTime:
              state.lastSyncAt === undefined ? '0001-01-01T00:00:00Z' : new Date(state.lastSyncAt).toISOString(),
            syncStatus: state.running ? 'inProgress' : state.lastSyncAt === undefined ? 'unknown' : 'completed',
          },
        };
      });
    }
  }
  return unknown();
}

function knownSegment(segment: string): boolean {
  return (
    [IMPORTED, IDENTITIES, MANAGED, SETTINGS, 'import', 'sync', 'updateDeviceProperties', 'wipe', 'retire', 'cleanWindowsDevice'].includes(
      segment,
    ) || /^[0-9a-f-]{36}$/i.test(segment)
  );
}

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new GraphHttpError(400, 'BadRequest', 'Empty Payload. JSON content expected.');
  }
  return body as Record<string, unknown>;
}
