import { describe, expect, it } from 'vitest';
import { newDevice, ownerOf, type DeviceRecord } from '../../../shared/domain/device.js';
import {
  decideAcceptedRow,
  decideRejectedRow,
  RESUBMITTABLE,
  type AcceptedRowDecision,
  type KnownDeviceRow,
} from '../../../shared/domain/known-device-row.js';
import { DEVICE_STATES, type DeviceState } from '../../../shared/domain/lifecycle.js';
import type { ReprovisionRequest } from '../../../shared/domain/reprovision-request.js';

/*
 * The expected decisions are written out per group of states rather than derived from the
 * module's own sets, so moving a state from one group to another has to be done here too.
 */

const NOW = new Date('2026-03-02T10:00:00.000Z');
const FIRST_FILE = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const OTHER_FILE = 'ffeeddccbbaa99887766554433221100';
const GENERATION = 3;
const OWNER = 'contoso';
const OTHER_SUPPLIER = 'fabrikam';

/** A device contoso's file brought; a rejected one has no owner (only rejected rows lead there). */
function known(overrides: Partial<DeviceRecord>): DeviceRecord {
  const { record } = newDevice(
    { serialNumber: 'PF3K-0042', supplierId: OWNER, batchId: FIRST_FILE, line: 2, groupTag: 'MPS-STD' },
    'received',
    'accepted-from-file',
    'corr-1',
    NOW,
  );
  return { ...record, generation: GENERATION, ...(overrides.state === 'rejected' ? { ownerId: undefined } : {}), ...overrides };
}

/** A valid row of a file; contoso's unless it says otherwise. */
function row(batchId: string, groupTag: string | undefined, fields: Partial<KnownDeviceRow> = {}): KnownDeviceRow {
  return { batchId, supplierId: OWNER, groupTag, assignedUser: undefined, ...fields };
}

/** A service-desk wipe that stalled, unless it says otherwise. */
function request(fields: Partial<ReprovisionRequest> = {}): ReprovisionRequest {
  return {
    requestId: '6f1c7c0e-3a56-4a4e-9e1f-0c9d1f1d2a11',
    action: 'wipe',
    ticket: 'INC1',
    requestedBy: 'x',
    requestedAt: NOW.toISOString(),
    fromState: 'enrolled',
    stage: 'stalled',
    ...fields,
  };
}

/** Autopilot's tag and the record's tag, against the tag of the new row. */
interface TagSituation {
  readonly label: string;
  readonly recorded: string | undefined;
  readonly autopilot: string | undefined;
  readonly row: string | undefined;
  /** For a device that is (or is being) registered, not enrolled. */
  readonly onTheWay: AcceptedRowDecision;
  readonly enrolled: AcceptedRowDecision;
}

const retag = (watchEnrolled: 'start' | 'stop' | undefined): AcceptedRowDecision => ({
  kind: 'retag',
  generation: GENERATION + 1,
  watchEnrolled,
});
const unchanged = (resendRetag: boolean): AcceptedRowDecision => ({ kind: 'unchanged', resendRetag });

const SITUATIONS: readonly TagSituation[] = [
  {
    label: 'same tag, Autopilot in step',
    recorded: 'MPS-STD',
    autopilot: 'MPS-STD',
    row: 'MPS-STD',
    onTheWay: unchanged(false),
    enrolled: unchanged(false),
  },
  // A crash between recording a new tag and queueing its re-tag leaves Autopilot behind.
  {
    label: 'same tag, Autopilot lagging',
    recorded: 'MPS-STD',
    autopilot: 'MPS-OLD',
    row: 'MPS-STD',
    onTheWay: unchanged(true),
    enrolled: unchanged(true),
  },
  {
    label: 'same tag, Autopilot tag not yet seen',
    recorded: 'MPS-STD',
    autopilot: undefined,
    row: 'MPS-STD',
    onTheWay: unchanged(false),
    enrolled: unchanged(false),
  },
  {
    label: 'new tag, Autopilot on the old one',
    recorded: 'MPS-STD',
    autopilot: 'MPS-STD',
    row: 'MPS-KIOSK',
    onTheWay: retag(undefined),
    enrolled: retag('start'),
  },
  {
    label: 'new tag, Autopilot lagging on a third one',
    recorded: 'MPS-STD',
    autopilot: 'MPS-OLD',
    row: 'MPS-KIOSK',
    onTheWay: retag(undefined),
    enrolled: retag('start'),
  },
  // Someone already set the tag in Autopilot: nothing is left to watch for an enrolled device.
  {
    label: 'new tag already in Autopilot',
    recorded: 'MPS-STD',
    autopilot: 'MPS-KIOSK',
    row: 'MPS-KIOSK',
    onTheWay: retag(undefined),
    enrolled: retag('stop'),
  },
  // Nothing a row lacks is taken away: a row without a tag keeps the recorded one.
  {
    label: 'no tag on the row, device and Autopilot tagged',
    recorded: 'MPS-STD',
    autopilot: 'MPS-STD',
    row: undefined,
    onTheWay: unchanged(false),
    enrolled: unchanged(false),
  },
  {
    label: 'no tag on the row, device tagged, Autopilot untagged',
    recorded: 'MPS-STD',
    autopilot: undefined,
    row: undefined,
    onTheWay: unchanged(false),
    enrolled: unchanged(false),
  },
  {
    label: 'no tag on the row, device tagged, Autopilot lagging',
    recorded: 'MPS-STD',
    autopilot: 'MPS-OLD',
    row: undefined,
    onTheWay: unchanged(true),
    enrolled: unchanged(true),
  },
  {
    label: 'no tag anywhere',
    recorded: undefined,
    autopilot: undefined,
    row: undefined,
    onTheWay: unchanged(false),
    enrolled: unchanged(false),
  },
  // A device that wants no tag in particular leaves Autopilot's alone.
  {
    label: 'no tag on the row or the device, Autopilot tagged',
    recorded: undefined,
    autopilot: 'MPS-STD',
    row: undefined,
    onTheWay: unchanged(false),
    enrolled: unchanged(false),
  },
  {
    label: 'first tag for an untagged device',
    recorded: undefined,
    autopilot: undefined,
    row: 'MPS-STD',
    onTheWay: retag(undefined),
    enrolled: retag('start'),
  },
];

