import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sampleHashFileBytes } from '../../local/sample-data.js';

/**
 * `npm start` as a user runs it: a child process; a file uploaded with `ztp upload`; the
 * status API polled until every device is enrolled; Ctrl-C; no process left behind.
 */

const repo = path.resolve(__dirname, '..', '..');

function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'ztp-start-'));
  let child: ChildProcess | undefined;
  let output = '';

  afterAll(() => {
    if (child?.pid && groupAlive(child.pid)) process.kill(-child.pid, 'SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  it('runs the whole product: upload with ztp, devices enrolled per the status API, clean shutdown', { timeout: 180_000 }, async () => {
    const env = {
      ...process.env,
      ZTP_LOCAL_ROOT: root,
      ZTP_API_PORT: '0',
      ZTP_TIME_SCALE: '600',
      AzureWebJobsStorage: '',
      ServiceBusConnection: '',
      GRAPH_BASE_URL: '',
    };
    child = spawn('npm', ['start'], { cwd: repo, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));

    const endpointsFile = path.join(root, '.local', 'stack.json');
    const until = Date.now() + 60_000;
    while (!output.includes('ztp local stack is running')) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`the stack did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const endpoints = JSON.parse(readFileSync(endpointsFile, 'utf8')) as { apiBaseUrl: string; pid: number };
    // No alarming noise for a newcomer: the Functions host's registration warnings are held back, and said once in words.
    expect(output).not.toContain('WARNING');
    expect(output).toMatch(/Functions +all \d+ of the app, run by the local dev host/);

    const file = sampleHashFileBytes({ rows: 5, seed: 31, groupTags: ['MPS-STD'] }, 'utf-16le');
    const csvPath = path.join(root, 'delivery.csv');
    writeFileSync(csvPath, file.bytes);
    const upload = await run(process.execPath, [path.join(repo, 'bin', 'ztp.js'), 'upload', csvPath, '--supplier', 'demo'], {
      cwd: root,
      env: { ...env },
    });
    expect(upload.code, upload.stderr).toBe(0);

    const serials = file.rows.map((row) => row.device.serialNumber);
    const stateOf = async (serial: string): Promise<string> => {
      const response = await fetch(`${endpoints.apiBaseUrl}/devices/${encodeURIComponent(serial)}`);
      if (response.status === 404) return 'unknown';
      const body = (await response.json()) as { device: { state: string } };
      return body.device.state;
    };
    const deadline = Date.now() + 120_000;
    let states: string[] = [];
    while (Date.now() < deadline) {
      states = await Promise.all(serials.map(stateOf));
      if (states.every((state) => state === 'enrolled')) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(states).toEqual(serials.map(() => 'enrolled'));
    const detail = (await (await fetch(`${endpoints.apiBaseUrl}/devices/${encodeURIComponent(serials[0]!)}`)).json()) as {
      history: { to: string }[];
    };
    expect(detail.history.map((event) => event.to)).toEqual(['received', 'importing', 'registered', 'profile-assigned', 'enrolled']);
    expect(output).toContain('-> enrolled (enrolled)');

    // The upload API as the banner shows it, with the key it prints: the same file from the same supplier is the same batch.
    const curl = /curl -T \S+ -H "Authorization: Bearer (\S+)" (\S+)\/suppliers\/demo\/files\/\S+/.exec(output);
    expect(curl, 'the banner shows how to upload with curl').not.toBeNull();
    expect(curl![2]).toBe(endpoints.apiBaseUrl);
    const viaApi = await fetch(`${endpoints.apiBaseUrl}/suppliers/demo/files/delivery-again.csv`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${curl![1]}` },
      body: file.bytes,
    });
    expect(viaApi.status).toBe(202);
    expect(upload.stdout).toContain(`Batch:  ${((await viaApi.json()) as { batchId: string }).batchId}`);
    expect(output).not.toContain('HTTP streaming enabled');

    process.kill(-child.pid!, 'SIGINT');
    await new Promise<void>((resolve) => child!.once('exit', () => resolve()));
    const stopBy = Date.now() + 15_000;
    while (groupAlive(child.pid!) && Date.now() < stopBy) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(groupAlive(child.pid!), 'processes left behind').toBe(false);
    expect(existsSync(endpointsFile)).toBe(false);
    expect(output).toContain('stopped.');
  });
});
