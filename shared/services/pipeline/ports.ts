import type { GraphClient } from '../../adapters/graph/index.js';
import type { GraphResult } from '../../adapters/graph/result.js';
import type { AutopilotIdentity } from '../../adapters/graph/types.js';

/** The Graph operations the provisioning pipeline uses; the Graph adapter's client provides them. */
export type AutopilotPort = Pick<
  GraphClient,
  | 'importDevices'
  | 'listImportedIdentities'
  | 'deleteImportedIdentity'
  | 'findAutopilotIdentityBySerial'
  | 'getAutopilotIdentity'
  | 'updateDeviceProperties'
  | 'syncAutopilot'
> & {
  /** Beta, every page: carries the deployment profile assignment status. */
  listAutopilotIdentities(): Promise<GraphResult<AutopilotIdentity[]>>;
};
