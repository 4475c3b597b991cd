import type { ImportedRecord } from './imports.js';
import type { AutopilotIdentity, ManagedDevice } from './records.js';

/** Graph's shapes: entity rendering, error bodies, OData literals, $top/$skiptoken paging. */

export type ApiVersion = 'v1.0' | 'beta';

export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export class GraphHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string, requestId: string, clientRequestId: string, at: Date): unknown {
  return {
    error: {
      code,
      message,
      innerError: { date: at.toISOString().replace(/\.\d{3}Z$/, 'Z'), 'request-id': requestId, 'client-request-id': clientRequestId },
    },
  };
}

const NEVER = '0001-01-01T00:00:00Z';
const iso = (ms: number | undefined): string => (ms === undefined ? NEVER : new Date(ms).toISOString());

export function renderImported(record: ImportedRecord): Record<string, unknown> {
  return {
    '@odata.type': '#microsoft.graph.importedWindowsAutopilotDeviceIdentity',
    id: record.id,
    groupTag: record.groupTag,
    serialNumber: record.serialNumber,
    productKey: record.productKey,
    importId: record.importId,
    hardwareIdentifier: record.hardwareIdentifier,
    assignedUserPrincipalName: record.assignedUserPrincipalName,
    state: { '@odata.type': 'microsoft.graph.importedWindowsAutopilotDeviceIdentityState', ...record.state },
  };
}

export function renderIdentity(identity: AutopilotIdentity, version: ApiVersion, emptyId: string | null): Record<string, unknown> {
  const common = {
    '@odata.type': '#microsoft.graph.windowsAutopilotDeviceIdentity',
    id: identity.id,
    groupTag: identity.groupTag,
    purchaseOrderIdentifier: identity.purchaseOrderIdentifier,
    serialNumber: identity.serialNumber,
    productKey: identity.productKey,
    manufacturer: identity.manufacturer,
    model: identity.model,
    enrollmentState: identity.enrollmentState,
    lastContactedDateTime: iso(identity.lastContactedAt),
    addressableUserName: identity.addressableUserName,
    userPrincipalName: identity.userPrincipalName,
    resourceName: '',
    skuNumber: '',
    systemFamily: '',
    azureActiveDirectoryDeviceId: identity.azureAdDeviceId,
    managedDeviceId: identity.managedDeviceId ?? emptyId,
    displayName: identity.displayName,
  };
  if (version === 'v1.0') return common;
  return {
    ...common,
    deploymentProfileAssignmentStatus: identity.profileStatus,
    deploymentProfileAssignmentDetailedStatus: 'none',
    deploymentProfileAssignedDateTime: iso(identity.profileAssignedAt),
    azureAdDeviceId: identity.azureAdDeviceId,
  };
}

export function renderManagedDevice(device: ManagedDevice, version: ApiVersion): Record<string, unknown> {
  const common = {
    '@odata.type': '#microsoft.graph.managedDevice',
    id: device.id,
    deviceName: device.deviceName,
    managedDeviceOwnerType: 'company',
    deviceActionResults: device.actionResults.map((r) => ({
      actionName: r.actionName,
      actionState: r.actionState,
      startDateTime: iso(r.startDateTime),
      lastUpdatedDateTime: iso(r.lastUpdatedDateTime),
    })),
    enrolledDateTime: iso(device.enrolledAt),
    lastSyncDateTime: iso(device.lastSyncAt),
    operatingSystem: 'Windows',
    complianceState: 'compliant',
    managementAgent: 'mdm',
    osVersion: '10.0.22631.4460',
    azureADRegistered: true,
    deviceEnrollmentType: 'windowsAzureADJoin',
    azureADDeviceId: device.azureAdDeviceId,
    deviceRegistrationState: 'registered',
    userPrincipalName: device.userPrincipalName,
    model: device.model,
    manufacturer: device.manufacturer,
    serialNumber: device.serialNumber,
    enrollmentProfileName: device.enrollmentProfileName,
  };
  return version === 'v1.0' ? common : { ...common, managementState: device.managementState, autopilotEnrolled: true };
}

