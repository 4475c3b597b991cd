/** The records the simulated tenant keeps, shared by the parts that move them through time. */

export type EnrollmentState = 'unknown' | 'enrolled' | 'pendingReset' | 'failed' | 'notContacted';
export type ProfileAssignmentStatus =
  'unknown' | 'assignedInSync' | 'assignedOutOfSync' | 'assignedUnkownSyncState' | 'notAssigned' | 'pending' | 'failed';

export interface AutopilotIdentity {
  id: string;
  serialNumber: string;
  groupTag: string;
  purchaseOrderIdentifier: string;
  productKey: string;
  manufacturer: string;
  model: string;
  enrollmentState: EnrollmentState;
  lastContactedAt: number | undefined;
  managedDeviceId: string | undefined;
  azureAdDeviceId: string;
  displayName: string;
  userPrincipalName: string;
  addressableUserName: string;
  profileStatus: ProfileAssignmentStatus;
  profileName: string | undefined;
  profileAssignedAt: number | undefined;
  createdAt: number;
  /** Bumped on every re-tag, wipe or deletion so that stale timeline events do nothing. */
  generation: number;
  deleting: boolean;
}

export interface DeviceActionResult {
  actionName: 'wipe' | 'retire' | 'cleanWindowsDevice';
  actionState: 'pending' | 'done';
  startDateTime: number;
  lastUpdatedDateTime: number;
}

export interface ManagedDevice {
  id: string;
  identityId: string;
  serialNumber: string;
  deviceName: string;
  manufacturer: string;
  model: string;
  azureAdDeviceId: string;
  userPrincipalName: string;
  enrollmentProfileName: string;
  enrolledAt: number;
  lastSyncAt: number;
  managementState: 'managed' | 'wipePending' | 'retirePending';
  actionResults: DeviceActionResult[];
}
