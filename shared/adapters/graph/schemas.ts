import { z } from 'zod';
import { success, type GraphResult } from '../../services/graph-result.js';

/**
 * Graph's answers, read leniently so that a null or an enum value Graph adds later never fails a
 * whole page: nulls become empty or absent, unknown enum values `unknown`.
 */

const EMPTY_IDS = new Set(['', '00000000-0000-0000-0000-000000000000']);

const text = z
  .string()
  .nullish()
  .transform((v) => v ?? '');
const optionalText = z
  .string()
  .nullish()
  .transform((v) => v ?? undefined);
/** Graph writes "never" as 0001-01-01T00:00:00Z. */
const optionalDate = z
  .string()
  .nullish()
  .transform((v) => (v === null || v === undefined || v.startsWith('0001-01-01') ? undefined : v));
const optionalId = z
  .string()
  .nullish()
  .transform((v) => (v === null || v === undefined || EMPTY_IDS.has(v) ? undefined : v));

export const importedSchema = z.object({
  id: z.string(),
  serialNumber: text,
  groupTag: text,
  importId: text,
  productKey: text,
  assignedUserPrincipalName: text,
  state: z.object({
    deviceImportStatus: z.enum(['unknown', 'pending', 'partial', 'complete', 'error']).catch('unknown'),
    deviceRegistrationId: text,
    deviceErrorCode: z
      .number()
      .nullish()
      .transform((v) => v ?? 0),
    deviceErrorName: text,
  }),
});

export const identitySchema = z.object({
  id: z.string(),
  serialNumber: text,
  groupTag: text,
  manufacturer: text,
  model: text,
  enrollmentState: z.enum(['unknown', 'enrolled', 'pendingReset', 'failed', 'notContacted', 'blocked']).catch('unknown'),
  managedDeviceId: optionalId,
  azureActiveDirectoryDeviceId: optionalId,
  displayName: text,
  userPrincipalName: text,
  lastContactedDateTime: optionalDate,
  deploymentProfileAssignmentStatus: z
    .enum(['unknown', 'assignedInSync', 'assignedOutOfSync', 'assignedUnkownSyncState', 'notAssigned', 'pending', 'failed'])
    .optional()
    .catch('unknown'),
  deploymentProfileAssignedDateTime: optionalDate,
});

export const managedSchema = z.object({
  id: z.string(),
  serialNumber: text,
  deviceName: text,
  azureADDeviceId: optionalId,
  enrolledDateTime: optionalDate,
  lastSyncDateTime: optionalDate,
  deviceActionResults: z
    .array(z.object({ actionName: text, actionState: text, startDateTime: optionalText, lastUpdatedDateTime: optionalText }))
    .nullish()
    .transform((v) => v ?? []),
});

export const importAnswerSchema = z.object({ value: z.array(importedSchema) });
export const pageSchema = z.object({ value: z.array(z.unknown()), '@odata.nextLink': z.string().optional() });
export const errorSchema = z.object({ error: z.object({ code: z.string().optional(), message: z.string().optional() }) });

/** A 2xx whose body does not fit is permanent: repeating the call would not help. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): GraphResult<T> {
  const result = schema.safeParse(value);
  if (result.success) return success(result.data);
  return {
    ok: false,
    kind: 'permanent',
    status: 200,
    code: 'UnexpectedResponse',
    message: `Graph answered with an unexpected ${what}: ${result.error.message}`,
  };
}
