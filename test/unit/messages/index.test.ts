import { describe, expect, it } from 'vitest';
import { KINDS_BY_QUEUE, parseMessage, QUEUES, type QueueName } from '../../../shared/messages/index.js';

/*
 * Every queue carries a known set of kinds; anything else on it is poison, set aside at once
 * with a description that names the kind, the queue or the failing fields — never a value.
 */

const SECRET = 'sk_live_51Hc9TOPSECRETvalue';
const BATCH = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

const VALID: Readonly<Record<string, unknown>> = {
  'import-chunk': { source: { kind: 'file', batchId: BATCH, chunk: 0 }, serialNumbers: ['PF3K-0042'] },
  retag: { serialNumber: 'PF3K-0042', generation: 4 },
  tick: { tick: 'imports', at: '2026-03-02T12:00:00.000Z', idle: 0 },
  reprovision: { serialNumber: 'PF3K-0042', requestId: '6f1c7c0e-3a56-4a4e-9e1f-0c9d1f1d2a11' },
  redrive: { batchId: BATCH },
  ingest: { blobName: 'contoso/batch-7.csv', cause: 'stuck', batchId: BATCH },
};

const envelope = (kind: string, payload: unknown) => ({ kind, correlationId: 'corr-1', payload });

describe('KINDS_BY_QUEUE', () => {
  it.each<[QueueName, string[]]>([
    [QUEUES.import, ['import-chunk']],
    [QUEUES.followup, ['ingest', 'redrive', 'retag', 'tick']],
    [QUEUES.reprovision, ['reprovision']],
  ])('%s carries %j', (queue, kinds) => {
    expect([...KINDS_BY_QUEUE[queue]].sort()).toEqual(kinds);
  });

  it('names every queue', () => {
    expect(Object.keys(KINDS_BY_QUEUE).sort()).toEqual(Object.values(QUEUES).sort());
  });
});

describe('parseMessage: kinds and queues', () => {
  const cases = Object.values(QUEUES).flatMap((queue) =>
    [...Object.keys(VALID), 'reprovision-request', 'Retag'].map((kind) => {
      const carried = (KINDS_BY_QUEUE[queue] as readonly string[]).includes(kind);
      return [kind, queue, carried] as const;
    }),
  );

  it.each(cases)('%s on %s is carried: %s', (kind, queue, carried) => {
    const read = parseMessage(queue, envelope(kind, VALID[kind] ?? {}));
    if (carried) {
      expect(read).toMatchObject({ ok: true, message: { kind, correlationId: 'corr-1' } });
      return;
    }
    expect(read).toMatchObject({ ok: false, reason: 'unknown-kind', kind, correlationId: 'corr-1' });
    if (read.ok) return;
    expect(read.description).toContain(`"${kind}"`);
    expect(read.description).toContain(queue);
  });

  it('says what a queue does carry', () => {
    const read = parseMessage(QUEUES.import, envelope('retag', VALID.retag));
    expect(read.ok === false && read.description).toBe('kind "retag" is not a message of ztp-import (it carries import-chunk)');
  });

  it('passes on a body that is no envelope, with nothing read of it', () => {
    const read = parseMessage(QUEUES.followup, `not json ${SECRET}`);
    expect(read).toMatchObject({ ok: false, reason: 'not-an-envelope' });
    expect(read).not.toHaveProperty('kind');
    expect(JSON.stringify(read)).not.toContain(SECRET);
  });
});

type Bad = readonly [string, unknown, string];

