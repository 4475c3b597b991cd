/** The Autopilot and Intune entities the product reads and writes, as Graph spells them. */

export type ImportStatus = 'unknown' | 'pending' | 'partial' | 'complete' | 'error';

export interface ImportDeviceInput {
  serialNumber: string;
  /** Base64 as found in the CSV: sent as is, never re-encoded. */
  hardwareIdentifier: string;
  productKey?: string;
  groupTag?: string;
  assignedUserPrincipalName?: string;
  /** The product's own correlation id for this device's import. */
  importId?: string;
}

export interface ImportedIdentity {
  id: string;
  serialNumber: string;
  groupTag: string;
  importId: string;
  productKey: string;
  assignedUserPrincipalName: string;
  state: {
    deviceImportStatus: ImportStatus;
    /** On `complete`: the id of the new Autopilot identity. */
    deviceRegistrationId: string;
    deviceErrorCode: number;
    deviceErrorName: string;
  };
}

export type EnrollmentState = 'unknown' | 'enrolled' | 'pendingReset' | 'failed' | 'notContacted' | 'blocked';
export type ProfileAssignmentStatus =
  'unknown' | 'assignedInSync' | 'assignedOutOfSync' | 'assignedUnkownSyncState' | 'notAssigned' | 'pending' | 'failed';

export interface AutopilotIdentity {
  id: string;
  serialNumber: string;
  groupTag: string;
  manufacturer: string;
  model: string;
  enrollmentState: EnrollmentState;
  /** Absent when Graph reports no managed device (null, empty or the zero GUID). */
  managedDeviceId?: string;
  azureActiveDirectoryDeviceId?: string;
  displayName: string;
  userPrincipalName: string;
  lastContactedDateTime?: string;
  /** Beta only: present when read through getAutopilotIdentity. */
  deploymentProfileAssignmentStatus?: ProfileAssignmentStatus;
  deploymentProfileAssignedDateTime?: string;
}

export interface ManagedDevice {
  id: string;
  serialNumber: string;
  deviceName: string;
  azureADDeviceId?: string;
  enrolledDateTime?: string;
  lastSyncDateTime?: string;
  deviceActionResults: { actionName: string; actionState: string; startDateTime?: string; lastUpdatedDateTime?: string }[];
}

export interface DevicePropertiesUpdate {
  groupTag?: string;
  displayName?: string;
  userPrincipalName?: string;
  addressableUserName?: string;
}

/**
 * The Intune remote actions the product can send. Which product action maps to which of these
 * is configuration (no Graph call is documented as "Autopilot reset").
 */
export type ManagedDeviceAction =
  | { action: 'wipe'; keepEnrollmentData: boolean; keepUserData: boolean; useProtectedWipe?: boolean }
  | { action: 'cleanWindowsDevice'; keepUserData: boolean }
  | { action: 'retire' };

export type SyncOutcome =
  /** This call started a sync. */
  | 'synced'
  /** Another caller in the app synced within the interval: nothing sent. */
  | 'coalesced'
  /** Graph answered 409: a sync is already running. */
  | 'already-running'
  /** Graph answered 429: synced within the last 10 minutes. */
  | 'recently-synced';
