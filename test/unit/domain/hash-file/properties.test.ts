import { parse as parseCsvStream } from 'csv-parse';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeHardwareHashBase64 } from '../../../../shared/domain/hardware-hash.js';
import { CSV_PARSE_OPTIONS, CsvRecordSplitter } from '../../../../shared/domain/hash-file/csv-records.js';
import type { CsvEvent } from '../../../../shared/domain/hash-file/csv-records.js';
import { collectHashFile, encodeText } from '../../../../shared/domain/hash-file/index.js';
import type { AcceptedDevice, HashFileEncoding } from '../../../../shared/domain/hash-file/index.js';
import { FILE_REASON_CODES } from '../../../../shared/domain/reason-codes.js';
import { formatCsvLine } from '../../../../local/sample-data.js';

const ENCODINGS: readonly HashFileEncoding[] = ['utf-8', 'utf-8-bom', 'utf-16le', 'utf-16be', 'windows-1252'];
const LIMITS = { maxBytes: 1024 * 1024, maxRows: 500 };
const HEADER = 'Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User';

async function* inChunks(bytes: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let offset = 0;
  for (let i = 0; offset < bytes.length; i += 1) {
    const size = sizes.length === 0 ? bytes.length : Math.max(1, sizes[i % sizes.length] as number);
    yield bytes.subarray(offset, offset + size);
    offset += size;
  }
}

async function validateBytes(bytes: Uint8Array, chunkSizes: readonly number[] = []) {
  const result = await collectHashFile(inChunks(bytes, chunkSizes), LIMITS);
  // Invariants that hold for any input at all.
  const { counts, rejected } = result.outcome;
  expect(counts.total).toBe(result.rows.length);
  expect(counts.accepted + counts.rejected).toBe(counts.total);
  for (const row of result.rows) {
    expect(row.status === 'accepted').toBe(row.errors.length === 0);
    expect(row.device !== undefined).toBe(row.status === 'accepted');
  }
  if (rejected !== undefined) expect(FILE_REASON_CODES).toContain(rejected.code);
  return result;
}

const chunkSizes = fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 5 });

describe('the parser never throws', () => {
  it('on arbitrary bytes, with or without a BOM or a valid header in front', async () => {
    const prefixes = fc.constantFrom(
      Buffer.alloc(0),
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from([0xff, 0xfe]),
      Buffer.from([0xfe, 0xff]),
      Buffer.from(`${HEADER}\r\n`),
      encodeText(`${HEADER}\r\n`, 'utf-16le'),
    );
    await fc.assert(
      fc.asyncProperty(prefixes, fc.uint8Array({ maxLength: 3000 }), chunkSizes, async (prefix, bytes, sizes) => {
        await validateBytes(Buffer.concat([prefix, bytes]), sizes);
      }),
      { numRuns: 300 },
    );
  });

  it('on arbitrary text in every encoding, including CSV-hostile pieces', async () => {
    const piece = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.constantFrom('"', '""', ',', '\r', '\n', '\r\n', ' ', '#TYPE x', 'sep=,', '\u0000', '\ufeff', 'é', 'QUJD', `${HEADER}\n`),
    );
    const text = fc.array(piece, { maxLength: 40 }).map((pieces) => pieces.join(''));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENCODINGS), fc.boolean(), text, chunkSizes, async (encoding, withHeader, body, sizes) => {
        await validateBytes(encodeText(withHeader ? `${HEADER}\r\n${body}` : body, encoding), sizes);
      }),
      { numRuns: 300 },
    );
  });
});

// Characters every supported encoding can carry. Latin-1 letters are encoded in 1252 as bytes
// 0xC0-0xFF with no 0x80-0xBF byte after them, so such a file can never pass for UTF-8.
const LATIN_LETTERS = 'ÀÁÂÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÖØÙÚÛÜÝßàáâäåæçèéêëìíîïñòóôöøùúûüýÿ';
const serialChars = fc.constantFrom(...'ABCDEFGHJKLMNPQRSTUVWXYZabcxyz0123456789-. /_', ...'ÄÖÜé');
const tagChars = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -_.', ...LATIN_LETTERS);
const word = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'), minLength: 1, maxLength: 10 });
const trimmed = (chars: fc.Arbitrary<string>, maxLength: number) =>
  fc.string({ unit: chars, minLength: 1, maxLength }).filter((value) => value.trim() === value && value !== '');

const validRow = fc.record({
  serialNumber: trimmed(serialChars, 40).filter((serial) => !/^\d(?:\.\d+)?E\+\d+$/i.test(serial)),
  productKey: fc.option(fc.string({ unit: fc.constantFrom(...'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-'), minLength: 1, maxLength: 30 }), {
    nil: undefined,
  }),
  groupTag: fc.option(trimmed(tagChars, 40), { nil: undefined }),
  assignedUser: fc.option(
    fc.tuple(word, word, word, fc.constantFrom('com', 'org', 'uk')).map(([a, b, c, tld]) => `${a}.${b}@${c}.${tld}`),
    {
      nil: undefined,
    },
  ),
  serialInHash: fc.boolean(),
  quoting: fc.constantFrom('none' as const, 'all' as const),
  lineEnding: fc.constantFrom('\r\n', '\n'),
});

