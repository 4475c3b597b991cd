import { describe, expect, it } from 'vitest';
import { encodeHardwareHashBase64 } from '../../../../shared/domain/hardware-hash.js';
import { collectHashFile, encodeText, validateHashFile } from '../../../../shared/domain/hash-file/index.js';
import type { HashFileEncoding, HashFileOptions, ValidatedRow } from '../../../../shared/domain/hash-file/index.js';
import type { SupplierPolicy } from '../../../../shared/domain/suppliers.js';
import { formatCsvLine, sampleHashFile, sampleHashFileBytes, sampleHashFileChunks } from '../../../../local/sample-data.js';

const LIMITS = { maxBytes: 10 * 1024 * 1024, maxRows: 1000 };
const INTUNE_HEADER = 'Device Serial Number,Windows Product ID,Hardware Hash';
const CONTOSO: SupplierPolicy = {
  id: 'contoso',
  name: 'Contoso Ltd',
  allowedGroupTags: ['MPS-STD', 'MPS-KIOSK'],
  defaultGroupTag: 'MPS-STD',
};

function hashFor(serialNumber: string, extra: { manufacturer?: string; model?: string; tpm?: boolean } = {}): string {
  return encodeHardwareHashBase64({
    serialNumber,
    manufacturer: extra.manufacturer ?? 'Dell Inc.',
    model: extra.model ?? 'Latitude 7440',
    ...(extra.tpm === false ? {} : { tpmVersion: '2.0' }),
    targetBytes: 3000,
  });
}

/** Feeds the bytes in chunks of `chunkSize` (1 = byte by byte, to cross every boundary). */
async function* chunks(bytes: Uint8Array, chunkSize: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
}

async function validate(content: string | Uint8Array, options: Partial<HashFileOptions> = {}, chunkSize = 64 * 1024) {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  return collectHashFile(chunks(bytes, chunkSize), { ...LIMITS, ...options });
}

function summary(rows: readonly ValidatedRow[]): [number, string | undefined, string, string[]][] {
  return rows.map((row) => [row.line, row.serialNumber, row.status, row.errors.map((error) => error.code)]);
}

