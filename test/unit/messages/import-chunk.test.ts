import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMessage, QUEUES } from '../../../shared/messages/index.js';
import {
  describeSource,
  fileChunkMessage,
  IMPORT_CHUNK,
  importChunkPayloadSchema,
  importChunkQueue,
  redriveImportMessage,
  requeueMessage,
  resubmitMessage,
  type ImportChunkSource,
} from '../../../shared/messages/import-chunk.js';

/*
 * Service Bus drops a message whose id it saw within the duplicate-detection window: the ids
 * must be equal for the same work and differ for different work, and stay within the 128
 * characters Service Bus allows.
 */

const BATCH = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const OTHER_BATCH = 'ffeeddccbbaa99887766554433221100';
const POLL_AT = '2026-03-02T12:00:00.000Z';
const MAX_ID = 128;

describe('fileChunkMessage', () => {
  it('is chunk `chunk` of the file, on the import queue', () => {
    const message = fileChunkMessage(BATCH, 2, ['SN-1', 'SN-2'], 'corr-1');
    expect(message).toEqual({
      kind: IMPORT_CHUNK,
      correlationId: 'corr-1',
      messageId: `import:${BATCH}:2`,
      payload: { source: { kind: 'file', batchId: BATCH, chunk: 2 }, serialNumbers: ['SN-1', 'SN-2'] },
    });
    expect(importChunkQueue).toBe('ztp-import');
    expect(importChunkPayloadSchema.safeParse(message.payload).success).toBe(true);
  });

  // A re-run of the intake or a redelivered trigger must queue the same ids.
  it.each([
    ['another correlation id', [BATCH, 0, ['SN-1'], 'corr-2']],
    ['serials spelt otherwise', [BATCH, 0, ['sn-1 '], 'corr-1']],
  ] as const)('keeps its id with %s', (_, [batchId, chunk, serials, correlationId]) => {
    expect(fileChunkMessage(batchId, chunk, serials, correlationId).messageId).toBe(
      fileChunkMessage(BATCH, 0, ['SN-1'], 'corr-1').messageId,
    );
  });

  it.each([
    ['the next chunk', [BATCH, 0], [BATCH, 1]],
    ['the same chunk of another file', [BATCH, 0], [OTHER_BATCH, 0]],
    ['chunks 1 and 10', [BATCH, 1], [BATCH, 10]],
  ] as const)('tells %s apart', (_, [batchA, chunkA], [batchB, chunkB]) => {
    expect(fileChunkMessage(batchA, chunkA, ['SN-1'], 'c').messageId).not.toBe(fileChunkMessage(batchB, chunkB, ['SN-1'], 'c').messageId);
  });

  it('stays within the id limit for the largest chunk number', () => {
    expect(fileChunkMessage(BATCH, Number.MAX_SAFE_INTEGER, ['SN-1'], 'c').messageId.length).toBeLessThanOrEqual(MAX_ID);
  });

  it('copies the serials rather than holding on to the caller’s array', () => {
    const serials = ['SN-1'];
    const message = fileChunkMessage(BATCH, 0, serials, 'c');
    serials.push('SN-2');
    expect(message.payload.serialNumbers).toEqual(['SN-1']);
  });
});

