import type { DeviceState, ReprovisionAction, WaitStep } from './lifecycle.js';

/** A service-desk request as the device record keeps it (see reprovision.ts for what is decided with it). */

/**
 * How far a request has got. Each Graph call is recorded as intended before it is made and as
 * made once it is answered, so a redelivered message never sends a remote action twice:
 * `sending` with a baseline means "look at the device before sending again".
 */
export type ReprovisionStage =
  /** Accepted by the webhook; the worker has not started. */
  | 'accepted'
  /** The remote action is about to be sent; the device's action entries newer than the baseline are ours. */
  | 'sending'
  /** The Graph call was answered: waiting for it to take effect. */
  | 'sent'
  /** Deregistration: the Intune record is gone, the Autopilot identity goes next. */
  | 'managed-device-deleted'
  /** The request ended: in its end state, refused by Graph, or past its deadline (stalled). */
  | 'done'
  | 'failed'
  | 'stalled';

export interface ReprovisionRequest {
  readonly requestId: string;
  readonly action: ReprovisionAction;
  readonly ticket: string;
  /** A person: kept with the request for the audit trail; never logged, never shown by the API or CLI. */
  readonly requestedBy: string;
  readonly requestedAt: string;
  /** `retag`: the tag the device is to carry. */
  readonly groupTag?: string | undefined;
  /** `deregister`: a supplier file may import the device again afterwards. */
  readonly allowReimport?: boolean | undefined;
  /** Where a permanent refusal by Graph returns the device, waiting as it was. */
  readonly fromState: DeviceState;
  readonly fromWaiting?: { readonly waitingFor?: WaitStep; readonly waitingSince?: string; readonly deadlineAt?: string } | undefined;
  readonly stage: ReprovisionStage;
  /** The Intune managed device the action went to. */
  readonly managedDeviceId?: string | undefined;
  /**
   * The newest `startDateTime` among the device's entries for this action before it was sent
   * (`none` when it had none): the entry of this request is the first one newer. Graph's own
   * times are compared with each other, never with this app's clock.
   */
  readonly actionBaseline?: string | undefined;
  /** `retag`: the profile-assignment time Autopilot showed when the tag was set (`none` when unassigned). */
  readonly profileBaseline?: string | undefined;
  /**
   * `sending`: until when the delivery that saved the stage may still be sending; another
   * delivery that finds no entry yet waits until then rather than sending a second action.
   */
  readonly sendingUntil?: string | undefined;
  readonly sentAt?: string | undefined;
  /** `stalled`: the stage it stalled in, where a re-drive takes it up again. */
  readonly stalledStage?: ReprovisionStage | undefined;
  /** Why it failed (a stable code), once it has. */
  readonly failure?: string | undefined;
}