describe('real-world shaped files', () => {
  it('reads UTF-16 LE with BOM and CRLF as Windows PowerShell 5.1 Out-File writes it', async () => {
    const text = [
      'Device Serial Number,Windows Product ID,Hardware Hash,Group Tag',
      `PF4ABC12,,${hashFor('PF4ABC12')},MPS-STD`,
      `5CG3281KXZ,3302158412345,${hashFor('5CG3281KXZ')},`,
      '',
    ].join('\r\n');
    const bytes = encodeText(text, 'utf-16le');
    expect([...bytes.subarray(0, 4)]).toEqual([0xff, 0xfe, 0x44, 0x00]);
    const { rows, outcome } = await validate(bytes, { supplier: CONTOSO });
    expect(outcome).toMatchObject({ format: 'intune', encoding: 'utf-16le', counts: { total: 2, accepted: 2, rejected: 0 } });
    expect(outcome.rejected).toBeUndefined();
    expect(rows.map((row) => [row.line, row.device?.serialNumber, row.device?.groupTag, row.device?.productKey])).toEqual([
      [2, 'PF4ABC12', 'MPS-STD', undefined],
      [3, '5CG3281KXZ', 'MPS-STD', '3302158412345'],
    ]);
    expect(rows[0]?.device).toMatchObject({ manufacturer: 'Dell Inc.', model: 'Latitude 7440', tpmVersion: '2.0', hashSerial: 'PF4ABC12' });
  });

  it('reads Export-Csv output: #TYPE line first, every field quoted; line numbers count the #TYPE line', async () => {
    const { bytes, rows: expected } = sampleHashFileBytes({ rows: 4, seed: 11, typeLine: true, quoting: 'all', columns: 5 }, 'utf-16le');
    const { rows, outcome } = await validate(bytes);
    expect(outcome.rejected).toBeUndefined();
    expect(outcome.counts).toEqual({ total: 4, accepted: 4, rejected: 0 });
    expect(rows.map((row) => row.line)).toEqual([3, 4, 5, 6]);
    expect(rows.map((row) => row.device?.serialNumber)).toEqual(expected.map((row) => row.device.serialNumber));
    expect(rows.map((row) => row.device?.assignedUser)).toEqual(expected.map((row) => row.device.assignedUser));
  });

  it('reads the OEM five-column format and reports it', async () => {
    const { bytes } = sampleHashFileBytes({ rows: 3, seed: 5, format: 'oem' }, 'utf-8');
    const { rows, outcome } = await validate(bytes);
    expect(outcome).toMatchObject({ format: 'oem', encoding: 'utf-8', counts: { total: 3, accepted: 3 } });
    expect(rows.every((row) => row.device?.groupTag === undefined && row.device?.manufacturer !== undefined)).toBe(true);
  });

  it('copes with Excel damage: spaces, trailing empty columns, blank and comma-only lines; rejects lost serials', async () => {
    const text = [
      ' device serial number , WINDOWS PRODUCT ID ,hardware hash,Group Tag,,,',
      `  PF4ABC12 ,,${hashFor('PF4ABC12')}  ,MPS-STD,,,`,
      ',,,,,,',
      '',
      `1.23457E+11,3.30216E+12,${hashFor('123456789012')},,,,`,
      `PC0XYZ99,,${hashFor('PC0XYZ99')},,,,`,
      '   ',
    ].join('\n');
    const { rows, outcome } = await validate(text);
    expect(outcome.rejected).toBeUndefined();
    expect(summary(rows)).toEqual([
      [2, 'PF4ABC12', 'accepted', []],
      [5, '1.23457E+11', 'rejected', ['invalid-serial', 'invalid-product-key']],
      [6, 'PC0XYZ99', 'accepted', []],
    ]);
    expect(rows[1]?.errors[0]?.message).toMatch(/scientific notation/);
  });

  it("skips Excel's sep=, line before the header and counts it as a line", async () => {
    const { rows, outcome } = await validate(`sep=,\r\n${INTUNE_HEADER}\r\nPF4ABC12,,${hashFor('PF4ABC12')}\r\n`);
    expect(outcome.rejected).toBeUndefined();
    expect(summary(rows)).toEqual([[3, 'PF4ABC12', 'accepted', []]]);
  });

  it('rejects a row whose hash was captured on another device', async () => {
    const text = `${INTUNE_HEADER}\nPF4ABC12,,${hashFor('PF4ZZZ99')}\npf4abc13,,${hashFor('PF4ABC13')}\n`;
    const { rows } = await validate(text);
    expect(summary(rows)).toEqual([
      [2, 'PF4ABC12', 'rejected', ['hash-serial-mismatch']],
      [3, 'pf4abc13', 'accepted', []], // serials compare without regard to case
    ]);
    expect(rows[0]?.errors[0]?.message).toContain('PF4ZZZ99');
  });

  it('keeps the first of duplicate serials (case-insensitive), even when that first row is rejected', async () => {
    const text = [
      INTUNE_HEADER,
      `PF4ABC12,,${hashFor('PF4ABC12')}`,
      `pf4abc12,,${hashFor('PF4ABC12')}`,
      `MJ0AAA01,,not-a-hash`,
      `MJ0AAA01,,${hashFor('MJ0AAA01')}`,
    ].join('\r\n');
    const { rows, outcome } = await validate(text);
    expect(summary(rows)).toEqual([
      [2, 'PF4ABC12', 'accepted', []],
      [3, 'pf4abc12', 'rejected', ['duplicate-in-file']],
      [4, 'MJ0AAA01', 'rejected', ['invalid-hash']],
      [5, 'MJ0AAA01', 'rejected', ['duplicate-in-file']],
    ]);
    expect(outcome.counts).toEqual({ total: 4, accepted: 1, rejected: 3 });
  });

  it('reports every row problem, and the row line where a quoted field spans lines', async () => {
    const text = [
      'Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User',
      `"SN-1","ok-key","${hashFor('SN-1')}","Tag/Bad","nobody"`,
      `"SN""2",,"${hashFor('SN"2')}",,`,
      `"SN-3","multi`,
      `line",${hashFor('SN-3')},,`,
      `SN-4,,,,user@contoso.example.com,extra`,
      `,,${hashFor('SN-5')},,`,
    ].join('\r\n');
    const { rows } = await validate(text);
    expect(summary(rows)).toEqual([
      [2, 'SN-1', 'rejected', ['invalid-group-tag', 'invalid-user']],
      [3, 'SN"2', 'rejected', ['invalid-serial']],
      [4, 'SN-3', 'rejected', ['invalid-product-key']],
      [6, 'SN-4', 'rejected', ['too-many-columns', 'missing-hash']],
      [7, undefined, 'rejected', ['missing-serial']],
    ]);
  });

  it('warns about virtual machines and hashes without a TPM, but accepts them', async () => {
    const text = [
      INTUNE_HEADER,
      `VM-0001,,${hashFor('VM-0001', { manufacturer: 'Microsoft Corporation', model: 'Virtual Machine' })}`,
      `NOTPM01,,${hashFor('NOTPM01', { tpm: false })}`,
    ].join('\n');
    const { rows } = await validate(text);
    expect(rows.map((row) => [row.status, row.warnings.map((warning) => warning.code)])).toEqual([
      ['accepted', ['virtual-machine']],
      ['accepted', ['no-tpm']],
    ]);
  });

  it('bounds every value it stores: a hash too long for storage is rejected, an overlong model is dropped with a warning', async () => {
    const long = encodeHardwareHashBase64({
      serialNumber: 'BIG-0001',
      manufacturer: 'Dell Inc.',
      model: 'Latitude',
      tpmVersion: '2.0',
      targetBytes: 20_000,
    });
    expect(long.length).toBeGreaterThan(16 * 1024);
    const text = [
      `${INTUNE_HEADER},Manufacturer name,Device model`,
      `BIG-0001,,${long},,`,
      `OEM-0001,,${hashFor('OEM-0001', { model: 'L'.repeat(300) })},,`,
      `OEM-0002,,${hashFor('OEM-0002')},Dell Inc.,${'M'.repeat(257)}`,
    ].join('\n');
    const { rows } = await validate(text);
    expect(rows.map((row) => [row.serialNumber, row.status, row.errors.map((e) => e.code), row.warnings.map((w) => w.code)])).toEqual([
      ['BIG-0001', 'rejected', ['invalid-hash'], []],
      ['OEM-0001', 'accepted', [], ['value-dropped']],
      ['OEM-0002', 'accepted', [], []],
    ]);
    expect(rows[0]!.errors[0]!.message).toContain(`at most ${16 * 1024}`);
    expect(rows[1]!.device).toMatchObject({ manufacturer: 'Dell Inc.' });
    expect(rows[1]!.device?.model).toBeUndefined();
  });

  it('gives the same rows whatever the chunking, down to one byte at a time', async () => {
    const { bytes } = sampleHashFileBytes(
      { rows: 6, seed: 2, quoting: 'all', bad: { 'invalid-hash': 1, 'duplicate-in-file': 1 } },
      'utf-16be',
    );
    const whole = await validate(bytes, {}, bytes.length);
    for (const size of [1, 3, 4093]) {
      const chunked = await validate(bytes, {}, size);
      expect(chunked.rows).toEqual(whole.rows);
      expect(chunked.outcome).toEqual(whole.outcome);
    }
    expect(whole.outcome.encoding).toBe('utf-16be');
  });
});