describe('round trip', () => {
  it('any valid row comes back as the same accepted device in every encoding', async () => {
    await fc.assert(
      fc.asyncProperty(validRow, fc.constantFrom(...ENCODINGS), chunkSizes, async (row, encoding, sizes) => {
        const hardwareHash = encodeHardwareHashBase64({
          ...(row.serialInHash ? { serialNumber: row.serialNumber.toUpperCase() } : {}),
          manufacturer: 'LENOVO',
          model: '21HD003MUK',
          tpmVersion: '2.0',
          targetBytes: 600,
        });
        const cells = [row.serialNumber, row.productKey ?? '', hardwareHash, row.groupTag ?? '', row.assignedUser ?? ''];
        const text = formatCsvLine(HEADER.split(','), row.quoting) + row.lineEnding + formatCsvLine(cells, row.quoting) + row.lineEnding;
        const { rows, outcome } = await validateBytes(encodeText(text, encoding), sizes);

        const expected: AcceptedDevice = {
          serialNumber: row.serialNumber,
          hardwareHash,
          manufacturer: 'LENOVO',
          model: '21HD003MUK',
          tpmVersion: '2.0',
        };
        if (row.productKey !== undefined) expected.productKey = row.productKey;
        if (row.groupTag !== undefined) expected.groupTag = row.groupTag;
        if (row.assignedUser !== undefined) expected.assignedUser = row.assignedUser;
        if (row.serialInHash) expected.hashSerial = row.serialNumber.toUpperCase();
        const ascii = /^[\x20-\x7e\r\n]*$/.test(text);
        expect(outcome.encoding).toBe(encoding === 'windows-1252' && ascii ? 'utf-8' : encoding);
        expect(rows).toHaveLength(1);
        expect(rows[0]?.errors).toEqual([]);
        expect(rows[0]?.device).toEqual(expected);
      }),
      { numRuns: 400 },
    );
  });
});

describe('CSV splitting agrees with csv-parse', () => {
  function streamWithCsvParse(text: string): Promise<{ records: { line: number; fields: string[] }[]; error: boolean }> {
    return new Promise((resolve) => {
      parseCsvStream(text, CSV_PARSE_OPTIONS, (error, output) => {
        if (error) return resolve({ records: [], error: true });
        const records: { line: number; fields: string[] }[] = [];
        // Start lines from csv-parse's byte offsets: its own line count takes a CRLF inside quotes for two lines.
        const bytes = Buffer.from(text, 'utf8');
        let consumed = 0;
        for (const { record, info } of output as unknown as { record: string[]; info: { bytes: number } }[]) {
          const before = bytes.subarray(0, consumed).toString('utf8');
          records.push({ line: 1 + (before.match(/\r\n|\n|\r/g)?.length ?? 0), fields: record.map((field) => field.trim()) });
          consumed = info.bytes;
        }
        resolve({ records, error: false });
      });
    });
  }

  function splitOurselves(text: string, sizes: readonly number[]): { records: { line: number; fields: string[] }[]; error: boolean } {
    const splitter = new CsvRecordSplitter(10_000);
    const events: CsvEvent[] = [];
    let offset = 0;
    for (let i = 0; offset < text.length; i += 1) {
      const size = sizes.length === 0 ? text.length : Math.max(1, sizes[i % sizes.length] as number);
      events.push(...splitter.push(text.slice(offset, offset + size)));
      offset += size;
    }
    events.push(...splitter.end());
    const error = events.some((event) => event.kind === 'error');
    const records = events.flatMap((event) => (event.kind === 'record' ? [{ line: event.line, fields: event.fields }] : []));
    return { records, error };
  }

  const isBlank = (record: { fields: string[] }) => record.fields.every((field) => field === '');

  it('on every mix of quotes, commas, spaces and line ends, in any chunking', async () => {
    const token = fc.constantFrom('a', 'bc', ' ', '\t', ',', '"', '""', '\r', '\n', '\r\n', '","', 'é');
    await fc.assert(
      fc.asyncProperty(fc.array(token, { maxLength: 30 }), chunkSizes, async (tokens, sizes) => {
        const text = tokens.join('');
        const reference = await streamWithCsvParse(text);
        const ours = splitOurselves(text, sizes);
        expect(ours.error).toBe(reference.error);
        if (!reference.error) expect(ours.records.filter((r) => !isBlank(r))).toEqual(reference.records.filter((r) => !isBlank(r)));
      }),
      { numRuns: 3000 },
    );
  });
});
