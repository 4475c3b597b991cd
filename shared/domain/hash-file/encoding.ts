import { isAscii, isUtf8 } from 'node:buffer';
import iconv from 'iconv-lite';
import type { HashFileEncoding } from './types.js';

/**
 * Turns the bytes of a hash file into text, chunk by chunk, deciding the encoding:
 * - a BOM says UTF-8, UTF-16 LE or UTF-16 BE;
 * - without a BOM, NUL bytes in every other position of an ASCII start say UTF-16 LE/BE
 *   (a Windows tool that dropped the BOM);
 * - otherwise UTF-8 if the text is valid UTF-8, else Windows-1252. Streaming means the
 *   verdict is taken at the first non-ASCII bytes (using the rest of that chunk as evidence);
 *   everything before them is ASCII, identical in both. Bytes that turn out invalid later
 *   decode to U+FFFD, which the row rules reject in every field.
 */
export interface DecodeState {
  encoding: HashFileEncoding | undefined;
  bytesRead: number;
  /** Set when more than maxBytes arrived; decoding stops there. */
  tooLarge: boolean;
  /** The first bytes of the file, to tell the supplier what it really is (e.g. a workbook). */
  leadingBytes: Uint8Array;
}

interface ChunkDecoder {
  write(bytes: Buffer): string;
  end(): string;
}

const LEADING_BYTES = 8;
const BOM_UTF8 = [0xef, 0xbb, 0xbf];

export async function* decodeHashFileBytes(
  source: AsyncIterable<Uint8Array>,
  maxBytes: number,
  state: DecodeState,
): AsyncGenerator<string, void, undefined> {
  let decoder: ChunkDecoder | undefined;
  // Bytes not yet decoded: the start of the file until the BOM sniff, or a
  // non-ASCII tail whose UTF-8 validity cannot be judged yet.
  let held: Buffer = Buffer.alloc(0);
  let byteOrderChecked = false;

  for await (const chunk of source) {
    state.bytesRead += chunk.byteLength;
    if (state.bytesRead > maxBytes) {
      state.tooLarge = true;
      return;
    }
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (state.leadingBytes.length < LEADING_BYTES) {
      state.leadingBytes = Buffer.concat([state.leadingBytes, bytes.subarray(0, LEADING_BYTES)]).subarray(0, LEADING_BYTES);
    }
    if (decoder !== undefined) {
      const text = decoder.write(bytes);
      if (text !== '') yield text;
      continue;
    }

    held = held.length === 0 ? bytes : Buffer.concat([held, bytes]);
    if (!byteOrderChecked) {
      if (held.length < 4) continue;
      byteOrderChecked = true;
      const sniffed = sniffByteOrder(held);
      if (sniffed !== undefined) {
        state.encoding = sniffed.encoding;
        decoder = createDecoder(sniffed.encoding);
        const text = decoder.write(held.subarray(sniffed.bomLength));
        held = Buffer.alloc(0);
        if (text !== '') yield text;
        continue;
      }
    }
    // No BOM: ASCII so far, undecided between UTF-8 and Windows-1252.
    const verdict = judgeUtf8(held, false);
    if (verdict.encoding !== undefined) {
      state.encoding = verdict.encoding;
      decoder = createDecoder(verdict.encoding);
      const text = decoder.write(held);
      held = Buffer.alloc(0);
      if (text !== '') yield text;
      continue;
    }
    if (verdict.asciiPrefix > 0) {
      yield held.toString('latin1', 0, verdict.asciiPrefix);
      held = held.subarray(verdict.asciiPrefix);
    }
  }

  if (decoder === undefined && held.length > 0) {
    const sniffed = byteOrderChecked ? undefined : sniffByteOrder(held);
    const encoding = sniffed?.encoding ?? judgeUtf8(held, true).encoding ?? 'utf-8';
    decoder = createDecoder(encoding);
    state.encoding = encoding;
    const text = decoder.write(held.subarray(sniffed?.bomLength ?? 0));
    if (text !== '') yield text;
  }
  if (state.encoding === undefined && state.bytesRead > 0) state.encoding = 'utf-8';
  const rest = decoder?.end() ?? '';
  if (rest !== '') yield rest;
}