describe('encodings', () => {
  const text = `${INTUNE_HEADER},Group Tag\r\nPF4ABC12,,${hashFor('PF4ABC12')},Équipe-Paris\r\n`;

  it.each<HashFileEncoding>(['utf-8', 'utf-8-bom', 'utf-16le', 'utf-16be', 'windows-1252'])(
    'detects %s and decodes accents',
    async (encoding) => {
      const { rows, outcome } = await validate(encodeText(text, encoding));
      expect(outcome.encoding).toBe(encoding);
      expect(rows[0]?.device?.groupTag).toBe('Équipe-Paris');
    },
  );

  it('reads UTF-16 without a BOM when the NUL pattern is unmistakable', async () => {
    const { outcome, rows } = await validate(Buffer.from(text, 'utf16le'));
    expect(outcome.encoding).toBe('utf-16le');
    expect(rows[0]?.status).toBe('accepted');
  });

  it('decides Windows-1252 at the first non-ASCII byte, however late it comes', async () => {
    const file = sampleHashFile({ rows: 40, seed: 9, columns: 4, groupTags: [] });
    const late = `${file.text}MJ0LATE1,,${hashFor('MJ0LATE1')},Zürich\r\n`;
    const { rows, outcome } = await validate(encodeText(late, 'windows-1252'), {}, 1000);
    expect(outcome.encoding).toBe('windows-1252');
    expect(rows.at(-1)?.device?.groupTag).toBe('Zürich');
  });

  it('turns bytes that are invalid after a UTF-8 start into a rejected field, not a crash', async () => {
    const start = Buffer.from(`${INTUNE_HEADER},Group Tag\nPF4ABC12,,${hashFor('PF4ABC12')},Zürich\n`, 'utf8');
    const rest = Buffer.concat([Buffer.from('PF4ABC1'), Buffer.from([0xe9]), Buffer.from(`,,${hashFor('PF4ABC1é')},\n`, 'utf8')]);
    // The verdict is taken on the chunk holding the first non-ASCII byte; the bad byte comes in the next one.
    const { rows, outcome } = await validate(Buffer.concat([start, rest]), {}, start.length);
    expect(outcome.encoding).toBe('utf-8');
    expect(summary(rows).map((row) => row[3])).toEqual([[], ['invalid-serial']]);
  });
});

