/**
 * What Autopilot's answers mean for a device. Pure interpretation of the documented
 * import states, error codes and profile-assignment statuses (docs: graph-autopilot notes).
 */

export interface ImportState {
  readonly deviceImportStatus: string;
  readonly deviceRegistrationId?: string;
  readonly deviceErrorCode?: number;
  readonly deviceErrorName?: string;
}

export type ImportOutcome =
  | { readonly kind: 'pending' }
  | { readonly kind: 'registered'; readonly autopilotId: string | undefined }
  /**
   * 806: already registered in this tenant — a success once the tag is reconciled. Also
   * ZtdDeviceDuplicated (the same hash twice in one request: one of them was processed),
   * confirmed the same way, by finding the device's Autopilot identity.
   */
  | { readonly kind: 'already-registered'; readonly code: string }
  /** Autopilot asks to try again later (StorageError). */
  | { readonly kind: 'retry'; readonly code: string }
  | {
      readonly kind: 'failed';
      readonly reason: 'owned-by-other-tenant' | 'autopilot-rejected-hash' | 'autopilot-error';
      readonly code: string;
    };

const OTHER_TENANT = new Set(['ztddeviceassignedtoothertenant', 'ztddeviceassignedtoanothertenant']);

export function interpretImport(state: ImportState): ImportOutcome {
  const status = state.deviceImportStatus.toLowerCase();
  if (status === 'unknown' || status === 'pending') return { kind: 'pending' };
  const code = state.deviceErrorCode ?? 0;
  const name = (state.deviceErrorName ?? '').toLowerCase();
  const label = `${code}${state.deviceErrorName ? ` ${state.deviceErrorName}` : ''}`;
  if (status === 'complete' && code === 0) return { kind: 'registered', autopilotId: state.deviceRegistrationId || undefined };
  if (code === 806 || name === 'ztddevicealreadyassigned' || name === 'ztddeviceduplicated')
    return { kind: 'already-registered', code: label };
  if (code === 808 || OTHER_TENANT.has(name)) return { kind: 'failed', reason: 'owned-by-other-tenant', code: label };
  if (code === 802 || name === 'invalidztdhardwarehash') return { kind: 'failed', reason: 'autopilot-rejected-hash', code: label };
  if (name === 'storageerror' || code === 640) return { kind: 'retry', code: label };
  if (status === 'complete') return { kind: 'registered', autopilotId: state.deviceRegistrationId || undefined };
  return { kind: 'failed', reason: 'autopilot-error', code: label };
}

const ASSIGNED = new Set(['assignedinsync', 'assignedoutofsync', 'assignedunkownsyncstate', 'assignedunknownsyncstate']);

/** A deployment profile counts as assigned in any of the `assigned…` statuses. */
export function isProfileAssigned(status: string | undefined): boolean {
  return status !== undefined && ASSIGNED.has(status.toLowerCase());
}

export function isProfileAssignmentFailed(status: string | undefined): boolean {
  return status?.toLowerCase() === 'failed';
}

export function isEnrolled(enrollmentState: string | undefined): boolean {
  return enrollmentState?.toLowerCase() === 'enrolled';
}
