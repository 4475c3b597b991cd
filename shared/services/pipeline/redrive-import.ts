import type { AutopilotIdentity, ImportedIdentity } from '../../domain/autopilot.js';
import { serialKey, type DeviceRecord, type TransitionInput } from '../../domain/device.js';
import type { DeviceState, WaitStep } from '../../domain/lifecycle.js';
import { reasonText } from '../../domain/reason-codes.js';
import { decideImportRedrive, type ImportRedrive } from '../../domain/redrive.js';
import { deadlineAt } from '../../domain/waiting.js';
import type { Logger } from '../../log.js';
import { applyTransition } from '../device-lifecycle.js';
import type { GraphFailure } from '../graph-result.js';
import type { Versioned } from '../ports.js';
import type { DeviceRedrive, RedriveDeps } from './redrive-types.js';
import type { HandOff } from './redrive-handoff.js';

/**
 * Re-driving a device stalled on its import: what Autopilot shows of it (read once for every
 * such device of a re-drive), and what that means for it (`decideImportRedrive`) carried out.
 */

export type Seen =
  | {
      readonly ok: true;
      readonly record: ImportedIdentity | undefined;
      readonly identity: AutopilotIdentity | null | undefined;
      readonly decision: ImportRedrive;
    }
  | { readonly ok: false; readonly failure: GraphFailure };

/**
 * What Autopilot shows of the devices stalled on their import, read once for all of them: the
 * imported records in one listing; identities by serial for those the records do not settle —
 * one read each when few, one listing of the tenant's identities when many.
 */
export class AutopilotView {
  private records: Promise<Map<string, ImportedIdentity> | GraphFailure> | undefined;
  private bySerial: Promise<Map<string, AutopilotIdentity> | GraphFailure> | undefined;
  private readonly found = new Map<string, AutopilotIdentity | null>();
  /** More devices to look for than one read each is worth: one listing answers them all. */
  private many: boolean | undefined;
  /** A throttled read stops the per-device reads of this re-drive: Graph said when to come back. */
  private throttled: GraphFailure | undefined;

  constructor(
    private readonly deps: RedriveDeps,
    private readonly candidates: readonly Versioned<DeviceRecord>[],
  ) {}

  async about(device: DeviceRecord): Promise<Seen> {
    const records = await this.listRecords();
    if (!(records instanceof Map)) return { ok: false, failure: records };
    const record = device.importId ? records.get(device.importId) : undefined;
    const first = decideImportRedrive(record, undefined);
    if (first.kind !== 'find-by-serial') return { ok: true, record, identity: undefined, decision: first };
    const identity = await this.identity(device.serialNumber, records);
    if (identity !== null && 'ok' in identity) return { ok: false, failure: identity };
    return { ok: true, record, identity, decision: decideImportRedrive(record, identity) };
  }

  private listRecords(): Promise<Map<string, ImportedIdentity> | GraphFailure> {
    this.records ??= this.deps.graph
      .listImportedIdentities()
      .then((listed) => (listed.ok ? new Map(listed.value.map((record) => [record.importId, record])) : listed));
    return this.records;
  }

  /** Devices whose imported record does not settle what Autopilot has: each needs its identity. */
  private unsettled(records: Map<string, ImportedIdentity>): number {
    return this.candidates.filter(
      (device) =>
        decideImportRedrive(device.value.importId ? records.get(device.value.importId) : undefined, undefined).kind === 'find-by-serial',
    ).length;
  }

  private async identity(serialNumber: string, records: Map<string, ImportedIdentity>): Promise<AutopilotIdentity | null | GraphFailure> {
    const key = serialKey(serialNumber);
    this.many ??= this.unsettled(records) > this.deps.perDeviceReadLimit;
    if (this.many) {
      this.bySerial ??= this.deps.graph
        .listAutopilotIdentities()
        .then((listed) => (listed.ok ? new Map(listed.value.map((identity) => [serialKey(identity.serialNumber), identity])) : listed));
      const all = await this.bySerial;
      return all instanceof Map ? (all.get(key) ?? null) : all;
    }
    const known = this.found.get(key);
    if (known !== undefined) return known;
    if (this.throttled) return this.throttled;
    const read = await this.deps.graph.findAutopilotIdentityBySerial(serialNumber);
    if (!read.ok) {
      if (read.kind === 'throttled') this.throttled = read;
      return read;
    }
    this.found.set(key, read.value ?? null);
    return read.value ?? null;
  }
}

