import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SUPPLIER_KEY_USAGE } from '../../../cli/commands/supplier-key.js';
import { UPLOAD_USAGE } from '../../../cli/commands/upload.js';
import { main, USAGE } from '../../../cli/ztp.js';
import { parseSupplierPolicies } from '../../../shared/domain/suppliers.js';
import { supplierKeyring } from '../../../shared/domain/supplier-keys.js';
import { sampleHashFileBytes } from '../../../local/sample-data.js';

/** Everything here fails before any storage is contacted: no emulator needed. */

const emptyDir = mkdtempSync(join(tmpdir(), 'ztp-cli-'));

async function run(argv: string[], options: { env?: Record<string, string | undefined>; cwd?: string } = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env: options.env ?? {},
    cwd: options.cwd ?? emptyDir,
  });
  return { code, stdout, stderr };
}

describe('ztp dispatcher', () => {
  it('prints the usage on stderr and exits 2 without a command', async () => {
    const { code, stdout, stderr } = await run([]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(USAGE);
  });

  it.each([['help'], ['--help'], ['-h']])('prints the usage on stdout and exits 0 for %s', async (flag) => {
    const { code, stdout, stderr } = await run([flag]);
    expect(code).toBe(0);
    expect(stdout).toBe(USAGE);
    expect(stderr).toBe('');
  });

  it('names an unknown command, shows the usage and exits 2', async () => {
    const { code, stdout, stderr } = await run(['stauts', 'X']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('unknown command "stauts"');
    expect(stderr).toContain(USAGE);
  });

  it('does not treat inherited object properties as commands', async () => {
    expect((await run(['toString'])).code).toBe(2);
    expect((await run(['__proto__'])).code).toBe(2);
  });

  it('lists every command and the exit codes in the usage', () => {
    for (const command of [
      'validate <file>',
      'upload <file> --supplier <id>',
      'status <serial>',
      'batch <batchId>',
      'reprovision <serial>',
      'redrive <serial> | --batch <batchId>',
      'upload <file> --supplier <id> --url <origin>',
      'supplier-key <supplierId>',
    ])
      expect(USAGE).toContain(command);
    expect(USAGE).toMatch(/Exit codes: 0 .*1 .*\n2 /);
  });

  it.each([
    ['upload', UPLOAD_USAGE.trimEnd()],
    ['supplier-key', SUPPLIER_KEY_USAGE.trimEnd()],
    ['status', 'Usage: ztp status <serial> [--json]'],
    ['batch', 'Usage: ztp batch <batchId> [--json]\n       ztp batch <batchId> --watch [--interval <seconds>]'],
    ['validate', 'Usage: ztp validate <file> [--supplier <id>] [--json]'],
  ])('%s --help prints its usage on stdout and exits 0', async (command, usage) => {
    const { code, stdout } = await run([command, '--help']);
    expect(code).toBe(0);
    expect(stdout).toBe(`${usage}\n`);
  });

  it('delegates validate to the offline validator with its exit codes', async () => {
    const good = join(emptyDir, 'good.csv');
    writeFileSync(good, sampleHashFileBytes({ rows: 2, seed: 3 }).bytes);
    const accepted = await run(['validate', good, '--json']);
    expect(accepted.code).toBe(0);
    expect(JSON.parse(accepted.stdout)).toMatchObject({ summary: { total: 2, accepted: 2, rejected: 0 } });
    expect((await run(['validate', join(emptyDir, 'missing.csv')])).code).toBe(2);
  });
});

describe('ztp upload arguments', () => {
  const file = join(emptyDir, 'hashes.csv');
  writeFileSync(file, 'Device Serial Number,Windows Product ID,Hardware Hash\r\n');

  it.each([
    [[file], '--supplier <id> is required'],
    [[file, '--supplier', 'con/toso'], '"con/toso" is not a supplier id'],
    [[file, '--supplier=-contoso'], 'is not a supplier id'],
    [[file, '--supplier', 'a'.repeat(64)], 'is not a supplier id'],
    [[file, '--supplier', 'contoso', '--name', 'sub/dir.csv'], 'cannot be a blob file name'],
    [[file, '--supplier', 'contoso', '--name', '..'], 'cannot be a blob file name'],
    [[file, '--supplier', 'contoso', '--name', 'tab\there.csv'], 'cannot be a blob file name'],
    [['--supplier', 'contoso'], 'no file given'],
    [[file, file, '--supplier', 'contoso'], 'give exactly one file'],
    [[file, '--supplier', 'contoso', '--force'], "Unknown option '--force'"],
    [[file, '--supplier'], "Option '--supplier <value>' argument missing"],
    [[file, '--supplier', 'contoso', '--key', 'ztpk_x'], '--key goes with --url'],
    [[file, '--supplier', 'contoso', '--json'], '--json goes with --url'],
    [[file, '--supplier', 'contoso', '--url', 'ftp://example.com'], '--url must be an http or https URL'],
    [[file, '--supplier', 'contoso', '--url', 'http://127.0.0.1:1'], 'no upload key for supplier contoso'],
  ])('refuses %j with exit 2 and the usage', async (argv, message) => {
    const { code, stdout, stderr } = await run(['upload', ...argv]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).toContain('Usage: ztp upload');
  });

  it('accepts supplier ids with letters, digits, dots, underscores and hyphens (then needs storage)', async () => {
    const { code, stderr } = await run(['upload', file, '--supplier', 'Contoso_2.eu-west']);
    expect(code).toBe(2);
    expect(stderr).toContain('no storage to talk to');
  });

  it('refuses a file that does not exist, and a folder, before looking for storage', async () => {
    const missing = await run(['upload', join(emptyDir, 'nope.csv'), '--supplier', 'contoso']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`ztp upload: cannot read ${join(emptyDir, 'nope.csv')}: no such file\n`);
    const folder = await run(['upload', emptyDir, '--supplier', 'contoso']);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain('it is a folder, not a file');
  });

  it('reads a relative file name from the working directory it is given', async () => {
    const missing = await run(['upload', 'hashes-elsewhere.csv', '--supplier', 'contoso']);
    expect(missing.stderr).toContain('no such file');
    const found = await run(['upload', 'hashes.csv', '--supplier', 'contoso']);
    expect(found.stderr).toContain('no storage to talk to');
  });
});

describe('ztp status and batch arguments', () => {
  it.each([
    [['status'], 'no serial number given'],
    [['status', 'A', 'B'], 'give exactly one serial number'],
    [['status', '  '], 'the serial number is empty'],
    [['status', 'A', '--yaml'], "Unknown option '--yaml'"],
    [['batch'], 'no batch id given'],
    [['batch', 'abc', '--json=yes'], "Option '--json' does not take an argument"],
  ])('refuses %j with exit 2 and the usage', async (argv, message) => {
    const { code, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).toContain(`Usage: ztp ${argv[0]}`);
  });
});

describe('finding storage', () => {
  it.each([
    ['status', 'SER-1'],
    ['batch', 'b1'],
    ['upload', 'hashes.csv', '--supplier', 'contoso'],
  ])('%s exits 2 and says how to get storage when there is none', async (...argv) => {
    const { code, stdout, stderr } = await run(argv);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('AzureWebJobsStorage is not set and no running local stack was found');
    expect(stderr).toContain('npm start');
  });

  it('ignores an empty AzureWebJobsStorage', async () => {
    const { code, stderr } = await run(['status', 'SER-1'], { env: { AzureWebJobsStorage: '  ' } });
    expect(code).toBe(2);
    expect(stderr).toContain('no running local stack was found');
  });

  it('exits 2 with one line for a connection string the SDK cannot use, without echoing it', async () => {
    const secret = 'not-a-connection-string-SECRETKEY';
    const { code, stderr } = await run(['status', 'SER-1'], { env: { AzureWebJobsStorage: secret } });
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^ztp status: the connection string of storage account \(unnamed\) \(AzureWebJobsStorage\) cannot be used \(.+\)\n$/,
    );
    expect(stderr).not.toContain('SECRETKEY');
  });

  it('recognises an endpoints file left behind by a stack that is no longer running', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ztp-stale-'));
    const exited = spawnSync(process.execPath, ['-e', '']);
    mkdirSync(join(root, '.local'));
    writeFileSync(
      join(root, '.local', 'stack.json'),
      JSON.stringify({
        storageConnectionString: 'UseDevelopmentStorage=true',
        serviceBusConnectionString: 'x',
        apiBaseUrl: 'http://127.0.0.1:7071/api',
        pid: exited.pid,
      }),
    );
    const { code, stderr } = await run(['status', 'SER-1'], { cwd: root });
    expect(code).toBe(2);
    expect(stderr).toContain(`was left by a local stack that is no longer running (process ${exited.pid})`);
    expect(stderr).toContain('npm start');
  });

  it('exits 2 naming a damaged endpoints file', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ztp-damaged-'));
    mkdirSync(join(root, '.local'));
    writeFileSync(join(root, '.local', 'stack.json'), '{"storageConnectionString": ');
    const { code, stderr } = await run(['batch', 'b1'], { cwd: join(root, '.local') });
    expect(code).toBe(2);
    expect(stderr).toContain(join(root, '.local', 'stack.json'));
    expect(stderr).toContain('is not JSON');
  });
});

