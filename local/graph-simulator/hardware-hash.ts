/**
 * Just enough of the hardware-hash structure for the simulator: the check Autopilot does
 * before answering 802, a peek at the SMBIOS strings, and a generator of valid test hashes.
 * Layout (community-decoded): "OA", u16 LE total length, then records of
 * [type, 0, u16 LE record length incl. this 4-byte header, value...].
 * Deliberately independent of the product's own decoder so one cannot mask the other's bugs.
 */

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export const HashRecordType = {
  SmbiosSerial: 14,
  SmbiosSystemManufacturer: 16,
  SmbiosProductName: 17,
} as const;

/** Base64 of bytes that start with "OA" and carry their own total length. */
export function isStructurallyValidHash(base64: string): boolean {
  return decodeHash(base64) !== undefined;
}

function decodeHash(base64: string): Buffer | undefined {
  if (base64.length % 4 !== 0 || !BASE64.test(base64)) return undefined;
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length < 4 || bytes[0] !== 0x4f || bytes[1] !== 0x41) return undefined;
  return bytes.readUInt16LE(2) === bytes.length ? bytes : undefined;
}

/** The UTF-8 string records of a structurally valid hash (unknown or malformed records are skipped). */
export function readHashStrings(base64: string): Map<number, string> {
  const strings = new Map<number, string>();
  const bytes = decodeHash(base64);
  if (!bytes) return strings;
  for (let offset = 4; offset + 4 <= bytes.length;) {
    const type = bytes[offset] ?? 0;
    const recordLength = bytes.readUInt16LE(offset + 2);
    if (recordLength < 4 || offset + recordLength > bytes.length) break;
    if (
      type === HashRecordType.SmbiosSerial ||
      type === HashRecordType.SmbiosSystemManufacturer ||
      type === HashRecordType.SmbiosProductName
    ) {
      strings.set(
        type,
        bytes
          .subarray(offset + 4, offset + recordLength)
          .toString('utf8')
          .replace(/\0+$/, ''),
      );
    }
    offset += recordLength;
  }
  return strings;
}

export interface TestHashInput {
  serialNumber: string;
  manufacturer?: string;
  model?: string;
  /** Pads the hash with an opaque record up to about this many bytes (real hashes are ~3 KB). */
  approximateBytes?: number;
}

/** A structurally valid hardware hash (base64) for tests, demos and benchmarks. */
export function makeTestHardwareHash(input: TestHashInput): string {
  const records = [
    stringRecord(HashRecordType.SmbiosSerial, input.serialNumber),
    stringRecord(HashRecordType.SmbiosSystemManufacturer, input.manufacturer ?? 'Contoso'),
    stringRecord(HashRecordType.SmbiosProductName, input.model ?? 'Laptop 7'),
  ];
  const used = 4 + records.reduce((sum, r) => sum + r.length, 0);
  const padding = Math.max(0, (input.approximateBytes ?? 0) - used - 4);
  if (padding > 0) records.push(record(6, Buffer.alloc(padding, 0x5a)));
  const body = Buffer.concat(records);
  const header = Buffer.from([0x4f, 0x41, 0, 0]);
  header.writeUInt16LE(4 + body.length, 2);
  return Buffer.concat([header, body]).toString('base64');
}

function stringRecord(type: number, value: string): Buffer {
  return record(type, Buffer.concat([Buffer.from(value, 'utf8'), Buffer.from([0])]));
}

function record(type: number, value: Buffer): Buffer {
  const header = Buffer.from([type, 0, 0, 0]);
  header.writeUInt16LE(4 + value.length, 2);
  return Buffer.concat([header, value]);
}