/** A device stalled on its import, once Autopilot has been asked: registered, importing again, received again, or failed. */
export async function afterImportCheck(
  deps: RedriveDeps,
  device: Versioned<DeviceRecord>,
  seen: {
    readonly record: ImportedIdentity | undefined;
    readonly identity: AutopilotIdentity | null | undefined;
    readonly decision: ImportRedrive;
  },
  handOff: HandOff,
  correlationId: string,
  log: Logger,
): Promise<DeviceRedrive> {
  const now = deps.now();
  const since = now.toISOString();
  const { record, identity, decision } = seen;
  if (decision.kind === 'find-by-serial') throw new Error('a re-drive decides once the identity has been looked for');
  const stalledOn = device.value.waitingFor;
  // Autopilot's error code, in the history of the outcomes that have one.
  const code = 'code' in decision && decision.code !== undefined ? { code: decision.code } : {};
  /** The device's one transition, its work handed on, and what the use case reports of it. */
  const moveTo = async (
    to: DeviceState,
    changes: TransitionInput['changes'],
    detail: Readonly<Record<string, unknown>>,
    handOn: (saved: DeviceRecord) => void,
  ): Promise<DeviceRedrive> => {
    const saved = await applyTransition(deps, log, device, {
      to,
      reason: 'redriven',
      correlationId,
      now,
      changes,
      detail: { waitingFor: stalledOn ?? 'import', outcome: decision.outcome, ...detail },
    });
    handOn(saved.value);
    return redriven(saved.value, stalledOn, decision.outcome);
  };
  switch (decision.kind) {
    case 'register':
      return moveTo(
        'registered',
        {
          autopilotId: decision.autopilotId,
          autopilotGroupTag: (identity ? identity.groupTag : record?.groupTag) || undefined,
          importedIdentityId: record?.id,
          // Autopilot has the device: the hash is not kept beyond the one use it had.
          hardwareHash: undefined,
          waitingFor: 'profile-assignment',
          waitingSince: since,
          deadlineAt: deadlineAt('profile-assignment', now, deps.waits).toISOString(),
          pollAttempt: 0,
          profileBaseline: undefined,
          reasons: decision.outcome === 'already-registered' ? ['already-registered'] : [],
        },
        { autopilotId: decision.autopilotId, ...code },
        () => handOff.registered(record),
      );
    case 'wait':
      return moveTo(
        'importing',
        { waitingFor: 'import', waitingSince: since, deadlineAt: deadlineAt('import', now, deps.waits).toISOString(), pollAttempt: 0 },
        {},
        () => handOff.poll('imports'),
      );
    case 'resubmit':
      return moveTo(
        'received',
        {
          importId: undefined,
          importedIdentityId: undefined,
          waitingFor: undefined,
          waitingSince: undefined,
          deadlineAt: undefined,
          pollAttempt: 0,
        },
        code,
        (saved) => handOff.importAgain(saved),
      );
    case 'fail':
      return moveTo(
        'failed',
        {
          reasons: [decision.outcome],
          note: `${reasonText(decision.outcome)} (Autopilot: ${decision.code})`,
          importedIdentityId: record?.id,
          waitingFor: undefined,
          waitingSince: undefined,
          deadlineAt: undefined,
        },
        code,
        () => handOff.finished(record),
      );
  }
}

/** The outcome of a device re-driven, as the use case reports it. */
export function redriven(device: DeviceRecord, stalledOn: WaitStep | undefined, outcome: string): DeviceRedrive {
  return { kind: 'redriven', serialNumber: device.serialNumber, state: device.state, stalledOn, outcome };
}