describe('supplier policy', () => {
  const text = [
    `${INTUNE_HEADER},Group Tag`,
    `SN-1,,${hashFor('SN-1')},`,
    `SN-2,,${hashFor('SN-2')},mps-kiosk`,
    `SN-3,,${hashFor('SN-3')},OTHER-TAG`,
  ].join('\n');

  it('applies the default tag, spells allowed tags as the policy does, rejects others', async () => {
    const { rows } = await validate(text, { supplier: CONTOSO });
    expect(rows.map((row) => [row.status, row.device?.groupTag, row.errors.map((error) => error.code)])).toEqual([
      ['accepted', 'MPS-STD', []],
      ['accepted', 'MPS-KIOSK', []],
      ['rejected', undefined, ['group-tag-not-allowed']],
    ]);
  });

  it('checks nothing about tags without a policy', async () => {
    const { rows } = await validate(text);
    expect(rows.map((row) => row.device?.groupTag)).toEqual([undefined, 'mps-kiosk', 'OTHER-TAG']);
  });
});

describe('whole-file rejections', () => {
  it('rejects too many rows after yielding the rows it allowed, and stops reading', async () => {
    let pulled = 0;
    const { bytes } = sampleHashFileBytes({ rows: 50, seed: 4 });
    async function* counted(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < bytes.length; i += 4096) {
        pulled += 1;
        yield bytes.subarray(i, i + 4096);
      }
    }
    const validation = validateHashFile(counted(), { ...LIMITS, maxRows: 10 });
    const lines: number[] = [];
    for await (const row of validation.rows) lines.push(row.line);
    const outcome = await validation.outcome;
    expect(lines).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(outcome.rejected).toMatchObject({ code: 'too-many-rows', line: 12 });
    expect(pulled).toBeLessThan(Math.ceil(bytes.length / 4096));
  });

  it('accepts exactly maxRows rows', async () => {
    const { bytes } = sampleHashFileBytes({ rows: 10, seed: 4 });
    const { outcome } = await validate(bytes, { maxRows: 10 });
    expect(outcome.rejected).toBeUndefined();
  });

  it('rejects a file beyond maxBytes', async () => {
    const { bytes } = sampleHashFileBytes({ rows: 20, seed: 4 });
    const { outcome } = await validate(bytes, { maxBytes: bytes.length - 1 }, 8192);
    expect(outcome.rejected?.code).toBe('file-too-large');
    expect(outcome.bytesRead).toBeLessThanOrEqual(bytes.length);
    const exact = await validate(bytes, { maxBytes: bytes.length }, 8192);
    expect(exact.outcome.rejected).toBeUndefined();
  });

  it('rejects unknown header columns as a whole (too-many-columns) and names them', async () => {
    const { rows, outcome } = await validate(`${INTUNE_HEADER},Order Number\nSN-1,,${hashFor('SN-1')},PO-1\n`);
    expect(rows).toEqual([]);
    expect(outcome.rejected).toMatchObject({ code: 'too-many-columns', line: 1 });
    expect(outcome.rejected?.message).toContain('"Order Number"');
  });

  it.each([
    ['an empty file', '', /empty/],
    ['only blank lines', '\r\n\r\n  \r\n', /no header/],
    ['a file without a header', `SN-1,,${hashFor('SN-1')}\n`, /not a hash-file header/],
    ['a header lacking the hash column', 'Device Serial Number,Windows Product ID\nSN-1,\n', /"Hardware Hash"/],
    ['a semicolon-separated export', 'Device Serial Number;Windows Product ID;Hardware Hash\n', /';'/],
    ['a duplicated column', 'Device Serial Number,Hardware Hash,hardware hash\n', /twice/],
    ['a quote that is never closed', `${INTUNE_HEADER}\n"SN-1,,${hashFor('SN-1')}\nSN-2,,x\n`, /line 2 is never closed/],
  ])('rejects %s as unreadable-file', async (_name, text, message) => {
    const { outcome } = await validate(text);
    expect(outcome.rejected?.code).toBe('unreadable-file');
    expect(outcome.rejected?.message).toMatch(message);
  });

  it('tells a supplier who sent an Excel workbook what to do', async () => {
    const workbook = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00]), Buffer.alloc(3000, 7)]);
    const { outcome } = await validate(workbook);
    expect(outcome.rejected).toMatchObject({ code: 'unreadable-file' });
    expect(outcome.rejected?.message).toMatch(/Excel workbook/);
  });

  it('rejects binary garbage without newlines in bounded memory', async () => {
    const garbage = Buffer.alloc(3 * 1024 * 1024, 0x41);
    const { outcome } = await validate(garbage);
    expect(outcome.rejected?.code).toBe('unreadable-file');
    expect(outcome.bytesRead).toBeLessThan(garbage.length);
  });

  it('treats a header-only file as valid and empty', async () => {
    const { rows, outcome } = await validate(`${INTUNE_HEADER}\r\n`);
    expect(rows).toEqual([]);
    expect(outcome).toMatchObject({ format: 'intune', counts: { total: 0, accepted: 0, rejected: 0 } });
    expect(outcome.rejected).toBeUndefined();
  });
});

