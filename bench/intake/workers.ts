import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESULT_PREFIX } from './common.js';

/** How the benchmark's parent builds and runs its measuring child processes. */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface WorkerOptions {
  args?: readonly string[];
  env?: Readonly<Record<string, string>>;
  /** Run on CPU 0 only (taskset), so "rows/s" means one core even counting GC threads. */
  pinToOneCore?: boolean;
  timeoutMs?: number;
  /** Extra Node options, e.g. --cpu-prof. */
  nodeOptions?: readonly string[];
}

export function canPinToOneCore(): boolean {
  return process.platform === 'linux' && existsSync('/usr/bin/taskset');
}

const BUILD_DIR = path.join(REPO_ROOT, 'node_modules', '.cache', 'ztp-bench');
const WORKERS = ['parse-worker', 'e2e-worker'] as const;
export type WorkerName = (typeof WORKERS)[number];

const workerPath = (name: WorkerName): string => path.join(BUILD_DIR, 'bench', 'intake', `${name}.js`);

/**
 * Compiles the workers and what they import to plain JavaScript, as the function app runs:
 * through tsx, a process carries ~35 MiB more and would overstate the intake's peak RSS.
 * The output sits under node_modules so that package imports resolve as they do in the repo.
 */
export async function buildWorkers(): Promise<void> {
  await rm(BUILD_DIR, { recursive: true, force: true });
  await mkdir(BUILD_DIR, { recursive: true });
  const tsconfig = {
    extends: path.relative(BUILD_DIR, path.join(REPO_ROOT, 'tsconfig.json')),
    compilerOptions: { noEmit: false, sourceMap: false, rootDir: path.relative(BUILD_DIR, REPO_ROOT), outDir: '.' },
    files: WORKERS.map((name) => path.relative(BUILD_DIR, path.join(REPO_ROOT, 'bench', 'intake', `${name}.ts`))),
    include: [],
  };
  const project = path.join(BUILD_DIR, 'tsconfig.json');
  await writeFile(project, JSON.stringify(tsconfig, null, 2));
  const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', project], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve({ code: exitCode, output: text }));
  });
  // tsc still emits when some imported file has a type error; measure that code, but say so.
  const built = WORKERS.every((name) => existsSync(workerPath(name)));
  if (!built) throw new Error(`Compiling the benchmark workers failed:\n${output}`);
  if (code !== 0) console.warn(`Warning: the benchmark workers compiled with type errors:\n${output}`);
}

/**
 * Runs a compiled worker in a fresh Node process and returns its result: each
 * measurement gets its own process, so one measurement's heap never inflates another's peak RSS.
 */
export function runWorker<T>(worker: WorkerName, options: WorkerOptions = {}): Promise<T> {
  const node = [process.execPath, ...(options.nodeOptions ?? []), workerPath(worker), ...(options.args ?? [])];
  const [command, ...args] = options.pinToOneCore && canPinToOneCore() ? ['/usr/bin/taskset', '--cpu-list', '0', ...node] : node;
  const label = `${worker} ${(options.args ?? []).join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn(command!, args, { cwd: REPO_ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    const timeoutMs = options.timeoutMs ?? 10 * 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label} took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((text) => text.startsWith(RESULT_PREFIX));
      if (code !== 0 || line === undefined) {
        reject(new Error(`${label} failed (exit ${code ?? signal}). Output:\n${stdout.slice(-4000)}`));
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as T);
    });
  });
}