// Each bad payload holds the secret somewhere, in the bad field wherever its type allows.
const BAD_PAYLOADS: Readonly<Record<string, { queue: QueueName; cases: readonly Bad[] }>> = {
  'import-chunk': {
    queue: QUEUES.import,
    cases: [
      ['no source', { serialNumbers: [SECRET] }, 'payload.source'],
      ['a source that is text', { source: SECRET, serialNumbers: ['PF3K-0042'] }, 'payload.source'],
      ['an unknown source kind', { source: { kind: SECRET }, serialNumbers: ['PF3K-0042'] }, 'payload.source.kind'],
      ['a file source without a batch', { source: { kind: 'file', chunk: 0 }, serialNumbers: [SECRET] }, 'payload.source.batchId'],
      [
        'a file source with an empty batch',
        { source: { kind: 'file', batchId: '', chunk: 0 }, serialNumbers: [SECRET] },
        'payload.source.batchId',
      ],
      [
        'a chunk as text',
        { source: { kind: 'file', batchId: BATCH, chunk: SECRET }, serialNumbers: ['PF3K-0042'] },
        'payload.source.chunk',
      ],
      ['a negative chunk', { source: { kind: 'file', batchId: BATCH, chunk: -1 }, serialNumbers: [SECRET] }, 'payload.source.chunk'],
      ['a fractional chunk', { source: { kind: 'file', batchId: BATCH, chunk: 0.5 }, serialNumbers: [SECRET] }, 'payload.source.chunk'],
      ['a resubmission without its poll time', { source: { kind: 'resubmit' }, serialNumbers: [SECRET] }, 'payload.source.pollAt'],
      ['no serials', { source: { kind: 'sweeper', note: SECRET } }, 'payload.serialNumbers'],
      ['serials as text', { source: { kind: 'sweeper' }, serialNumbers: SECRET }, 'payload.serialNumbers'],
      ['an empty list of serials', { source: { kind: 'file', batchId: SECRET, chunk: 0 }, serialNumbers: [] }, 'payload.serialNumbers'],
      ['more than 1000 serials', { source: { kind: 'sweeper' }, serialNumbers: Array<string>(1001).fill(SECRET) }, 'payload.serialNumbers'],
      ['an empty serial', { source: { kind: 'sweeper' }, serialNumbers: [SECRET, ''] }, 'payload.serialNumbers.1'],
      [
        'a serial that is no string',
        { source: { kind: 'sweeper' }, serialNumbers: ['PF3K-0042', { token: SECRET }] },
        'payload.serialNumbers.1',
      ],
      ['unsent claims as a list', { source: { kind: 'sweeper' }, serialNumbers: ['PF3K-0042'], unsent: [SECRET] }, 'payload.unsent'],
    ],
  },
  retag: {
    queue: QUEUES.followup,
    cases: [
      ['no serial', { generation: 4, token: SECRET }, 'payload.serialNumber'],
      ['an empty serial', { serialNumber: '', generation: 4, token: SECRET }, 'payload.serialNumber'],
      ['a serial that is no string', { serialNumber: [SECRET], generation: 4 }, 'payload.serialNumber'],
      ['no generation', { serialNumber: SECRET }, 'payload.generation'],
      ['generation 0', { serialNumber: SECRET, generation: 0 }, 'payload.generation'],
      ['a negative generation', { serialNumber: SECRET, generation: -3 }, 'payload.generation'],
      ['a fractional generation', { serialNumber: SECRET, generation: 1.5 }, 'payload.generation'],
      ['a generation as text', { serialNumber: 'PF3K-0042', generation: SECRET }, 'payload.generation'],
      ['a payload that is text', SECRET, 'payload'],
      ['a payload that is a list', [SECRET], 'payload'],
    ],
  },
  reprovision: {
    queue: QUEUES.reprovision,
    cases: [
      ['no serial', { requestId: '6f1c7c0e-3a56-4a4e-9e1f-0c9d1f1d2a11', token: SECRET }, 'payload.serialNumber'],
      ['an empty serial', { serialNumber: '', requestId: '6f1c7c0e-3a56-4a4e-9e1f-0c9d1f1d2a11', token: SECRET }, 'payload.serialNumber'],
      ['no request id', { serialNumber: SECRET }, 'payload.requestId'],
      ['a request id that is no UUID', { serialNumber: 'PF3K-0042', requestId: SECRET }, 'payload.requestId'],
    ],
  },
  redrive: {
    queue: QUEUES.followup,
    cases: [
      ['no batch', { serialNumbers: [SECRET] }, 'payload.batchId'],
      ['an empty batch', { batchId: '', serialNumbers: [SECRET] }, 'payload.batchId'],
      ['serials as text', { batchId: BATCH, serialNumbers: SECRET }, 'payload.serialNumbers'],
      ['an empty list of serials', { batchId: SECRET, serialNumbers: [] }, 'payload.serialNumbers'],
      ['an empty serial', { batchId: BATCH, serialNumbers: [SECRET, ''] }, 'payload.serialNumbers.1'],
    ],
  },
  tick: {
    queue: QUEUES.followup,
    cases: [
      ['an unknown poll', { tick: SECRET, at: '2026-03-02T12:00:00.000Z', idle: 0 }, 'payload.tick'],
      ['no poll', { at: SECRET, idle: 0 }, 'payload.tick'],
      ['no run time', { tick: 'imports', idle: 0, cleanup: [SECRET] }, 'payload.at'],
      ['an empty run time', { tick: 'imports', at: '', idle: 0, cleanup: [SECRET] }, 'payload.at'],
      ['a run time that is no string', { tick: 'imports', at: { token: SECRET }, idle: 0 }, 'payload.at'],
      ['no idle count', { tick: 'autopilot', at: SECRET }, 'payload.idle'],
      ['a negative idle count', { tick: 'autopilot', at: SECRET, idle: -1 }, 'payload.idle'],
      ['an idle count as text', { tick: 'autopilot', at: '2026-03-02T12:00:00.000Z', idle: SECRET }, 'payload.idle'],
      ['clean-up as text', { tick: 'imports', at: '2026-03-02T12:00:00.000Z', idle: 0, cleanup: SECRET }, 'payload.cleanup'],
      ['an empty record id to clean up', { tick: 'imports', at: SECRET, idle: 0, cleanup: ['rec-1', ''] }, 'payload.cleanup.1'],
    ],
  },
};