/** States a new file starts over from, and with which reason. */
const STARTS_OVER: Readonly<Partial<Record<DeviceState, 'group-tag-changed' | 'resubmitted-from-file'>>> = {
  // Not submitted yet: the newer row simply replaces the older one.
  received: 'group-tag-changed',
  rejected: 'resubmitted-from-file',
  failed: 'resubmitted-from-file',
};

/** Whatever file names them: rows never interrupt the service desk, nor undo its deregistration. */
const SERVICE_DESK: Readonly<Partial<Record<DeviceState, AcceptedRowDecision>>> = {
  reprovisioning: { kind: 'busy' },
  deregistered: { kind: 'deregistered' },
};

function expectedFromOtherFile(state: DeviceState, situation: TagSituation): AcceptedRowDecision {
  const desk = SERVICE_DESK[state];
  if (desk !== undefined) return desk;
  const reason = STARTS_OVER[state];
  if (reason !== undefined) {
    // The owner's row keeps the recorded tag where it has none; a rejected device had no owner, so nothing carries over.
    const groupTag = state === 'rejected' ? situation.row : (situation.row ?? situation.recorded);
    return { kind: 'resubmit', reason, ownerId: OWNER, groupTag, assignedUser: undefined };
  }
  return state === 'enrolled' ? situation.enrolled : situation.onTheWay;
}

describe('decideAcceptedRow', () => {
  describe.each(DEVICE_STATES.map((state) => [state]))('a known device in %s', (state) => {
    // A re-run of the same file must queue the same chunks again and change nothing else.
    const sameFile = SERVICE_DESK[state] ?? { kind: 'same-file' };
    it.each(SITUATIONS.map((situation) => [situation.label, situation]))(`named again by the same file (%s): ${sameFile.kind}`, (_, s) => {
      const device = known({ state, groupTag: s.recorded, autopilotGroupTag: s.autopilot });
      expect(decideAcceptedRow(device, row(FIRST_FILE, s.row))).toEqual(sameFile);
    });

    it.each(
      SITUATIONS.map((situation) => {
        const expected = expectedFromOtherFile(state, situation);
        return [situation.label, JSON.stringify(expected), expected, situation] as const;
      }),
    )('named by another file (%s): %s', (_, _title, expected, s) => {
      const device = known({ state, groupTag: s.recorded, autopilotGroupTag: s.autopilot });
      expect(decideAcceptedRow(device, row(OTHER_FILE, s.row))).toEqual(expected);
    });
  });

  it('imports a deregistered device again, from any file, only when the deregistration allowed it', () => {
    const deregistration = { action: 'deregister', stage: 'done' } as const;
    const open = known({ state: 'deregistered', reprovision: request({ ...deregistration, allowReimport: true }) });
    const closed = known({ state: 'deregistered', reprovision: request({ ...deregistration, allowReimport: false }) });
    for (const batchId of [FIRST_FILE, OTHER_FILE]) {
      for (const supplierId of [OWNER, OTHER_SUPPLIER]) {
        expect(decideAcceptedRow(open, row(batchId, 'MPS-STD', { supplierId })).kind).toBe(
          batchId === FIRST_FILE ? 'same-file' : 'resubmit',
        );
        expect(decideAcceptedRow(closed, row(batchId, 'MPS-STD', { supplierId }))).toEqual({ kind: 'deregistered' });
      }
    }
  });

  it('a device whose service-desk request stalled is still busy; once the request ended it is not', () => {
    const stalled = known({ state: 'stalled', waitingFor: 'reprovision', reprovision: request(), autopilotGroupTag: 'MPS-STD' });
    expect(decideAcceptedRow(stalled, row(OTHER_FILE, 'MPS-KIOSK'))).toEqual({ kind: 'busy' });
    const ended = known({ state: 'enrolled', reprovision: request({ stage: 'done' }), autopilotGroupTag: 'MPS-STD' });
    expect(decideAcceptedRow(ended, row(OTHER_FILE, 'MPS-KIOSK')).kind).toBe('retag');
  });

  it('numbers a re-tag from the generation the device is at, not from one', () => {
    const device = known({ state: 'registered', generation: 41, autopilotGroupTag: 'MPS-STD' });
    expect(decideAcceptedRow(device, row(OTHER_FILE, 'MPS-KIOSK'))).toEqual({
      kind: 'retag',
      generation: 42,
      watchEnrolled: undefined,
    });
  });
});