/** `'it''s'` -> `it's`; undefined when the text is not a single OData string literal. */
function stringLiteral(text: string): string | undefined {
  const match = /^'((?:[^']|'')*)'$/.exec(text.trim());
  return match ? (match[1] ?? '').replace(/''/g, "'") : undefined;
}

/** `contains(serialNumber,'X')` -> X. */
export function parseContainsSerial(filter: string): string | undefined {
  const match = /^\s*contains\(\s*serialNumber\s*,\s*('(?:[^']|'')*')\s*\)\s*$/i.exec(filter);
  return match?.[1] === undefined ? undefined : stringLiteral(match[1]);
}

/** `serialNumber eq 'X'` -> X. */
export function parseEqSerial(filter: string): string | undefined {
  const match = /^\s*serialNumber\s+eq\s+('(?:[^']|'')*')\s*$/i.exec(filter);
  return match?.[1] === undefined ? undefined : stringLiteral(match[1]);
}

interface PageToken {
  offset: number;
  top: number;
  filter: string | undefined;
  select: string | undefined;
}

export interface CollectionQuery {
  filter: string | undefined;
  top: number;
  select: string[] | undefined;
  offset: number;
}

const SUPPORTED_OPTIONS = new Set(['$filter', '$top', '$skiptoken', '$select']);

/** Reads $filter/$top/$select/$skiptoken; other system query options answer 400 as unsupported. */
export function readCollectionQuery(
  query: URLSearchParams,
  pageSize: number,
  maxPageSize: number,
  refused: ReadonlySet<string> = new Set(),
): CollectionQuery {
  for (const key of query.keys()) {
    if (key.startsWith('$') && (!SUPPORTED_OPTIONS.has(key.toLowerCase()) || refused.has(key.toLowerCase()))) {
      throw new GraphHttpError(400, 'BadRequest', `Query option '${key}' is not supported.`);
    }
  }
  const skipToken = query.get('$skiptoken') ?? query.get('$skipToken');
  if (skipToken !== null) {
    const token = decodeToken(skipToken);
    return { filter: token.filter, top: token.top, select: splitSelect(token.select), offset: token.offset };
  }
  const topText = query.get('$top');
  let top = pageSize;
  if (topText !== null) {
    if (!/^\d+$/.test(topText)) throw new GraphHttpError(400, 'BadRequest', `Invalid value '${topText}' for $top query option found.`);
    top = Math.min(Number(topText), maxPageSize);
  }
  return { filter: query.get('$filter') ?? undefined, top, select: splitSelect(query.get('$select') ?? undefined), offset: 0 };
}

function splitSelect(select: string | undefined): string[] | undefined {
  return select === undefined
    ? undefined
    : select
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
}

function decodeToken(text: string): PageToken {
  try {
    const parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<PageToken>;
    if (typeof parsed.offset === 'number' && typeof parsed.top === 'number') {
      return { offset: parsed.offset, top: parsed.top, filter: parsed.filter, select: parsed.select };
    }
  } catch {
    // fall through to the 400 below
  }
  throw new GraphHttpError(400, 'BadRequest', 'The $skiptoken is invalid or expired.');
}

/** One page of a collection with @odata.context and, when more remain, @odata.nextLink. */
export function collectionPage(
  items: Record<string, unknown>[],
  query: CollectionQuery,
  collectionUrl: string,
  metadataContext: string,
): Record<string, unknown> {
  const slice = items.slice(query.offset, query.offset + query.top).map((item) => project(item, query.select));
  const body: Record<string, unknown> = { '@odata.context': metadataContext, value: slice };
  const nextOffset = query.offset + query.top;
  if (query.top > 0 && nextOffset < items.length) {
    const token: PageToken = { offset: nextOffset, top: query.top, filter: query.filter, select: query.select?.join(',') };
    body['@odata.nextLink'] = `${collectionUrl}?$skiptoken=${Buffer.from(JSON.stringify(token)).toString('base64url')}`;
  }
  return body;
}

export function project(item: Record<string, unknown>, select: string[] | undefined): Record<string, unknown> {
  if (!select) return item;
  const chosen: Record<string, unknown> = { '@odata.type': item['@odata.type'] };
  for (const field of select) if (field in item) chosen[field] = item[field];
  return chosen;
}