describe.each(Object.entries(BAD_PAYLOADS))('parseMessage: an invalid %s payload', (kind, { queue, cases }) => {
  it.each(cases.map(([label, payload, path]) => [label, path, payload] as const))('%s names %s', (_, path, payload) => {
    const body = envelope(kind, payload);
    expect(JSON.stringify(body)).toContain(SECRET);
    const read = parseMessage(queue, body);
    expect(read).toMatchObject({ ok: false, reason: 'invalid-payload', kind, correlationId: 'corr-1' });
    if (read.ok) return;
    expect(read.description.startsWith(`${kind}: `)).toBe(true);
    expect(read.description).toContain(`${path}: `);
    expect(read.description).not.toContain(SECRET);
  });

  it.each(cases)('%s is refused the same way when it arrives as JSON text', (_, payload) => {
    const read = parseMessage(queue, JSON.stringify(envelope(kind, payload)));
    expect(read).toMatchObject({ ok: false, reason: 'invalid-payload' });
  });
});

// Past payload.unsent the path goes on with the claim's key (a serial from the body), so only the prefix is held to.
it('names a bad claim under payload.unsent, without the claim', () => {
  const body = envelope('import-chunk', {
    source: { kind: 'sweeper' },
    serialNumbers: ['PF3K-0042'],
    unsent: { 'PF3K-0042': { id: SECRET } },
  });
  const read = parseMessage(QUEUES.import, body);
  expect(read).toMatchObject({ ok: false, reason: 'invalid-payload' });
  if (read.ok) return;
  expect(read.description).toContain('payload.unsent.');
  expect(read.description).not.toContain(SECRET);
});

describe('parseMessage: valid messages', () => {
  it.each<[string, string, QueueName, unknown]>([
    ['a file chunk', 'import-chunk', QUEUES.import, VALID['import-chunk']],
    ['a sweeper chunk', 'import-chunk', QUEUES.import, { source: { kind: 'sweeper' }, serialNumbers: ['PF3K-0042', 'pf3k-0043 '] }],
    [
      'a resubmission with its claims',
      'import-chunk',
      QUEUES.import,
      { source: { kind: 'resubmit', pollAt: '2026-03-02T12:00:00.000Z' }, serialNumbers: ['PF3K-0042'], unsent: { 'PF3K-0042': 'imp-1' } },
    ],
    [
      'a full chunk',
      'import-chunk',
      QUEUES.import,
      { source: { kind: 'sweeper' }, serialNumbers: Array.from({ length: 1000 }, (_, i) => `SN-${i}`) },
    ],
    ['a re-tag', 'retag', QUEUES.followup, VALID.retag],
    ['a re-drive of a file', 'redrive', QUEUES.followup, VALID.redrive],
    ['a re-drive of some of its devices again', 'redrive', QUEUES.followup, { batchId: BATCH, serialNumbers: ['PF3K-0042'] }],
    ['a re-drive chunk', 'import-chunk', QUEUES.import, { source: { kind: 'redrive' }, serialNumbers: ['PF3K-0042'] }],
    ['a tick', 'tick', QUEUES.followup, VALID.tick],
    ['an intake run again for a stuck file', 'ingest', QUEUES.followup, VALID.ingest],
    ['an intake run again for a poisoned file', 'ingest', QUEUES.followup, { blobName: 'fabrikam/a b.csv', cause: 'poisoned' }],
    [
      'a tick with records to clean up',
      'tick',
      QUEUES.followup,
      { tick: 'autopilot', at: '2026-03-02T12:00:00.000Z', idle: 7, cleanup: ['rec-1'] },
    ],
  ])('%s (%s on %s)', (_, kind, queue, payload) => {
    const body = { ...envelope(kind, payload), attempt: 1, workId: 'w-1' };
    for (const received of [body, JSON.stringify(body)]) {
      expect(parseMessage(queue, received)).toEqual({ ok: true, message: body });
    }
  });

  // A handler gets what the schema promises and nothing a sender slipped in beside it.
  it('drops payload fields the kind does not have', () => {
    const read = parseMessage(QUEUES.followup, envelope('retag', { ...(VALID.retag as object), token: SECRET }));
    expect(read).toEqual({ ok: true, message: envelope('retag', VALID.retag) });
  });
});
