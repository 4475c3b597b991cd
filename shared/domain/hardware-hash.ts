/**
 * The Windows Autopilot hardware hash (the "4K hash"), as community-decoded:
 * ASCII "OA", a little-endian u16 total length, then records up to that length.
 * Record: byte 0 type, byte 1 unused, bytes 2-3 little-endian u16 length including
 * the 4-byte record header, value from byte 4. Bytes after the total length (a
 * checksum, presumably) are tolerated and ignored.
 */

export const HASH_RECORD = {
  toolAndOsVersions: 1,
  processor: 2,
  ram: 5,
  diskInfo: 6,
  diskSerial: 7,
  networkAdapter: 8,
  smbiosUuid: 12,
  tpmVersion: 13,
  smbiosSerial: 14,
  firmwareVendor: 15,
  systemManufacturer: 16,
  productName: 17,
  skuNumber: 18,
  systemFamily: 19,
  boardProduct: 21,
  systemVersion: 23,
  productKeyId: 24,
  tpmEkPublicKey: 25,
  diskSerialKernel: 28,
} as const;

/** The string fields a hash may carry; every one is optional in a real hash. */
export interface HardwareHashStrings {
  serialNumber?: string;
  manufacturer?: string;
  model?: string;
  tpmVersion?: string;
  firmwareVendor?: string;
  skuNumber?: string;
  systemFamily?: string;
  boardProduct?: string;
  systemVersion?: string;
  productKeyId?: string;
}

export interface DecodedHardwareHash extends HardwareHashStrings {
  /** The `total length` field: bytes of the record area including the 4-byte header. */
  declaredLength: number;
  byteLength: number;
  recordCount: number;
  smbiosUuid?: string;
}

export type HardwareHashProblem = 'not-base64' | 'too-long' | 'too-short' | 'bad-signature' | 'bad-total-length' | 'bad-record-length';

export type HardwareHashDecodeResult =
  { ok: true; hash: DecodedHardwareHash } | { ok: false; problem: HardwareHashProblem; message: string };

export type HardwareHashParseResult =
  { ok: true; base64: string; hash: DecodedHardwareHash } | { ok: false; problem: HardwareHashProblem; message: string };

const STRING_RECORDS: ReadonlyMap<number, keyof HardwareHashStrings> = new Map([
  [HASH_RECORD.tpmVersion, 'tpmVersion'],
  [HASH_RECORD.smbiosSerial, 'serialNumber'],
  [HASH_RECORD.firmwareVendor, 'firmwareVendor'],
  [HASH_RECORD.systemManufacturer, 'manufacturer'],
  [HASH_RECORD.productName, 'model'],
  [HASH_RECORD.skuNumber, 'skuNumber'],
  [HASH_RECORD.systemFamily, 'systemFamily'],
  [HASH_RECORD.boardProduct, 'boardProduct'],
  [HASH_RECORD.systemVersion, 'systemVersion'],
  [HASH_RECORD.productKeyId, 'productKeyId'],
]);

/** The u16 length field caps the structure near 64 KB; 96 K base64 characters leaves room for a trailer. */
export const MAX_HASH_BASE64_LENGTH = 96 * 1024;
const HEADER_BYTES = 4;
const HAS_WHITESPACE = /\s/;
const ALL_WHITESPACE = /\s+/g;

function fail(problem: HardwareHashProblem, message: string): { ok: false; problem: HardwareHashProblem; message: string } {
  return { ok: false, problem, message };
}

/**
 * Validates the base64 text of a hash and decodes it once. Whitespace inside the text
 * (line-wrapped base64 pasted from mail or a viewer) is removed; the returned `base64`
 * is that normalised text, which is what Graph should receive.
 */
export function parseHardwareHash(text: string): HardwareHashParseResult {
  let base64 = text;
  let bytes = decodeStrictBase64(base64);
  if (bytes === undefined && HAS_WHITESPACE.test(base64)) {
    base64 = base64.replace(ALL_WHITESPACE, '');
    bytes = decodeStrictBase64(base64);
  }
  if (bytes === undefined) {
    return base64.length > MAX_HASH_BASE64_LENGTH
      ? fail('too-long', `The hardware hash is ${base64.length} characters long; a hardware hash is about 4,000.`)
      : fail('not-base64', 'The hardware hash is not valid base64 text (it may have been cut short or edited).');
  }
  const decoded = decodeHardwareHash(bytes);
  return decoded.ok ? { ok: true, base64, hash: decoded.hash } : decoded;
}

