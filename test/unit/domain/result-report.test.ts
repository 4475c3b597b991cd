import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  REPORT_HEADER,
  ResultReportWriter,
  reportCell,
  reportChunks,
  reportLine,
  reportRowFromValidatedRow,
  reportRowForFileRejection,
} from '../../../shared/domain/result-report.js';
import type { ReportRow } from '../../../shared/domain/result-report.js';

function readBack(text: string): string[][] {
  expect(text.startsWith('\uFEFF')).toBe(true);
  return parse(text.slice(1), { relax_column_count: false });
}

describe('result report', () => {
  it('starts with a UTF-8 BOM and the header, ends lines with CRLF, quotes every cell', () => {
    const writer = new ResultReportWriter();
    writer.add({ line: 2, serialNumber: 'PF4ABC12', outcome: 'accepted' });
    writer.add({ line: 3, serialNumber: 'SN,"2"', outcome: 'rejected', code: 'invalid-serial', message: 'Bad, really "bad".' });
    const text = writer.toString();
    expect(Buffer.from(text, 'utf8').subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(text).toBe(
      '\uFEFF"Line","Serial Number","Outcome","Reason Code","Reason"\r\n' +
        '"2","PF4ABC12","accepted","",""\r\n' +
        '"3","SN,""2""","rejected","invalid-serial","Bad, really ""bad""."\r\n',
    );
    expect(readBack(text)).toEqual([
      ['Line', 'Serial Number', 'Outcome', 'Reason Code', 'Reason'],
      ['2', 'PF4ABC12', 'accepted', '', ''],
      ['3', 'SN,"2"', 'rejected', 'invalid-serial', 'Bad, really "bad".'],
    ]);
  });

  it.each(['=HYPERLINK("http://evil.example","x")', '+1+1', '-2+3', '@SUM(A1)', '\tcmd', '\r=1'])(
    'neutralises a cell Excel would run as a formula: %j',
    (value) => {
      const cell = reportCell(value);
      expect(cell.startsWith(`"'`)).toBe(true);
      expect(parse(cell)[0]?.[0]).toBe(`'${value}`);
    },
  );

  it('leaves ordinary values alone', () => {
    expect(reportCell('PF4-ABC')).toBe('"PF4-ABC"');
    expect(reportCell(12)).toBe('"12"');
    expect(reportCell(undefined)).toBe('""');
  });

  it('any row reads back as exactly five cells with no formula start', () => {
    const value = fc.option(fc.string({ unit: 'binary' }), { nil: undefined });
    fc.assert(
      fc.property(fc.option(fc.nat(), { nil: undefined }), value, value, value, (line, serialNumber, code, message) => {
        const cells = readBack(REPORT_HEADER + reportLine({ line, serialNumber, outcome: 'rejected', code, message }))[1] ?? [];
        expect(cells).toHaveLength(5);
        for (const cell of cells) expect(/^[=+\-@\t\r]/.test(cell)).toBe(false);
        expect(cells[1]).toBe(serialNumber === undefined ? '' : /^[=+\-@\t\r]/.test(serialNumber) ? `'${serialNumber}` : serialNumber);
      }),
    );
  });

  it('turns a validated row into a report row: first code, every message, warnings last', () => {
    expect(
      reportRowFromValidatedRow({
        line: 7,
        serialNumber: 'SN-1',
        status: 'rejected',
        errors: [
          { code: 'invalid-group-tag', message: 'Tag is bad.' },
          { code: 'invalid-user', message: 'User is bad.' },
        ],
        warnings: [{ code: 'no-tpm', message: 'No TPM.' }],
      }),
    ).toEqual({
      line: 7,
      serialNumber: 'SN-1',
      outcome: 'rejected',
      code: 'invalid-group-tag',
      message: 'Tag is bad. User is bad. Warning: No TPM.',
    });
    expect(reportRowFromValidatedRow({ line: 8, serialNumber: 'SN-2', status: 'accepted', errors: [], warnings: [] })).toEqual({
      line: 8,
      serialNumber: 'SN-2',
      outcome: 'accepted',
      code: undefined,
      message: undefined,
    });
  });

  it('writes a complete report for a file rejected as a whole', () => {
    const text = ResultReportWriter.fileRejected('too-many-rows', 'The file has more than 50,000 rows.', 50_002);
    expect(readBack(text)).toEqual([
      ['Line', 'Serial Number', 'Outcome', 'Reason Code', 'Reason'],
      ['50002', '', 'rejected', 'too-many-rows', 'The whole file is rejected. The file has more than 50,000 rows.'],
    ]);
    expect(reportRowForFileRejection({ code: 'unreadable-file', message: 'Empty.' }).line).toBeUndefined();
  });

  it('streams in chunks that add up to the same text', async () => {
    async function* rows(): AsyncGenerator<ReportRow> {
      for (let line = 2; line < 3000; line += 1) yield { line, serialNumber: `SN-${line}`, outcome: 'accepted' };
    }
    const chunks: Buffer[] = [];
    for await (const chunk of reportChunks(rows(), 4096)) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(5);
    const writer = new ResultReportWriter();
    for await (const row of rows()) writer.add(row);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(writer.toString());
  });
});
