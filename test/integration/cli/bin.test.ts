import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { BlobStore } from '../../../shared/adapters/blobs/blob-store.js';

/** The installed command as a user runs it: a child process, exit codes and all. */

const bin = fileURLToPath(new URL('../../../bin/ztp.js', import.meta.url));

function ztp(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr });
      },
    );
  });
}

describe('bin/ztp.js', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'ztp-bin-'));

  it('exits 2 with the usage on stderr when run without a command', async () => {
    const { code, stdout, stderr } = await ztp([], {}, cwd);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^Usage: ztp <command>/);
  });

  it('uploads a file and exits 0, then exits 2 for a file that is not there', async () => {
    const connectionString = inject('storageConnectionString');
    const supplier = `bin-${randomUUID().slice(0, 8)}`;
    writeFileSync(join(cwd, 'hashes.csv'), 'Device Serial Number,Windows Product ID,Hardware Hash\r\n');

    const uploaded = await ztp(['upload', 'hashes.csv', '--supplier', supplier], { AzureWebJobsStorage: connectionString }, cwd);
    expect(uploaded.stderr).toBe('');
    expect(uploaded.code).toBe(0);
    expect(uploaded.stdout).toContain(`hash-uploads/${supplier}/hashes.csv`);
    expect(await BlobStore.connect(connectionString).info('hash-uploads', `${supplier}/hashes.csv`)).toMatchObject({
      size: 55,
    });

    const missing = await ztp(['upload', 'gone.csv', '--supplier', supplier], { AzureWebJobsStorage: connectionString }, cwd);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('ztp upload: cannot read gone.csv: no such file\n');
  });
});