/**
 * Standard base64 with padding, or undefined. Node's decoder skips characters outside the
 * alphabet and stops at a misplaced '=', so with a length that is a multiple of 4 any such
 * character makes the output shorter than the length implies; that check is native speed,
 * where a regular expression over 4,000 characters cost more than the rest of a row.
 * Node also accepts the URL-safe '-' and '_', which Graph does not: refused explicitly.
 */
function decodeStrictBase64(text: string): Buffer | undefined {
  const length = text.length;
  if (length % 4 !== 0 || length > MAX_HASH_BASE64_LENGTH) return undefined;
  if (text.indexOf('-') !== -1 || text.indexOf('_') !== -1) return undefined;
  const padding = text.charCodeAt(length - 1) === 61 ? (text.charCodeAt(length - 2) === 61 ? 2 : 1) : 0;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length === (length / 4) * 3 - padding ? bytes : undefined;
}

export function decodeHardwareHash(input: Uint8Array): HardwareHashDecodeResult {
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (bytes.length < HEADER_BYTES) {
    return fail('too-short', `The hardware hash decodes to only ${bytes.length} bytes; it is cut short.`);
  }
  if (bytes[0] !== 0x4f || bytes[1] !== 0x41) {
    return fail('bad-signature', 'The hardware hash does not start with the Autopilot hash signature; it is not a hardware hash.');
  }
  const declaredLength = bytes.readUInt16LE(2);
  if (declaredLength < HEADER_BYTES || declaredLength > bytes.length) {
    return fail(
      'bad-total-length',
      `The hardware hash declares ${declaredLength} bytes but holds ${bytes.length}; it is cut short or damaged.`,
    );
  }

  const hash: DecodedHardwareHash = { declaredLength, byteLength: bytes.length, recordCount: 0 };
  let offset = HEADER_BYTES;
  while (offset < declaredLength) {
    if (offset + HEADER_BYTES > declaredLength) {
      return fail('bad-record-length', `The hardware hash has a truncated record at byte ${offset}; it is damaged.`);
    }
    const type = bytes[offset] as number;
    const length = bytes.readUInt16LE(offset + 2);
    if (length < HEADER_BYTES || offset + length > declaredLength) {
      return fail('bad-record-length', `The hardware hash has a record with an impossible length at byte ${offset}; it is damaged.`);
    }
    const valueStart = offset + HEADER_BYTES;
    const valueEnd = offset + length;
    const stringField = STRING_RECORDS.get(type);
    if (stringField !== undefined) {
      const text = readTerminatedString(bytes, valueStart, valueEnd);
      if (text !== '') hash[stringField] = text;
    } else if (type === HASH_RECORD.smbiosUuid && length === HEADER_BYTES + 16) {
      hash.smbiosUuid = bytes.toString('hex', valueStart, valueEnd);
    }
    // Every other type is deliberately skipped: new Windows builds add record types.
    hash.recordCount += 1;
    offset = valueEnd;
  }
  return { ok: true, hash };
}

function readTerminatedString(bytes: Buffer, start: number, end: number): string {
  let stop = end;
  while (stop > start && bytes[stop - 1] === 0) stop -= 1;
  return bytes.toString('utf8', start, stop).trim();
}

const HYPERVISOR_NAMES = /vmware|qemu|virtualbox|innotek|parallels|bochs|\bkvm\b|\bxen\b|hvm domu/i;

/** True when SMBIOS manufacturer/model are those a hypervisor reports instead of real hardware. */
export function looksLikeVirtualMachine(manufacturer: string | undefined, model: string | undefined): boolean {
  if (
    manufacturer !== undefined &&
    /^microsoft corporation$/i.test(manufacturer) &&
    model !== undefined &&
    /virtual machine/i.test(model)
  ) {
    return true;
  }
  return (manufacturer !== undefined && HYPERVISOR_NAMES.test(manufacturer)) || (model !== undefined && HYPERVISOR_NAMES.test(model));
}

