import { describe, expect, it } from 'vitest';
import { checkFileName, parseIntakePath, reportBlobName } from '../../../shared/domain/blob-layout.js';

describe('supplier file names', () => {
  it.each(['batch-7.csv', 'Lieferung 2024-05 (Teil 2).csv', 'hashes_ü_ß.CSV', 'a.b.c.csv', '%41?#&=+.csv', 'x'.repeat(255)])(
    'takes %s as it is',
    (name) => {
      expect(checkFileName(name)).toEqual({ ok: true, fileName: name });
      expect(parseIntakePath(`contoso/${name}`)).toEqual({ supplierId: 'contoso', fileName: name });
    },
  );

  it.each([
    ['', 'is empty'],
    ['x'.repeat(256), 'is longer than 255 characters'],
    ['sub/file.csv', 'path separator'],
    ['sub\\file.csv', 'path separator'],
    ['..', "contains '..'"],
    ['..csv', "contains '..'"],
    ['a..b.csv', "contains '..'"],
    ['.', 'ends with a dot'],
    ['file.csv.', 'ends with a dot'],
    ['tab\there.csv', 'control'],
    ['line\nbreak.csv', 'control'],
    ['nul\u0000.csv', 'control'],
    ['del\u007f.csv', 'control'],
    ['rtl\u202egsm.csv', 'invisible formatting'],
    ['zero\u200bwidth.csv', 'invisible formatting'],
    [' leading.csv', 'starts or ends with a space'],
    ['trailing.csv ', 'starts or ends with a space'],
  ])('refuses %j: it %s', (name, problem) => {
    const checked = checkFileName(name);
    expect(checked.ok).toBe(false);
    expect(!checked.ok && checked.problem).toContain(problem);
  });

  it('names the report after the file as uploaded', () => {
    expect(reportBlobName('contoso', 'batch-7.csv')).toBe('contoso/batch-7.csv.result.csv');
  });
});