describe('requeueMessage', () => {
  const devices = [
    { serialNumber: 'SN-1', generation: 1 },
    { serialNumber: 'SN-2', generation: 3 },
    { serialNumber: 'SN-3', generation: 1 },
  ];
  const id = requeueMessage(devices, 'corr-1').messageId;

  // Overlapping sweeper runs find the same devices in whatever order the table returns them.
  it.each([
    ['reversed', [devices[2]!, devices[1]!, devices[0]!]],
    ['rotated', [devices[1]!, devices[2]!, devices[0]!]],
    ['spelt in lower case', devices.map((d) => ({ ...d, serialNumber: d.serialNumber.toLowerCase() }))],
    ['padded with spaces', devices.map((d) => ({ ...d, serialNumber: ` ${d.serialNumber}  ` }))],
  ])('has the same id with the devices %s', (_, same) => {
    expect(requeueMessage(same, 'corr-2').messageId).toBe(id);
  });

  // A device started over (new generation) is new work, even within the window.
  it.each([
    ['one generation bumped', devices.map((d, i) => (i === 1 ? { ...d, generation: 4 } : d))],
    ['a device fewer', devices.slice(0, 2)],
    ['a device more', [...devices, { serialNumber: 'SN-4', generation: 1 }]],
    ['another device', [devices[0]!, devices[1]!, { serialNumber: 'SN-9', generation: 1 }]],
    ['generations swapped between devices', [{ ...devices[0]!, generation: 3 }, { ...devices[1]!, generation: 1 }, devices[2]!]],
  ])('has another id with %s', (_, other) => {
    expect(requeueMessage(other, 'corr-1').messageId).not.toBe(id);
  });

  it('keeps the serials as given and says it comes from the sweeper', () => {
    const message = requeueMessage([{ serialNumber: 'sn-2 ', generation: 2 }, devices[0]!], 'corr-1');
    expect(message.kind).toBe(IMPORT_CHUNK);
    expect(message.payload).toEqual({ source: { kind: 'sweeper' }, serialNumbers: ['sn-2 ', 'SN-1'] });
    expect(importChunkPayloadSchema.safeParse(message.payload).success).toBe(true);
  });

  it.each([
    ['one short serial', [{ serialNumber: 'A', generation: 1 }]],
    [
      'a full chunk of the longest serials',
      Array.from({ length: 1000 }, (_, i) => ({ serialNumber: `${i}`.padEnd(128, 'X'), generation: 9_999 })),
    ],
  ])('stays within the id limit for %s', (_, some) => {
    expect(requeueMessage(some, 'c').messageId.length).toBeLessThanOrEqual(MAX_ID);
  });

  it('does not depend on order, for any devices', () => {
    const device = fc.record({ serialNumber: fc.string({ minLength: 1, maxLength: 20 }), generation: fc.integer({ min: 1, max: 50 }) });
    fc.assert(
      fc.property(fc.array(device, { minLength: 1, maxLength: 30 }), fc.func(fc.integer()), (some, rank) => {
        const shuffled = [...some].sort((a, b) => rank(a.serialNumber, a.generation) - rank(b.serialNumber, b.generation));
        expect(requeueMessage(shuffled, 'c').messageId).toBe(requeueMessage(some, 'c').messageId);
      }),
    );
  });
});

describe('resubmitMessage', () => {
  it('names the poll run and the first device’s index, and carries the claims Autopilot has no record of', () => {
    expect(resubmitMessage(POLL_AT, 100, { 'SN-1': 'ztp-1' }, 'corr-1')).toEqual({
      kind: IMPORT_CHUNK,
      correlationId: 'corr-1',
      messageId: `resubmit:${POLL_AT}:100`,
      payload: { source: { kind: 'resubmit', pollAt: POLL_AT }, serialNumbers: ['SN-1'], unsent: { 'SN-1': 'ztp-1' } },
    });
  });

  // A redelivered poll run sends the same ids; another run, or another slice, does not.
  it.each([
    ['the same run and start', POLL_AT, 0, true],
    ['the next run', '2026-03-02T12:05:00.000Z', 0, false],
    ['the next slice of the run', POLL_AT, 100, false],
  ] as const)('%s: same id $3', (_, pollAt, start, same) => {
    const a = resubmitMessage(POLL_AT, 0, { 'SN-1': 'ztp-1' }, 'corr-1').messageId;
    const b = resubmitMessage(pollAt, start, { 'SN-2': 'ztp-2' }, 'corr-2').messageId;
    expect(a === b).toBe(same);
  });

  it('stays within the id limit', () => {
    expect(resubmitMessage(POLL_AT, 999_999, { 'SN-1': 'ztp-1' }, 'c').messageId.length).toBeLessThanOrEqual(MAX_ID);
  });
});

