import type { GraphClient } from '../../adapters/graph/index.js';

/** The Graph operations the provisioning pipeline uses; the Graph adapter's client provides them. */
export type AutopilotPort = Pick<
  GraphClient,
  | 'importDevices'
  | 'listImportedIdentities'
  | 'deleteImportedIdentity'
  | 'findAutopilotIdentityBySerial'
  | 'getAutopilotIdentity'
  | 'listAutopilotIdentities'
  | 'updateDeviceProperties'
  | 'syncAutopilot'
>;
