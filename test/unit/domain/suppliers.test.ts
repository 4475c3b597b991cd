import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSupplierPolicies } from '../../../shared/config.js';
import { findSupplier, isGroupTagAllowed, parseSupplierPolicies, resolveGroupTag } from '../../../shared/domain/suppliers.js';
import { SupplierConfigError } from '../../../shared/errors.js';
import type { SupplierPolicy } from '../../../shared/domain/suppliers.js';

const POLICY_JSON =
  '[{"id": "contoso", "name": "Contoso Ltd", "allowedGroupTags": ["MPS-STD", "MPS-KIOSK"], "defaultGroupTag": "MPS-STD"}]';
const CONTOSO: SupplierPolicy = {
  id: 'contoso',
  name: 'Contoso Ltd',
  allowedGroupTags: ['MPS-STD', 'MPS-KIOSK'],
  defaultGroupTag: 'MPS-STD',
};

describe('supplier configuration', () => {
  it('reads inline JSON as product.md shows it', () => {
    expect(loadSupplierPolicies(POLICY_JSON)).toEqual([CONTOSO]);
  });

  it('reads a JSON file (with a BOM, as Notepad saves it) when given a path', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'ztp-suppliers-')), 'suppliers.json');
    writeFileSync(path, `\uFEFF${POLICY_JSON}`);
    expect(loadSupplierPolicies(` ${path} `)).toEqual([CONTOSO]);
  });

  it('means no suppliers when unset or blank', () => {
    expect(loadSupplierPolicies(undefined)).toEqual([]);
    expect(loadSupplierPolicies('  ')).toEqual([]);
  });

  it('defaults allowedGroupTags to any tag and the default tag to none', () => {
    expect(parseSupplierPolicies('[{"id":"fabrikam","name":"Fabrikam"}]')).toEqual([
      { id: 'fabrikam', name: 'Fabrikam', allowedGroupTags: [] },
    ]);
  });

  it.each([
    ['bad JSON', '[{', /not valid JSON/],
    ['an object instead of a list', '{"id":"x","name":"X"}', /not a valid supplier list/],
    ['a missing name', '[{"id":"x"}]', /0\.name/],
    ['an id that cannot be a folder', '[{"id":"a/b","name":"X"}]', /0\.id/],
    ['a default outside the allowed tags', '[{"id":"x","name":"X","allowedGroupTags":["A"],"defaultGroupTag":"B"}]', /defaultGroupTag/],
    ['a malformed tag', '[{"id":"x","name":"X","allowedGroupTags":["A,B"]}]', /allowedGroupTags/],
    ['duplicate ids', '[{"id":"x","name":"X"},{"id":"x","name":"Y"}]', /duplicate supplier id "x"/],
    ['an unknown key', '[{"id":"x","name":"X","allowedTags":["A"]}]', /allowedTags/],
    [
      'an upload key instead of its hash',
      `[{"id":"x","name":"X","uploadKeySha256":["ztpk_${'A'.repeat(43)}"]}]`,
      /0\.uploadKeySha256\.0: .*never the key itself/,
    ],
    ['a short hash', '[{"id":"x","name":"X","uploadKeySha256":["abc"]}]', /64 hexadecimal digits/],
    [
      'one key hash for two suppliers',
      `[{"id":"x","name":"X","uploadKeySha256":["${'a'.repeat(64)}"]},{"id":"y","name":"Y","uploadKeySha256":["${'A'.repeat(64)}"]}]`,
      /1\.uploadKeySha256\.0: an upload key hash is listed twice/,
    ],
  ])('refuses %s with a message naming ZTP_SUPPLIERS', (_name, json, message) => {
    expect(() => loadSupplierPolicies(json)).toThrow(SupplierConfigError);
    expect(() => loadSupplierPolicies(json)).toThrow(/ZTP_SUPPLIERS/);
    expect(() => loadSupplierPolicies(json)).toThrow(message);
  });

  it('reads upload key hashes in lower case, several per supplier', () => {
    const [policy] = parseSupplierPolicies(`[{"id":"x","name":"X","uploadKeySha256":["${'AB'.repeat(32)}","${'0'.repeat(64)}"]}]`);
    expect(policy?.uploadKeySha256).toEqual(['ab'.repeat(32), '0'.repeat(64)]);
  });

  it('names a path that cannot be read', () => {
    expect(() => loadSupplierPolicies('/nonexistent/suppliers.json')).toThrow(
      /ZTP_SUPPLIERS names the file "\/nonexistent\/suppliers.json"/,
    );
  });
});

describe('supplier policy rules', () => {
  it('finds suppliers by exact id', () => {
    expect(findSupplier([CONTOSO], 'contoso')).toBe(CONTOSO);
    expect(findSupplier([CONTOSO], 'Contoso')).toBeUndefined();
  });

  it('gives a row without a tag the default, and passes allowed tags in the policy spelling', () => {
    expect(resolveGroupTag(CONTOSO, undefined)).toEqual({ ok: true, groupTag: 'MPS-STD' });
    expect(resolveGroupTag(CONTOSO, 'mps-kiosk')).toEqual({ ok: true, groupTag: 'MPS-KIOSK' });
    expect(resolveGroupTag({ ...CONTOSO, defaultGroupTag: undefined }, undefined)).toEqual({ ok: true, groupTag: undefined });
  });

  it('refuses a tag the supplier may not use', () => {
    const decision = resolveGroupTag(CONTOSO, 'MPS-ADMIN');
    expect(decision).toMatchObject({ ok: false, code: 'group-tag-not-allowed' });
    expect(!decision.ok && decision.message).toContain('MPS-STD, MPS-KIOSK');
    expect(isGroupTagAllowed(CONTOSO, 'MPS-ADMIN')).toBe(false);
  });

  it('allows any tag when the policy lists none, and checks nothing without a policy', () => {
    const open: SupplierPolicy = { id: 'open', name: 'Open', allowedGroupTags: [] };
    expect(resolveGroupTag(open, 'Anything-Goes')).toEqual({ ok: true, groupTag: 'Anything-Goes' });
    expect(isGroupTagAllowed(open, 'X')).toBe(true);
    expect(resolveGroupTag(undefined, 'whatever')).toEqual({ ok: true, groupTag: 'whatever' });
    expect(resolveGroupTag(undefined, undefined)).toEqual({ ok: true, groupTag: undefined });
  });
});
