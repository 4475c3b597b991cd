import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isStructurallyValidHash, makeTestHardwareHash } from '../../../../local/graph-simulator/index.js';
import { HashRecordType, readHashStrings } from '../../../../local/graph-simulator/hardware-hash.js';

describe('simulator hardware-hash check (802)', () => {
  it('accepts generated hashes and reads their SMBIOS strings back', () => {
    const hash = makeTestHardwareHash({ serialNumber: 'PF-12 345', manufacturer: 'Lenovo', model: 'T14', approximateBytes: 3000 });
    expect(isStructurallyValidHash(hash)).toBe(true);
    expect(Buffer.from(hash, 'base64').length).toBeGreaterThanOrEqual(2990);
    const strings = readHashStrings(hash);
    expect(strings.get(HashRecordType.SmbiosSerial)).toBe('PF-12 345');
    expect(strings.get(HashRecordType.SmbiosSystemManufacturer)).toBe('Lenovo');
    expect(strings.get(HashRecordType.SmbiosProductName)).toBe('T14');
  });

  it('rejects what is not base64, lacks the OA magic, or disagrees with its length', () => {
    const bytes = Buffer.from(makeTestHardwareHash({ serialNumber: 'X1' }), 'base64');
    expect(isStructurallyValidHash('not base64!')).toBe(false);
    expect(isStructurallyValidHash('')).toBe(false);
    const wrongMagic = Buffer.from(bytes);
    wrongMagic[0] = 0x41;
    expect(isStructurallyValidHash(wrongMagic.toString('base64'))).toBe(false);
    expect(isStructurallyValidHash(Buffer.concat([bytes, Buffer.from([0])]).toString('base64'))).toBe(false);
    expect(isStructurallyValidHash(bytes.subarray(0, bytes.length - 1).toString('base64'))).toBe(false);
  });

  it('rejects every truncation of a valid hash', () => {
    const bytes = Buffer.from(makeTestHardwareHash({ serialNumber: 'SERIAL-1', approximateBytes: 400 }), 'base64');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: bytes.length - 1 }),
        (cut) => !isStructurallyValidHash(bytes.subarray(0, cut).toString('base64')),
      ),
    );
  });
});
