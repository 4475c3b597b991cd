import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { compileForNode, REPO_ROOT, type CompiledEntries } from '../compile.js';
import { RESULT_PREFIX } from './common.js';

/** How the benchmark's parent builds and runs its measuring child processes. */

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

const WORKERS = ['parse-worker', 'e2e-worker'] as const;
export type WorkerName = (typeof WORKERS)[number];

const entryOf = (name: WorkerName): string => `bench/intake/${name}.ts`;
let compiled: CompiledEntries | undefined;
const workerPath = (name: WorkerName): string => {
  if (!compiled) throw new Error('buildWorkers() first');
  return compiled.pathOf(entryOf(name));
};

/** Compiles the workers to plain JavaScript (bench/compile.ts says why). */
export async function buildWorkers(): Promise<void> {
  compiled = await compileForNode('ztp-bench', WORKERS.map(entryOf));
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