function sniffByteOrder(bytes: Buffer): { encoding: HashFileEncoding; bomLength: number } | undefined {
  const [b0, b1, b2, b3] = [bytes[0], bytes[1], bytes[2], bytes[3]];
  if (b0 === BOM_UTF8[0] && b1 === BOM_UTF8[1] && b2 === BOM_UTF8[2]) return { encoding: 'utf-8-bom', bomLength: 3 };
  if (b0 === 0xff && b1 === 0xfe) return { encoding: 'utf-16le', bomLength: 2 };
  if (b0 === 0xfe && b1 === 0xff) return { encoding: 'utf-16be', bomLength: 2 };
  if (bytes.length >= 4) {
    if (b0 !== 0 && b0 !== undefined && b0 < 0x80 && b1 === 0 && b2 !== 0 && b2 !== undefined && b2 < 0x80 && b3 === 0) {
      return { encoding: 'utf-16le', bomLength: 0 };
    }
    if (b0 === 0 && b1 !== 0 && b1 !== undefined && b1 < 0x80 && b2 === 0 && b3 !== 0 && b3 !== undefined && b3 < 0x80) {
      return { encoding: 'utf-16be', bomLength: 0 };
    }
  }
  return undefined;
}

/**
 * Decides UTF-8 or Windows-1252 from the first non-ASCII bytes, or reports how many
 * leading bytes are plain ASCII when there is no evidence yet.
 */
function judgeUtf8(bytes: Buffer, atEnd: boolean): { encoding?: HashFileEncoding; asciiPrefix: number } {
  if (isAscii(bytes)) return atEnd ? { encoding: 'utf-8', asciiPrefix: bytes.length } : { asciiPrefix: bytes.length };
  const complete = atEnd ? bytes.length : bytes.length - incompleteUtf8Tail(bytes);
  let firstNonAscii = 0;
  while ((bytes[firstNonAscii] as number) < 0x80) firstNonAscii += 1;
  if (firstNonAscii >= complete) return { asciiPrefix: firstNonAscii };
  return { encoding: isUtf8(bytes.subarray(firstNonAscii, complete)) ? 'utf-8' : 'windows-1252', asciiPrefix: firstNonAscii };
}

/** Bytes at the end that start a UTF-8 sequence the buffer does not complete. */
function incompleteUtf8Tail(bytes: Buffer): number {
  for (let back = 1; back <= Math.min(4, bytes.length); back += 1) {
    const byte = bytes[bytes.length - back] as number;
    if ((byte & 0xc0) === 0x80) continue;
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needed > back ? back : 0;
  }
  return 0;
}

function createDecoder(encoding: HashFileEncoding): ChunkDecoder {
  if (encoding === 'utf-8' || encoding === 'utf-8-bom' || encoding === 'utf-16le') {
    const decoder = new TextDecoder(encoding === 'utf-16le' ? 'utf-16le' : 'utf-8', { ignoreBOM: true });
    return { write: (bytes) => decoder.decode(bytes, { stream: true }), end: () => decoder.decode() };
  }
  const decoder = iconv.getDecoder(encoding === 'utf-16be' ? 'utf-16be' : 'windows-1252');
  return { write: (bytes) => decoder.write(bytes), end: () => decoder.end() ?? '' };
}

/** The bytes of `text` in `encoding`, with the BOM that encoding implies (tests, samples, reports). */
export function encodeText(text: string, encoding: HashFileEncoding): Buffer {
  switch (encoding) {
    case 'utf-8':
      return Buffer.from(text, 'utf8');
    case 'utf-8-bom':
      return Buffer.concat([Buffer.from(BOM_UTF8), Buffer.from(text, 'utf8')]);
    case 'utf-16le':
      return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    case 'utf-16be':
      return Buffer.concat([Buffer.from([0xfe, 0xff]), iconv.encode(text, 'utf-16be')]);
    case 'windows-1252':
      return iconv.encode(text, 'windows-1252');
  }
}
