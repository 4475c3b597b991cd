import type { AutopilotIdentity } from './records.js';
import type { ManagedDeviceLifecycle } from './managed-devices.js';
import { matchesRule, normaliseSerial, type ResolvedOptions } from './options.js';
import type { Timeline } from './timeline.js';

export type ProfileBlock = 'notAssigned' | 'pending' | 'failed';

/** The deployment profile an Autopilot identity gets from its group tag, and when. */
export class ProfileAssignment {
  private readonly blocked = new Map<string, ProfileBlock>();

  constructor(
    private readonly identities: ReadonlyMap<string, AutopilotIdentity>,
    private readonly devices: ManagedDeviceLifecycle,
    private readonly timeline: Timeline,
    private readonly options: ResolvedOptions,
  ) {}

  /**
   * Group membership follows the tag after a while, then the profile follows the group.
   * A tag that matches no rule drops the device out of the group and unassigns the profile.
   */
  groupTagChanged(identity: AutopilotIdentity, at: number): void {
    const rule = this.options.profileRules.find((r) => matchesRule(r, identity.groupTag));
    if (rule && rule.profileName === identity.profileName && identity.profileStatus === 'assignedInSync') return;
    identity.generation += 1;
    const generation = identity.generation;
    const current = (): boolean => this.identities.get(identity.id) === identity && identity.generation === generation;
    const blocked = this.blocked.get(normaliseSerial(identity.serialNumber));

    const joinsGroupAt = at + this.timeline.draw(this.options.latencies.groupMembershipSeconds);
    if (!rule) {
      this.timeline.at(joinsGroupAt, () => {
        if (!current()) return;
        identity.profileStatus = 'notAssigned';
        identity.profileName = undefined;
        identity.profileAssignedAt = undefined;
      });
      return;
    }
    if (blocked === 'notAssigned') return;
    this.timeline.at(joinsGroupAt, (joinedAt) => {
      if (!current()) return;
      identity.profileStatus = identity.profileName === undefined ? 'pending' : 'assignedOutOfSync';
      if (blocked === 'pending') return;
      if (blocked === 'failed') {
        this.timeline.at(joinedAt + this.timeline.draw(this.options.latencies.profileAssignmentSeconds), () => {
          if (current()) identity.profileStatus = 'failed';
        });
        return;
      }
      this.timeline.at(joinedAt + this.timeline.draw(this.options.latencies.profileAssignmentSeconds), (assignedAt) => {
        if (!current()) return;
        identity.profileStatus = 'assignedInSync';
        identity.profileName = rule.profileName;
        identity.profileAssignedAt = assignedAt;
        this.devices.scheduleBoot(identity, assignedAt + this.timeline.draw(this.options.latencies.enrolmentSeconds));
      });
    });
  }

  /** Keeps a serial from ever being assigned, as a 50-hour wait has been reported: callers need a deadline. */
  block(serial: string, stuckAt: ProfileBlock, identity: AutopilotIdentity | undefined): void {
    this.blocked.set(normaliseSerial(serial), stuckAt);
    if (identity && identity.profileStatus !== 'assignedInSync') {
      identity.generation += 1;
      identity.profileStatus = stuckAt;
    }
  }
}
