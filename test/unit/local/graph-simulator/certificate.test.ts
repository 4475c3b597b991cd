import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '../../../../local/graph-simulator/certificate.js';

/**
 * The simulator's certificate must parse whatever its random serial turns out to be: about
 * one serial in 256 starts with a zero byte, and an INTEGER left with that padding makes
 * OpenSSL refuse the certificate, and so the simulator fail to start over https.
 */
describe('simulator certificate', () => {
  it.each([
    ['a leading zero byte', '0062b5b4d1a81dbc783e142ea39f0101', '62B5B4D1A81DBC783E142EA39F0101'],
    ['several leading zero bytes', '00000001d1a81dbc783e142ea39f0101', '1D1A81DBC783E142EA39F0101'],
    ['the high bit set', '8062b5b4d1a81dbc783e142ea39f0101', '8062B5B4D1A81DBC783E142EA39F0101'],
    ['a zero byte before the high bit', '00a2b5b4d1a81dbc783e142ea39f0101', 'A2B5B4D1A81DBC783E142EA39F0101'],
  ])('parses with a serial that has %s', (_what, serialHex, expected) => {
    const { certPem } = createSelfSignedCertificate('graph-simulator', 30, Buffer.from(serialHex, 'hex'));
    const certificate = new X509Certificate(certPem);
    expect(certificate.serialNumber.toUpperCase().replace(/^0+/, '')).toBe(expected);
    expect(certificate.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });
});
