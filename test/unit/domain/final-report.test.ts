import { describe, expect, it } from 'vitest';
import { parseReport, settledReport, type FinalOutcome } from '../../../shared/domain/final-report.js';
import { ResultReportWriter } from '../../../shared/domain/result-report.js';

function intakeReport(): string {
  const report = new ResultReportWriter();
  report.add({ line: 2, serialNumber: 'A-1', outcome: 'accepted' });
  report.add({ line: 3, serialNumber: '=HYPERLINK("x")', outcome: 'accepted', code: 'no-tpm', message: 'Warning: no TPM, "quoted"' });
  report.add({ line: 4, serialNumber: 'B-2', outcome: 'rejected', code: 'invalid-hash', message: 'bad, really' });
  report.add({ line: 5, serialNumber: 'C-3', outcome: 'unchanged', message: 'already known' });
  return report.toString();
}

const outcomes = new Map<number, FinalOutcome>([
  [2, { state: 'failed', reasons: ['owned-by-other-tenant'], note: '-808 elsewhere' }],
  [3, { state: 'enrolled', reasons: [], note: undefined }],
]);

describe('settledReport', () => {
  it('puts each accepted device state and reason on its row, neutralised, and leaves every other row as it was', () => {
    const text = settledReport(intakeReport(), outcomes);
    const rows = parseReport(text);
    expect(rows).toEqual([
      ['Line', 'Serial Number', 'Outcome', 'Reason Code', 'Reason'],
      ['2', 'A-1', 'failed', 'owned-by-other-tenant', "'-808 elsewhere"],
      ['3', `'=HYPERLINK("x")`, 'enrolled', 'no-tpm', 'Warning: no TPM, "quoted"'],
      ['4', 'B-2', 'rejected', 'invalid-hash', 'bad, really'],
      ['5', 'C-3', 'unchanged', '', 'already known'],
    ]);
    expect(text.startsWith('\uFEFF"Line"')).toBe(true);
    expect(text).toContain(`"'=HYPERLINK(""x"")"`);
  });

  it('gives the same text when written again', () => {
    const once = settledReport(intakeReport(), outcomes);
    expect(settledReport(once, outcomes)).toBe(once);
  });

  it('gives the reason text of a known code when the device has no note', () => {
    const [, row] = parseReport(
      settledReport(intakeReport(), new Map([[2, { state: 'registered', reasons: ['already-registered'], note: undefined }]])),
    );
    expect(row?.slice(2, 4)).toEqual(['registered', 'already-registered']);
    expect(row?.[4]).toMatch(/already registered with Windows Autopilot/);
  });

  it('leaves a whole-file verdict alone', () => {
    const rejected = ResultReportWriter.fileRejected('unreadable-file', 'no header');
    expect(settledReport(rejected, outcomes)).toBe(rejected);
  });
});