// ---------------------------------------------------------------------------
// Encoder: builds structurally faithful hashes for tests, samples and benchmarks.

export interface HardwareHashSpec extends HardwareHashStrings {
  macAddresses?: readonly string[];
  /** 32 hex digits. */
  smbiosUuid?: string;
  /** Pad with opaque records of types the decoder does not know, up to about this many bytes. */
  targetBytes?: number;
  /** Source of the opaque filler bytes; deterministic default when omitted. */
  fillerBytes?: (length: number) => Uint8Array;
  /** Bytes appended after the declared length (the decoder must ignore them). */
  trailer?: Uint8Array;
}

const FILLER_TYPES = [3, 4, 9, 10, 11, 26, 27, 29, 30, 31, 33, 40];

export function encodeHardwareHash(spec: HardwareHashSpec): Buffer {
  const records: Buffer[] = [record(HASH_RECORD.toolAndOsVersions, versionsValue())];
  records.push(record(HASH_RECORD.processor, Buffer.from([9, 0, 1, 0, 8, 0, 16, 0, 1, 0, 0, 0])));
  records.push(record(HASH_RECORD.ram, Buffer.alloc(24, 0x10)));
  records.push(record(HASH_RECORD.diskInfo, Buffer.alloc(16, 0x11)));
  for (const mac of spec.macAddresses ?? []) records.push(record(HASH_RECORD.networkAdapter, macValue(mac)));
  if (spec.smbiosUuid !== undefined) records.push(record(HASH_RECORD.smbiosUuid, Buffer.from(spec.smbiosUuid, 'hex')));
  for (const [type, field] of STRING_RECORDS) {
    const value = spec[field];
    if (value !== undefined) records.push(record(type, Buffer.from(`${value}\0`, 'utf8')));
  }
  if (spec.tpmVersion !== undefined) records.push(record(HASH_RECORD.tpmEkPublicKey, filler(spec, 270)));

  const target = Math.min(spec.targetBytes ?? 0, 0xffff);
  let size = HEADER_BYTES + records.reduce((sum, r) => sum + r.length, 0);
  for (let i = 0; size < target - HEADER_BYTES; i += 1) {
    const valueLength = Math.min(1020, target - size - HEADER_BYTES);
    records.push(record(FILLER_TYPES[i % FILLER_TYPES.length] as number, filler(spec, valueLength)));
    size += valueLength + HEADER_BYTES;
  }
  if (size > 0xffff) throw new RangeError(`hardware hash of ${size} bytes does not fit the u16 length field`);

  const header = Buffer.from([0x4f, 0x41, 0, 0]);
  header.writeUInt16LE(size, 2);
  return Buffer.concat([header, ...records, ...(spec.trailer === undefined ? [] : [spec.trailer])]);
}

export function encodeHardwareHashBase64(spec: HardwareHashSpec): string {
  return encodeHardwareHash(spec).toString('base64');
}

function record(type: number, value: Uint8Array): Buffer {
  const header = Buffer.from([type, 0, 0, 0]);
  header.writeUInt16LE(value.length + HEADER_BYTES, 2);
  return Buffer.concat([header, value]);
}

function versionsValue(): Buffer {
  const value = Buffer.alloc(21);
  // Tool 10.0.26100.1, OS 10.0.22631.4037, full OS on x64.
  [0, 10, 1, 26100, 0, 10, 4037, 22631].forEach((n, i) => value.writeUInt16LE(n, i * 2));
  value.set([2, 9, 1], 18);
  return value;
}

function macValue(mac: string): Buffer {
  const value = Buffer.alloc(12);
  value[0] = 14;
  Buffer.from(mac.replace(/[^0-9a-f]/gi, ''), 'hex').copy(value, 4, 0, 6);
  return value;
}

function filler(spec: HardwareHashSpec, length: number): Uint8Array {
  if (spec.fillerBytes !== undefined) return spec.fillerBytes(length);
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) bytes[i] = (i * 131 + 7) & 0xff;
  return bytes;
}
