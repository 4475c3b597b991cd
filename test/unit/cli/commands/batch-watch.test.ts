import { describe, expect, it } from 'vitest';
import {
  devicesPerMinute,
  progressBar,
  REDRAW,
  watchBatch,
  watchFrame,
  watchLine,
  type WatchOptions,
} from '../../../../cli/commands/batch-watch.js';
import type { BatchRecord } from '../../../../shared/domain/batch.js';
import type { BatchSummary } from '../../../../shared/services/status.js';

const at = new Date('2026-03-02T09:00:00.000Z');

const batch: BatchRecord = {
  batchId: '0123456789abcdef0123456789abcdef',
  supplierId: 'contoso',
  fileName: 'wave-1.csv',
  blobName: 'contoso/wave-1.csv',
  contentSha256: 'x',
  sizeBytes: 100,
  status: 'complete',
  receivedAt: at.toISOString(),
  completedAt: at.toISOString(),
  format: undefined,
  encoding: undefined,
  fileRejection: undefined,
  counts: {},
  reportBlob: 'contoso/wave-1.csv.result.csv',
  correlationId: 'c',
};

function summary(byState: BatchSummary['devices']['byState'], fields: Partial<BatchSummary> = {}): BatchSummary {
  const total = Object.values(byState).reduce((sum, count) => sum + (count ?? 0), 0);
  return { batch, devices: { total, byState }, waitingFor: {}, moved: 0, rejects: [], ...fields };
}

describe('ztp batch --watch: drawing', () => {
  it('draws a bar of the devices with an outcome', () => {
    expect(progressBar(0, 4, 8)).toBe('[........] 0/4 (0%)');
    expect(progressBar(3, 4, 8)).toBe('[######..] 3/4 (75%)');
    expect(progressBar(0, 0, 4)).toBe('[####] 0/0 (100%)');
  });

  it('measures devices per minute over the last minute', () => {
    expect(devicesPerMinute([])).toBeUndefined();
    expect(devicesPerMinute([{ at: 0, done: 0 }])).toBeUndefined();
    expect(
      devicesPerMinute([
        { at: 0, done: 0 },
        { at: 30_000, done: 5 },
      ]),
    ).toBe(10);
    // Older samples than a minute do not count.
    expect(
      devicesPerMinute([
        { at: 0, done: 0 },
        { at: 60_000, done: 50 },
        { at: 120_000, done: 56 },
      ]),
    ).toBe(6);
  });

  it('shows counts per state, the bar, the rate, what devices wait for and the stalled and failed ones', () => {
    const frame = watchFrame(
      summary(
        { received: 1, importing: 1, registered: 1, failed: 1, stalled: 1 },
        {
          waitingFor: { import: 1, 'profile-assignment': 1 },
          rejects: [
            { serialNumber: 'S-4', line: 5, state: 'failed', reasons: ['owned-by-other-tenant'], note: 'another tenant' },
            { serialNumber: 'S-5', line: 6, state: 'stalled', reasons: [], note: 'no profile after 2 h' },
            { serialNumber: '', line: 7, state: 'rejected', reasons: ['missing-serial'], note: undefined },
          ],
        },
      ),
      4.25,
      at,
    );
    expect(frame).toEqual([
      'Batch 0123456789abcdef0123456789abcdef (contoso/wave-1.csv): complete',
      '  [##################............] 3/5 (60%) with an outcome',
      '  states:      received 1, importing 1, registered 1, failed 1, stalled 1',
      '  rate:        4.3 devices/min',
      '  waiting for: import 1, profile-assignment 1',
      'Stalled, failed or rejected (3):',
      '  line 5  S-4  failed  owned-by-other-tenant - another tenant',
      '  line 6  S-5  stalled  no profile after 2 h',
      '  line 7  (no serial)  rejected  missing-serial',
      'Updated 2026-03-02T09:00:00.000Z; Ctrl-C to stop.',
    ]);
  });

  it('says when the file is settled, and lists at most ten problems', () => {
    const rejects = Array.from({ length: 12 }, (_, i) => ({
      serialNumber: `F-${i}`,
      line: i + 2,
      state: 'failed' as const,
      reasons: ['autopilot-rejected-hash'],
      note: undefined,
    }));
    const frame = watchFrame(
      summary({ failed: 12 }, { batch: { ...batch, status: 'settled', settledAt: at.toISOString() }, rejects }),
      0,
      at,
    );
    expect(frame[0]).toBe(`Batch ${batch.batchId} (contoso/wave-1.csv): settled at 2026-03-02T09:00:00.000Z`);
    expect(frame).toContain(`  ... and 2 more (ztp batch ${batch.batchId})`);
    expect(frame.at(-1)).toBe("Settled: the report contoso/wave-1.csv.result.csv shows each device's outcome.");
  });

  it('shows stored text with its control characters visible', () => {
    const frame = watchFrame(summary({}, { batch: { ...batch, fileName: 'evil\u001b[2J.csv' } }), undefined, at);
    expect(frame[0]).toContain('evil\\x1b[2J.csv');
  });

  it('writes one plain line for a pipe', () => {
    expect(watchLine(summary({ received: 2, enrolled: 2 }, { waitingFor: { import: 2 } }), undefined, at)).toBe(
      '2026-03-02T09:00:00.000Z  complete  2/4 with an outcome  received 2, enrolled 2  -  waiting for import 2',
    );
  });
});

describe('ztp batch --watch: the loop', () => {
  function options(fields: Partial<WatchOptions> & { out: string[] }): WatchOptions {
    let clock = at.getTime();
    return {
      intervalMs: 3000,
      tty: false,
      now: () => new Date(clock),
      sleep: async (ms) => void (clock += ms),
      signal: new AbortController().signal,
      write: (text) => fields.out.push(text),
      ...fields,
    };
  }

  it('appends a line only when something changed, and ends once the file is settled', async () => {
    const reads = [
      summary({ received: 2 }),
      summary({ received: 2 }),
      summary({ received: 1, registered: 1 }),
      summary({ registered: 2 }, { batch: { ...batch, status: 'settled' } }),
    ];
    const out: string[] = [];
    expect(await watchBatch(async () => reads.shift(), options({ out }))).toBe('settled');
    expect(out.map((line) => line.split('  ').slice(1, 4).join('  '))).toEqual([
      'complete  0/2 with an outcome  received 2',
      'complete  1/2 with an outcome  received 1, registered 1',
      'settled  2/2 with an outcome  registered 2',
    ]);
    expect(out.join('')).not.toContain('\x1b');
  });

  it('redraws the screen on a terminal, and stops when interrupted', async () => {
    const stop = new AbortController();
    const out: string[] = [];
    const end = await watchBatch(
      async () => summary({ importing: 1 }),
      options({ out, tty: true, signal: stop.signal, sleep: async () => stop.abort() }),
    );
    expect(end).toBe('interrupted');
    expect(out).toHaveLength(1);
    expect(out[0]?.startsWith(REDRAW)).toBe(true);
  });
});
