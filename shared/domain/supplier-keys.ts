import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SupplierPolicy } from './suppliers.js';

/**
 * Supplier upload keys: 256 random bits each, handed to the supplier once and stored by the
 * product only as their SHA-256 (the supplier policy's `uploadKeySha256`). A slow password
 * hash would buy nothing here: it slows the guessing of low-entropy secrets, and a random
 * 256-bit key cannot be guessed, so a plain SHA-256 of it is as good as a KDF and costs
 * nothing per request. The prefix lets secret scanners and people recognise a key.
 */

export const SUPPLIER_KEY_PREFIX = 'ztpk_';
const KEY_BYTES = 32;
/** Longer than any key `mintSupplierKey` makes by far; anything longer is not worth hashing. */
const MAX_PRESENTED_KEY_LENGTH = 1024;

export interface MintedSupplierKey {
  /** Shown once, to be given to the supplier; never stored by the product. */
  readonly key: string;
  /** What goes into the policy. */
  readonly sha256: string;
}

export function mintSupplierKey(random: (size: number) => Buffer = randomBytes): MintedSupplierKey {
  const key = `${SUPPLIER_KEY_PREFIX}${random(KEY_BYTES).toString('base64url')}`;
  return { key, sha256: supplierKeySha256(key) };
}

/** The hex SHA-256 of a key's UTF-8 bytes, as the policy lists it. */
export function supplierKeySha256(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Which supplier a presented key belongs to. */
export interface SupplierKeyring {
  /** The supplier whose policy lists the key's hash; undefined for no key, a wrong key, or a supplier without keys. */
  supplierOf(presented: string | undefined): SupplierPolicy | undefined;
}

/**
 * Built once from the policy. A presented key is hashed and compared with every configured
 * hash, each with `timingSafeEqual` over two 32-byte digests and without stopping at a match,
 * so how long the check takes says nothing about which hash, or how much of one, matched.
 */
export function supplierKeyring(policies: readonly SupplierPolicy[]): SupplierKeyring {
  const entries = policies.flatMap((policy) => (policy.uploadKeySha256 ?? []).map((hex) => ({ policy, digest: Buffer.from(hex, 'hex') })));
  return {
    supplierOf(presented) {
      if (presented === undefined || presented === '' || presented.length > MAX_PRESENTED_KEY_LENGTH) return undefined;
      const digest = createHash('sha256').update(presented, 'utf8').digest();
      let found: SupplierPolicy | undefined;
      for (const entry of entries) {
        if (timingSafeEqual(digest, entry.digest)) found ??= entry.policy;
      }
      return found;
    },
  };
}