describe('decideAcceptedRow: ownership', () => {
  /** Contoso's device, named by a row of fabrikam's file. */
  const otherSuppliersRow = row(OTHER_FILE, 'FAB-ORDER-1', { supplierId: OTHER_SUPPLIER, assignedUser: 'someone@fabrikam.example' });

  // The service desk comes first; then only the owner may change a device. A serial only ever
  // in rejected rows has no owner yet: the first accepted row takes it.
  const expected = (state: DeviceState): AcceptedRowDecision => {
    if (state === 'reprovisioning') return { kind: 'busy' };
    if (state === 'deregistered') return { kind: 'deregistered' };
    if (state === 'rejected') {
      return {
        kind: 'resubmit',
        reason: 'resubmitted-from-file',
        ownerId: OTHER_SUPPLIER,
        groupTag: 'FAB-ORDER-1',
        assignedUser: 'someone@fabrikam.example',
      };
    }
    return { kind: 'other-supplier', ownerId: OWNER };
  };

  it.each(DEVICE_STATES.map((state) => [state, expected(state).kind, expected(state)] as const))(
    "a %s device named by another supplier's row: %s",
    (state, _kind, decision) => {
      const device = known({ state, autopilotGroupTag: 'MPS-STD', assignedUser: 'user@contoso.example' });
      expect(decideAcceptedRow(device, otherSuppliersRow)).toEqual(decision);
      // The same file's run again changes nothing for it either.
      expect(decideAcceptedRow(device, { ...otherSuppliersRow, batchId: FIRST_FILE })).toEqual(
        decision.kind === 'resubmit' ? { kind: 'same-file' } : decision,
      );
    },
  );

  it('a device stalled on a service-desk request is busy for any supplier', () => {
    expect(decideAcceptedRow(known({ state: 'stalled', waitingFor: 'reprovision', reprovision: request() }), otherSuppliersRow)).toEqual({
      kind: 'busy',
    });
  });

  it('a device deregistered with allowReimport passes to whichever supplier imports it, without what its old owner sent', () => {
    const reprovision = request({ action: 'deregister', stage: 'done', allowReimport: true });
    const device = known({ state: 'deregistered', reprovision, assignedUser: 'user@contoso.example' });
    const untagged = { ...otherSuppliersRow, groupTag: undefined, assignedUser: undefined };
    expect(decideAcceptedRow(device, untagged)).toEqual({
      kind: 'resubmit',
      reason: 'resubmitted-from-file',
      ownerId: OTHER_SUPPLIER,
      groupTag: undefined,
      assignedUser: undefined,
    });
    // Its owner bringing it back keeps what the owner's rows set.
    expect(decideAcceptedRow(device, row(OTHER_FILE, undefined))).toEqual({
      kind: 'resubmit',
      reason: 'resubmitted-from-file',
      ownerId: OWNER,
      groupTag: 'MPS-STD',
      assignedUser: 'user@contoso.example',
    });
  });

  it('reads the owner of a record from before owners were recorded from the supplier it was accepted from', () => {
    const legacy = known({ state: 'registered', ownerId: undefined, supplierId: OWNER });
    expect(decideAcceptedRow(legacy, otherSuppliersRow)).toEqual({ kind: 'other-supplier', ownerId: OWNER });
    expect(decideAcceptedRow(legacy, row(OTHER_FILE, 'MPS-KIOSK')).kind).toBe('retag');
    // A legacy rejected device was never accepted: nobody owns it.
    expect(decideAcceptedRow(known({ state: 'rejected', ownerId: undefined }), otherSuppliersRow).kind).toBe('resubmit');
  });
});