describe('sample data', () => {
  it('produces files whose injected bad rows are found exactly', async () => {
    const bad = {
      'missing-serial': 1,
      'invalid-serial': 1,
      'excel-serial': 1,
      'missing-hash': 1,
      'invalid-hash': 1,
      'truncated-hash': 1,
      'hash-serial-mismatch': 1,
      'invalid-product-key': 1,
      'invalid-group-tag': 1,
      'group-tag-not-allowed': 1,
      'invalid-user': 1,
      'duplicate-in-file': 2,
      'too-many-columns': 1,
      'virtual-machine': 1,
      'no-tpm': 1,
    } as const;
    const { bytes, rows: expected } = sampleHashFileBytes({ rows: 60, seed: 21, bad }, 'utf-16le');
    const { rows } = await validate(bytes, { supplier: CONTOSO });
    expect(rows.map((row) => [row.line, row.status, row.errors.map((e) => e.code), row.warnings.map((w) => w.code)])).toEqual(
      expected.map((row) => [row.line, row.expectedStatus, row.expectedErrors, row.expectedWarnings]),
    );
    expect(Buffer.from(rows[0]?.device?.hardwareHash ?? '', 'base64').length).toBe(3000);
  });

  it('streams the same bytes in chunks as it builds in one piece', () => {
    const options = { rows: 30, seed: 13, typeLine: true };
    for (const encoding of ['utf-8-bom', 'utf-16le', 'utf-16be', 'windows-1252'] as const) {
      expect(Buffer.concat([...sampleHashFileChunks(options, encoding, 5000)])).toEqual(sampleHashFileBytes(options, encoding).bytes);
    }
  });

  it('quotes cells that need it when not quoting everything', () => {
    expect(formatCsvLine(['a', 'b,c', 'd"e'], 'none')).toBe('a,"b,c","d""e"');
  });
});
