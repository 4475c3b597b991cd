import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeHardwareHash,
  encodeHardwareHash,
  encodeHardwareHashBase64,
  looksLikeVirtualMachine,
  parseHardwareHash,
} from '../../../shared/domain/hardware-hash.js';

const DELL = {
  serialNumber: '7XK2Q93',
  manufacturer: 'Dell Inc.',
  model: 'Latitude 7440',
  tpmVersion: '2.0',
  productKeyId: '3302158412345',
  macAddresses: ['00:1b:44:11:3a:b7'],
  smbiosUuid: '4c4c4544004d3510804bb7c04f4e3233',
};

describe('hardware hash decoding', () => {
  it('reads serial, manufacturer, model, TPM and MAC from an encoded hash', () => {
    const result = parseHardwareHash(encodeHardwareHashBase64({ ...DELL, targetBytes: 3000 }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.hash).toMatchObject({
      serialNumber: '7XK2Q93',
      manufacturer: 'Dell Inc.',
      model: 'Latitude 7440',
      tpmVersion: '2.0',
      productKeyId: '3302158412345',
      smbiosUuid: DELL.smbiosUuid,
      declaredLength: 3000,
      byteLength: 3000,
    });
    expect(result.base64.length).toBe(4000);
  });

  it('skips record types it does not know and ignores bytes after the declared length', () => {
    const bytes = encodeHardwareHash({ ...DELL, targetBytes: 2500, trailer: Buffer.from('checksum-bytes') });
    const result = decodeHardwareHash(bytes);
    expect(result.ok && result.hash.serialNumber).toBe('7XK2Q93');
    expect(result.ok && result.hash.recordCount).toBeGreaterThan(10);
    expect(result.ok && result.hash.byteLength - result.hash.declaredLength).toBe('checksum-bytes'.length);
  });

  it('removes whitespace inside the base64 (line-wrapped copies) and returns the normalised text', () => {
    const base64 = encodeHardwareHashBase64(DELL);
    const wrapped = base64.replace(/(.{76})/g, '$1\r\n');
    const result = parseHardwareHash(` ${wrapped} `);
    expect(result.ok && result.base64).toBe(base64);
  });

  it('has no serial when the hash carries none', () => {
    const result = parseHardwareHash(encodeHardwareHashBase64({ manufacturer: 'HP' }));
    expect(result.ok && result.hash.serialNumber).toBeUndefined();
  });

  it.each([
    ['not base64', 'abc$def=', 'not-base64'],
    ['base64 of other bytes', 'QUJDRA==', 'bad-signature'],
    ['base64 of three bytes', 'QUJD', 'too-short'],
    ['unpadded base64', 'T0E', 'not-base64'],
    ['padding in the middle', 'T0E=T0E=', 'not-base64'],
    ['URL-safe base64', encodeHardwareHashBase64(DELL).slice(0, 96) + 'ab-_', 'not-base64'],
    ['a character outside the alphabet', `${encodeHardwareHashBase64(DELL).slice(0, 95)}!`, 'not-base64'],
    ['too much padding', 'T===', 'not-base64'],
    ['only padding', '====', 'not-base64'],
    ['too short to hold a header', Buffer.from('OA').toString('base64'), 'too-short'],
    ['another binary', Buffer.from('PK\u0003\u0004 not a hash').toString('base64'), 'bad-signature'],
  ])('rejects %s', (_name, text, problem) => {
    const result = parseHardwareHash(text);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problem).toBe(problem);
  });

  it('rejects a hash cut short (declared length beyond the bytes)', () => {
    const bytes = encodeHardwareHash({ ...DELL, targetBytes: 3000 }).subarray(0, 1500);
    const result = decodeHardwareHash(bytes);
    expect(!result.ok && result.problem).toBe('bad-total-length');
  });

  it('rejects records whose length is impossible', () => {
    const bytes = Buffer.from(encodeHardwareHash(DELL));
    bytes.writeUInt16LE(2, 6); // first record claims 2 bytes, less than its own header
    expect(decodeHardwareHash(bytes)).toMatchObject({ ok: false, problem: 'bad-record-length' });
    const overrun = Buffer.from(encodeHardwareHash(DELL));
    overrun.writeUInt16LE(0xfff0, 6);
    expect(decodeHardwareHash(overrun)).toMatchObject({ ok: false, problem: 'bad-record-length' });
  });

  it('rejects absurdly long text without decoding it', () => {
    expect(parseHardwareHash('A'.repeat(200_000))).toMatchObject({ ok: false, problem: 'too-long' });
  });

  it('never throws on arbitrary bytes or text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const withSignature = Buffer.concat([Buffer.from('OA'), bytes]);
        decodeHardwareHash(bytes);
        decodeHardwareHash(withSignature);
        parseHardwareHash(withSignature.toString('base64'));
      }),
    );
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (text) => void parseHardwareHash(text)));
  });

  it('accepts exactly standard padded base64 (as a regular expression defines it)', () => {
    const STANDARD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
    const base = encodeHardwareHashBase64({ serialNumber: 'X1', targetBytes: 64 });
    const noise = fc.constantFrom('A', 'b', '9', '+', '/', '=', '-', '_', '!', 'é', '\u0000', '.');
    fc.assert(
      fc.property(fc.nat(base.length), fc.array(noise, { maxLength: 4 }), fc.nat(4), (at, inserted, cut) => {
        const text = (base.slice(0, at) + inserted.join('') + base.slice(at)).slice(0, base.length + inserted.length - cut);
        const result = parseHardwareHash(text);
        if (!STANDARD.test(text)) expect(result).toMatchObject({ ok: false, problem: 'not-base64' });
        else expect(!result.ok && result.problem).not.toBe('not-base64');
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes whatever strings were encoded', () => {
    const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => s.trim() === s && !s.includes('\0'));
    fc.assert(
      fc.property(text, text, text, (serialNumber, manufacturer, model) => {
        const result = decodeHardwareHash(encodeHardwareHash({ serialNumber, manufacturer, model, targetBytes: 800 }));
        expect(result.ok && [result.hash.serialNumber, result.hash.manufacturer, result.hash.model]).toEqual([
          serialNumber,
          manufacturer,
          model,
        ]);
      }),
    );
  });
});

describe('virtual machine detection', () => {
  it.each([
    ['Microsoft Corporation', 'Virtual Machine'],
    ['VMware, Inc.', 'VMware7,1'],
    ['QEMU', 'Standard PC (Q35 + ICH9, 2009)'],
    ['innotek GmbH', 'VirtualBox'],
    ['Xen', 'HVM domU'],
    ['Parallels International GmbH.', 'Parallels ARM Virtual Machine'],
    ['Red Hat', 'KVM'],
  ])('flags %s / %s', (manufacturer, model) => {
    expect(looksLikeVirtualMachine(manufacturer, model)).toBe(true);
  });

  it.each([
    ['Microsoft Corporation', 'Surface Laptop 5'],
    ['Dell Inc.', 'Latitude 7440'],
    ['HP', 'HP EliteBook 840 G10 Notebook PC'],
    ['LENOVO', '21HD003MUK'],
    [undefined, undefined],
  ])('does not flag %s / %s', (manufacturer, model) => {
    expect(looksLikeVirtualMachine(manufacturer, model)).toBe(false);
  });
});