describe('ztp supplier-key', () => {
  it('prints a new key once, with the hash that lets it in once the policy lists it', async () => {
    const { code, stdout, stderr } = await run(['supplier-key', 'contoso']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const key = /^ {2}key {5}(ztpk_[A-Za-z0-9_-]{43})$/m.exec(stdout)?.[1];
    const sha256 = /^ {2}sha256 {2}([0-9a-f]{64})$/m.exec(stdout)?.[1];
    expect(key).toBeDefined();
    expect(stdout).toContain(`"uploadKeySha256": ["${sha256}"]`);
    const policies = parseSupplierPolicies(`[{"id": "contoso", "name": "Contoso", "uploadKeySha256": ["${sha256}"]}]`);
    expect(supplierKeyring(policies).supplierOf(key)?.id).toBe('contoso');
  });

  it('prints JSON with --json, a different key every time', async () => {
    const first = JSON.parse((await run(['supplier-key', 'fabrikam', '--json'])).stdout) as {
      supplierId: string;
      key: string;
      sha256: string;
    };
    const second = JSON.parse((await run(['supplier-key', 'fabrikam', '--json'])).stdout) as { key: string };
    expect(first).toMatchObject({
      supplierId: 'fabrikam',
      key: expect.stringMatching(/^ztpk_/),
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(second.key).not.toBe(first.key);
  });

  it.each([[[]], [['con/toso']], [['a', 'b']]])('refuses %j with exit 2 and the usage', async (argv) => {
    const { code, stderr } = await run(['supplier-key', ...argv]);
    expect(code).toBe(2);
    expect(stderr).toContain('Usage: ztp supplier-key');
  });
});
