import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mintSupplierKey, SUPPLIER_KEY_PREFIX, supplierKeyring, supplierKeySha256 } from '../../../shared/domain/supplier-keys.js';
import { parseSupplierPolicies } from '../../../shared/domain/suppliers.js';

const first = mintSupplierKey();
const rotated = mintSupplierKey();
const other = mintSupplierKey();
const policies = parseSupplierPolicies(
  JSON.stringify([
    { id: 'contoso', name: 'Contoso', uploadKeySha256: [first.sha256, rotated.sha256.toUpperCase()] },
    { id: 'fabrikam', name: 'Fabrikam', uploadKeySha256: [other.sha256] },
    { id: 'northwind', name: 'Northwind' },
    { id: 'tailspin', name: 'Tailspin', uploadKeySha256: [] },
  ]),
);
const keyring = supplierKeyring(policies);

describe('supplier upload keys', () => {
  it('are 256 random bits, base64url after a recognisable prefix, and hashed as SHA-256 of their text', () => {
    const minted = mintSupplierKey(() => Buffer.alloc(32, 0xff));
    expect(minted.key).toBe(`${SUPPLIER_KEY_PREFIX}${'_'.repeat(42)}8`);
    expect(minted.sha256).toBe(createHash('sha256').update(minted.key).digest('hex'));
    expect(first.key).toMatch(/^ztpk_[A-Za-z0-9_-]{43}$/);
    expect(first.key).not.toBe(rotated.key);
    expect(supplierKeySha256(first.key)).toBe(first.sha256);
  });

  it('name the supplier whose policy lists their hash: either key of a rotation', () => {
    expect(keyring.supplierOf(first.key)?.id).toBe('contoso');
    expect(keyring.supplierOf(rotated.key)?.id).toBe('contoso');
    expect(keyring.supplierOf(other.key)?.id).toBe('fabrikam');
  });

  it('name no supplier for no key, a wrong key, a key with a character changed, or a hash sent as the key', () => {
    expect(keyring.supplierOf(undefined)).toBeUndefined();
    expect(keyring.supplierOf('')).toBeUndefined();
    expect(keyring.supplierOf(mintSupplierKey().key)).toBeUndefined();
    expect(keyring.supplierOf(`${first.key.slice(0, -1)}${first.key.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(keyring.supplierOf(first.sha256)).toBeUndefined();
    expect(keyring.supplierOf(`${first.key}x`.repeat(30))).toBeUndefined();
  });

  it('let nothing else in: any other string names no supplier, and suppliers without keys are never named', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (presented) => {
        fc.pre(![first.key, rotated.key, other.key].includes(presented));
        expect(keyring.supplierOf(presented)).toBeUndefined();
      }),
    );
  });
});