describe('redriveImportMessage', () => {
  it('carries the devices a re-drive sent back to received, on the import queue', () => {
    const message = redriveImportMessage(
      [
        { serialNumber: 'SN-1', sequence: 4 },
        { serialNumber: 'SN-2', sequence: 7 },
      ],
      'corr-1',
    );
    expect(message).toMatchObject({
      kind: IMPORT_CHUNK,
      correlationId: 'corr-1',
      messageId: expect.stringMatching(/^redrive:[0-9a-f]{40}$/),
      payload: { source: { kind: 'redrive' }, serialNumbers: ['SN-1', 'SN-2'] },
    });
    expect(importChunkPayloadSchema.safeParse(message.payload).success).toBe(true);
  });

  // A retry of the same re-drive sends the same id; a later re-drive of the same device a new one.
  it.each([
    [
      'the same devices and transitions, in another order and spelling',
      [
        { serialNumber: ' sn-2', sequence: 7 },
        { serialNumber: 'SN-1', sequence: 4 },
      ],
      true,
    ],
    [
      'a later re-drive of the same device',
      [
        { serialNumber: 'SN-1', sequence: 9 },
        { serialNumber: 'SN-2', sequence: 7 },
      ],
      false,
    ],
    ['another device', [{ serialNumber: 'SN-1', sequence: 4 }], false],
  ] as const)('%s: same id $2', (_, devices, same) => {
    const a = redriveImportMessage(
      [
        { serialNumber: 'SN-1', sequence: 4 },
        { serialNumber: 'SN-2', sequence: 7 },
      ],
      'corr-1',
    ).messageId;
    expect(a === redriveImportMessage(devices, 'corr-2').messageId).toBe(same);
  });

  it('stays within the id limit', () => {
    const many = Array.from({ length: 1000 }, (_, i) => ({ serialNumber: `SN-${'X'.repeat(120)}-${i}`, sequence: i }));
    expect(redriveImportMessage(many, 'c').messageId.length).toBeLessThanOrEqual(MAX_ID);
  });
});

describe('describeSource', () => {
  it.each<[ImportChunkSource, Record<string, string | number>]>([
    [
      { kind: 'file', batchId: BATCH, chunk: 3 },
      { source: 'file', batchId: BATCH, chunk: 3 },
    ],
    [{ kind: 'sweeper' }, { source: 'sweeper' }],
    [{ kind: 'redrive' }, { source: 'redrive' }],
    // The poll time identifies the run, not where the chunk came from.
    [
      { kind: 'resubmit', pollAt: POLL_AT },
      { source: 'resubmit', pollAt: POLL_AT },
    ],
  ])('%j is logged as %j', (source, fields) => {
    expect(describeSource(source)).toEqual(fields);
  });
});

describe('chunks queued before payloads named their source', () => {
  // Work in flight across an upgrade must still be read, not set aside as poison.
  it.each([
    ['a file chunk', { batchId: 'b'.repeat(32), chunk: 3 }, { kind: 'file', batchId: 'b'.repeat(32), chunk: 3 }],
    ['a sweeper re-queue', { batchId: 'sweeper', chunk: 0 }, { kind: 'sweeper' }],
    ['a resubmission', { batchId: 'resubmit', chunk: 100 }, { kind: 'resubmit', pollAt: 'unknown' }],
  ] as const)('reads %s as its source', (_, earlier, source) => {
    const parsed = parseMessage(QUEUES.import, {
      kind: 'import-chunk',
      correlationId: 'corr',
      payload: { ...earlier, serialNumbers: ['PF3K-0042'], claims: { 'PF3K-0042': 'ztp-1' } },
    });
    // Claims of that time may have reached Autopilot: dropped, for the import poll to reconcile.
    expect(parsed).toMatchObject({ ok: true, message: { payload: { source, serialNumbers: ['PF3K-0042'] } } });
    expect(parsed.ok && parsed.message.payload).not.toHaveProperty('claims');
    expect(parsed.ok && parsed.message.payload).not.toHaveProperty('unsent');
  });

  it('still refuses an earlier-shaped chunk without serials', () => {
    expect(parseMessage(QUEUES.import, { kind: 'import-chunk', correlationId: 'c', payload: { batchId: 'b', chunk: 0 } })).toMatchObject({
      ok: false,
      reason: 'invalid-payload',
    });
  });
});