describe('decideAcceptedRow: nothing a row lacks is taken away', () => {
  it.each(['received', 'failed'] as const)('a %s device sent again by its owner keeps its tag and user where the row has none', (state) => {
    const device = known({ state, groupTag: 'MPS-KIOSK', assignedUser: 'user@contoso.example' });
    expect(decideAcceptedRow(device, row(OTHER_FILE, undefined))).toMatchObject({
      kind: 'resubmit',
      groupTag: 'MPS-KIOSK',
      assignedUser: 'user@contoso.example',
    });
    expect(decideAcceptedRow(device, row(OTHER_FILE, 'MPS-STD', { assignedUser: 'other@contoso.example' }))).toMatchObject({
      kind: 'resubmit',
      groupTag: 'MPS-STD',
      assignedUser: 'other@contoso.example',
    });
  });
});

describe('ownerOf', () => {
  it.each([
    ['an accepted device', { ownerId: 'contoso', state: 'enrolled', supplierId: 'contoso' }, 'contoso'],
    [
      'a device another supplier last sent a rejected row for',
      { ownerId: 'contoso', state: 'enrolled', supplierId: 'fabrikam' },
      'contoso',
    ],
    ['a serial only seen in rejected rows', { ownerId: undefined, state: 'rejected', supplierId: 'fabrikam' }, undefined],
    ['a record from before owners were recorded', { ownerId: undefined, state: 'registered', supplierId: 'contoso' }, 'contoso'],
  ] as const)('%s: %s', (_, device, owner) => {
    expect(ownerOf(device)).toBe(owner);
  });
});

describe('RESUBMITTABLE', () => {
  const expected: readonly DeviceState[] = ['rejected', 'failed', 'deregistered'];

  it.each(DEVICE_STATES.map((state) => [state, expected.includes(state)] as const))(
    '%s may start over from a new file: %s',
    (state, yes) => {
      expect(RESUBMITTABLE.has(state)).toBe(yes);
    },
  );
});

describe('decideRejectedRow', () => {
  /** A bad row of fabrikam's file. */
  const otherSuppliersBadRow = { batchId: OTHER_FILE, supplierId: OTHER_SUPPLIER, duplicateInFile: false };

  it.each([
    ['a first occurrence', false, 'record'],
    // The earlier row of the file recorded the serial; its duplicate must not overwrite it.
    ['a duplicate within the file', true, 'ignore'],
  ] as const)('a serial seen for the first time, in %s: $2', (_, duplicateInFile, kind) => {
    expect(decideRejectedRow(undefined, { batchId: FIRST_FILE, supplierId: OWNER, duplicateInFile })).toEqual({ kind });
  });

  const cases = DEVICE_STATES.flatMap((state) =>
    (
      [
        ['the same file', FIRST_FILE, false],
        ['another file', OTHER_FILE, false],
        ['the same file, duplicated', FIRST_FILE, true],
        ['another file, duplicated', OTHER_FILE, true],
      ] as const
    ).map(([label, batchId, duplicateInFile]) => {
      // Only a rejection is replaced by a newer file's rejection; a bad row never downgrades.
      const kind = state === 'rejected' && batchId === OTHER_FILE && !duplicateInFile ? 'record' : 'ignore';
      return [state, label, kind, batchId, duplicateInFile] as const;
    }),
  );

  it.each(cases)('a %s device named by a bad row of %s: %s', (state, _, kind, batchId, duplicateInFile) => {
    expect(decideRejectedRow(known({ state }), { batchId, supplierId: OWNER, duplicateInFile })).toEqual({ kind });
  });

  // A rejected device has no owner: any supplier's newer rejection is recorded. Every other device is left alone.
  it.each(DEVICE_STATES.map((state) => [state, state === 'rejected' ? 'record' : 'ignore'] as const))(
    "a %s device named by a bad row of another supplier's file: %s",
    (state, kind) => {
      expect(decideRejectedRow(known({ state }), otherSuppliersBadRow)).toEqual({ kind });
    },
  );

  it("never records another supplier's rejection on an owned device, whatever its state says", () => {
    // Rejected after an accepted row (the lifecycle allows received -> rejected): it keeps its owner.
    const owned = known({ state: 'rejected', ownerId: OWNER });
    expect(decideRejectedRow(owned, otherSuppliersBadRow)).toEqual({ kind: 'ignore' });
    expect(decideRejectedRow(owned, { batchId: OTHER_FILE, supplierId: OWNER, duplicateInFile: false })).toEqual({ kind: 'record' });
  });
});
