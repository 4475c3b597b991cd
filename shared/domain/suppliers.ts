import { z } from 'zod';
import { SupplierConfigError } from '../errors.js';
import { isValidGroupTag } from './hash-file/fields.js';

/**
 * Who may drop files, and which group tags they may set. Group tags are compared without
 * regard to case (Entra dynamic-group rules on `[OrderID]:tag` do the same); an accepted
 * tag is written as the policy spells it, so one tag never appears in two spellings.
 */
export interface SupplierPolicy {
  /** The folder under `hash-uploads/` the supplier writes to. */
  id: string;
  name: string;
  /** Empty: any well-formed tag is allowed. */
  allowedGroupTags: readonly string[];
  defaultGroupTag?: string;
  /**
   * SHA-256 (hex) of each key that may use the supplier upload API for this supplier; several
   * while a key is rotated. Unset or empty: the API refuses the supplier (blob drops still work).
   */
  uploadKeySha256?: readonly string[];
}

const groupTag = z.string().refine(isValidGroupTag, {
  message: "a group tag may only contain letters, digits, spaces, '-', '_' and '.', at most 128 characters",
});

/** A key's hash, never the key: a pasted key (`ztpk_...`) is refused here rather than stored as its own hash. */
const uploadKeySha256 = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, "an upload key hash is the key's SHA-256 as 64 hexadecimal digits (never the key itself)")
  .transform((hex) => hex.toLowerCase());

const supplierSchema = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a supplier id is 1-63 letters, digits, ".", "_" or "-" (it names a blob folder)'),
    name: z.string().trim().min(1),
    allowedGroupTags: z.array(groupTag).default([]),
    defaultGroupTag: groupTag.optional(),
    uploadKeySha256: z.array(uploadKeySha256).optional(),
  })
  .strict()
  .refine(
    (supplier) =>
      supplier.defaultGroupTag === undefined ||
      supplier.allowedGroupTags.length === 0 ||
      supplier.allowedGroupTags.some((tag) => sameTag(tag, supplier.defaultGroupTag as string)),
    { message: 'defaultGroupTag must be one of allowedGroupTags', path: ['defaultGroupTag'] },
  );

export const supplierPoliciesSchema = z.array(supplierSchema).superRefine((suppliers, context) => {
  const seen = new Set<string>();
  // A key names one supplier: the same hash twice would let one key reach two suppliers' files.
  const keyHashes = new Set<string>();
  suppliers.forEach((supplier, index) => {
    if (seen.has(supplier.id)) context.addIssue({ code: 'custom', message: `duplicate supplier id "${supplier.id}"`, path: [index, 'id'] });
    seen.add(supplier.id);
    (supplier.uploadKeySha256 ?? []).forEach((hash, position) => {
      if (keyHashes.has(hash)) {
        context.addIssue({
          code: 'custom',
          message: 'an upload key hash is listed twice: each key belongs to one supplier, once',
          path: [index, 'uploadKeySha256', position],
        });
      }
      keyHashes.add(hash);
    });
  });
});

/** Parses the supplier policy JSON; `origin` names where it came from in the error message. */
export function parseSupplierPolicies(json: string, origin = 'ZTP_SUPPLIERS'): SupplierPolicy[] {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new SupplierConfigError(`${origin} is not valid JSON: ${(error as Error).message}`);
  }
  const result = supplierPoliciesSchema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`);
    throw new SupplierConfigError(`${origin} is not a valid supplier list: ${problems.join('; ')}`);
  }
  return result.data;
}

/**
 * ZTP_SUPPLIERS holds the JSON itself or the path of a JSON file. Unset or blank means no
 * suppliers are configured. The caller reads the file (the domain does no I/O).
 */
export function supplierPoliciesFromSetting(envValue: string | undefined, readTextFile: (path: string) => string): SupplierPolicy[] {
  const value = envValue?.trim() ?? '';
  if (value === '') return [];
  if (value.startsWith('[') || value.startsWith('{')) return parseSupplierPolicies(value);
  let text: string;
  try {
    text = readTextFile(value);
  } catch (error) {
    throw new SupplierConfigError(`ZTP_SUPPLIERS names the file "${value}", which cannot be read: ${(error as Error).message}`);
  }
  return parseSupplierPolicies(text.replace(/^\uFEFF/, ''), `ZTP_SUPPLIERS file "${value}"`);
}

/** Supplier ids are blob folder names, so they match exactly. */
export function findSupplier(policies: readonly SupplierPolicy[], id: string): SupplierPolicy | undefined {
  return policies.find((policy) => policy.id === id);
}

export type GroupTagDecision = { ok: true; groupTag: string | undefined } | { ok: false; code: 'group-tag-not-allowed'; message: string };

/**
 * The tag a row ends up with: its own (when the policy allows it, in the policy's spelling),
 * else the supplier default. Without a policy the row's tag passes unchanged.
 */
export function resolveGroupTag(policy: SupplierPolicy | undefined, rowTag: string | undefined): GroupTagDecision {
  if (policy === undefined) return { ok: true, groupTag: rowTag };
  if (rowTag === undefined) return { ok: true, groupTag: policy.defaultGroupTag };
  if (policy.allowedGroupTags.length === 0) return { ok: true, groupTag: rowTag };
  const allowed = policy.allowedGroupTags.find((tag) => sameTag(tag, rowTag));
  if (allowed !== undefined) return { ok: true, groupTag: allowed };
  return {
    ok: false,
    code: 'group-tag-not-allowed',
    message: `The group tag "${rowTag}" is not agreed for ${policy.name}. Allowed: ${policy.allowedGroupTags.join(', ')}.`,
  };
}

export function isGroupTagAllowed(policy: SupplierPolicy, tag: string): boolean {
  return policy.allowedGroupTags.length === 0 || policy.allowedGroupTags.some((allowed) => sameTag(allowed, tag));
}

function sameTag(a: string, b: string): boolean {
  return a.toUpperCase() === b.toUpperCase();
}
