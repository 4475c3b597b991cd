import type { ImportedIdentity } from '../../domain/autopilot.js';
import type { AutopilotPort, CallOptions } from '../../services/autopilot-port.js';
import type { GraphResult } from '../../services/graph-result.js';

/**
 * The Autopilot port as the Graph adapter implements it, plus what only the adapter's own
 * tests and the host need (reading one imported record, closing the connections).
 */
export interface GraphClient extends AutopilotPort {
  /** Default priority: status. */
  getImportedIdentity(id: string, options?: CallOptions): Promise<GraphResult<ImportedIdentity>>;
  /** Releases pooled connections. */
  close(): void;
}
