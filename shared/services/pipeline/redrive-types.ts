import type { DeviceState, WaitStep } from '../../domain/lifecycle.js';
import type { GraphFailure } from '../graph-result.js';
import type { BatchStore } from '../ports.js';
import type { PipelineDeps } from './context.js';

/** What the re-drive use case takes and tells, shared by its parts (redrive.ts, redrive-import.ts, redrive-handoff.ts). */

export interface RedriveDeps extends PipelineDeps {
  readonly batches: Pick<BatchStore, 'get' | 'save'>;
}

/** Who asked: the routes (and `ztp redrive`, which calls them), or a file uploaded again. */
export type RedriveSource = 'route' | 'upload';

export type DeviceRedrive =
  /** `stalledOn`: the step it had stalled on; `outcome`: what Autopilot showed, for a device stalled on its import. */
  | {
      readonly kind: 'redriven';
      readonly serialNumber: string;
      readonly state: DeviceState;
      readonly stalledOn: WaitStep | undefined;
      readonly outcome: string;
    }
  | { readonly kind: 'not-stalled'; readonly serialNumber: string; readonly state: DeviceState }
  /** Autopilot could not be asked about it now (throttled, failing): nothing changed; re-drive it again later. */
  | { readonly kind: 'deferred'; readonly serialNumber: string; readonly failure: GraphFailure };

export interface BatchRedrive {
  readonly batchId: string;
  /** The file's stalled devices (those asked for, on a retry), each with what became of it. */
  readonly devices: readonly DeviceRedrive[];
}
