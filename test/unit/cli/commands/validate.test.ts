import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runValidate } from '../../../../cli/commands/validate.js';
import { encodeHardwareHashBase64 } from '../../../../shared/domain/hardware-hash.js';
import { encodeText } from '../../../../shared/domain/hash-file/index.js';
import { sampleHashFileBytes } from '../../../../local/sample-data.js';

const dir = mkdtempSync(join(tmpdir(), 'ztp-validate-'));
const SUPPLIERS = '[{"id":"contoso","name":"Contoso Ltd","allowedGroupTags":["MPS-STD","MPS-KIOSK"],"defaultGroupTag":"MPS-STD"}]';

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const hash = (serialNumber: string) =>
  encodeHardwareHashBase64({ serialNumber, manufacturer: 'HP', model: 'HP EliteBook 840 G10', tpmVersion: '2.0', targetBytes: 2000 });

async function run(argv: string[], env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runValidate(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), env });
  return { code, stdout, stderr };
}

const good = file('good.csv', sampleHashFileBytes({ rows: 3, seed: 8, groupTags: ['MPS-STD'] }, 'utf-16le').bytes);
const mixed = file(
  'mixed.csv',
  encodeText(
    [
      'Device Serial Number,Windows Product ID,Hardware Hash,Group Tag',
      `5CG3281KXZ,,${hash('5CG3281KXZ')},MPS-KIOSK`,
      `5CG3281KXY,,${hash('5CG0000000')},`,
      `5CG3281KXW,,${encodeHardwareHashBase64({ serialNumber: '5CG3281KXW', manufacturer: 'HP', model: 'HP EliteBook', targetBytes: 2000 })},MPS-OTHER`,
      '',
    ].join('\r\n'),
    'utf-8-bom',
  ),
);

describe('ztp validate', () => {
  it('exits 0 and prints the contract JSON when every row is accepted', async () => {
    const { code, stdout, stderr } = await run([good, '--json']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const output = JSON.parse(stdout);
    expect(Object.keys(output)).toEqual(['format', 'encoding', 'rows', 'summary']);
    expect(output).toMatchObject({ format: 'intune', encoding: 'utf-16le', summary: { total: 3, accepted: 3, rejected: 0 } });
    expect(output.rows).toHaveLength(3);
    expect(Object.keys(output.rows[0])).toEqual(['line', 'serialNumber', 'status', 'errors', 'warnings']);
    expect(output.rows[0]).toMatchObject({ line: 2, status: 'accepted', errors: [], warnings: [] });
  });

  it('exits 1 and lists every rejected row with codes and messages', async () => {
    const { code, stdout } = await run(['--json', mixed]);
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toEqual({
      format: 'intune',
      encoding: 'utf-8-bom',
      rows: [
        { line: 2, serialNumber: '5CG3281KXZ', status: 'accepted', errors: [], warnings: [] },
        {
          line: 3,
          serialNumber: '5CG3281KXY',
          status: 'rejected',
          errors: [{ code: 'hash-serial-mismatch', message: expect.stringContaining('5CG0000000') }],
          warnings: [],
        },
        {
          line: 4,
          serialNumber: '5CG3281KXW',
          status: 'accepted',
          errors: [],
          warnings: [{ code: 'no-tpm', message: expect.stringMatching(/TPM/) }],
        },
      ],
      summary: { total: 3, accepted: 2, rejected: 1 },
    });
  });

  it('checks the supplier policy from ZTP_SUPPLIERS only with --supplier', async () => {
    const { code, stdout } = await run([mixed, '--supplier', 'contoso', '--json'], { ZTP_SUPPLIERS: SUPPLIERS });
    expect(code).toBe(1);
    const rows = JSON.parse(stdout).rows as { errors: { code: string }[] }[];
    expect(rows.map((row) => row.errors.map((error) => error.code))).toEqual([[], ['hash-serial-mismatch'], ['group-tag-not-allowed']]);
    const policyFile = file('suppliers.json', SUPPLIERS);
    expect((await run([good, '--supplier=contoso'], { ZTP_SUPPLIERS: policyFile })).code).toBe(0);
  });

  it('exits 2 for an unknown supplier or bad supplier configuration, naming the problem', async () => {
    const unknown = await run([good, '--supplier', 'fabrikam'], { ZTP_SUPPLIERS: SUPPLIERS });
    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toContain('unknown supplier "fabrikam"; configured suppliers: contoso');
    const broken = await run([good, '--supplier', 'contoso'], { ZTP_SUPPLIERS: '[{"id":"x"}]' });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/ZTP_SUPPLIERS is not a valid supplier list/);
  });

  it('exits 2 when the file cannot be read at all, with the file-level reason in JSON', async () => {
    const garbage = file('garbage.csv', Buffer.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 0, 0, 9]));
    const unreadable = await run([garbage, '--json']);
    expect(unreadable.code).toBe(2);
    expect(JSON.parse(unreadable.stdout)).toEqual({
      format: null,
      encoding: 'utf-8',
      rows: [],
      summary: { total: 0, accepted: 0, rejected: 0 },
      error: { code: 'unreadable-file', message: expect.stringMatching(/Excel workbook/), line: 1 },
    });
    const missing = await run([join(dir, 'does-not-exist.csv'), '--json']);
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout).error).toMatchObject({ code: 'unreadable-file', message: expect.stringMatching(/ENOENT/) });
  });

  it('exits 2 when the header has unknown columns (the whole file is rejected)', async () => {
    const path = file('extra.csv', `Device Serial Number,Windows Product ID,Hardware Hash,Notes\nSN1,,${hash('SN1')},x\n`);
    const { code, stdout } = await run([path]);
    expect(code).toBe(2);
    expect(stdout).toContain('The whole file is rejected (line 1): too-many-columns');
    expect(stdout).toContain('"Notes"');
  });

  it('prints a readable report without --json: problems per line, then a summary', async () => {
    const { code, stdout } = await run([mixed]);
    expect(code).toBe(1);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`${mixed}: Intune format, UTF-8 with BOM`);
    expect(lines[1]).toBe('line 3 (serial 5CG3281KXY): rejected');
    expect(lines[2]).toMatch(/^ {4}hash-serial-mismatch: The hardware hash was captured on the device with serial number "5CG0000000"/);
    expect(lines[3]).toBe('line 4 (serial 5CG3281KXW): accepted');
    expect(lines[4]).toMatch(/^ {4}warning no-tpm: /);
    expect(lines.at(-1)).toBe('3 rows: 2 accepted, 1 rejected.');
    expect(stdout).not.toContain('5CG3281KXZ'); // rows without remarks are only counted
  });

  it('never lets control characters from the file reach the terminal', async () => {
    const path = file('escape.csv', `Device Serial Number,Windows Product ID,Hardware Hash\n"SN\u001b[2J1",,x\n`);
    const { stdout } = await run([path]);
    expect(stdout).not.toContain('\u001b');
    expect(stdout).toContain('serial SN\\x1b[2J1');
  });

  it('exits 2 with usage on bad arguments', async () => {
    for (const argv of [[], [good, mixed], [good, '--frobnicate']]) {
      const { code, stderr } = await run(argv);
      expect(code).toBe(2);
      expect(stderr).toContain('Usage: ztp validate <file> [--supplier <id>] [--json]');
    }
    expect((await run(['--help'])).code).toBe(0);
  });
});
