import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { compileForNode, REPO_ROOT } from '../compile.js';
import type { WorkerMessage, WorkerProgress } from './protocol.js';

/** The benchmark's side of product-worker.ts: build it, start it, and read what it sends. */

const ENTRY = 'bench/pipeline/product-worker.ts';

/** The product runs as compiled JavaScript, as the function app does (bench/compile.ts says why); returns the file to run. */
export async function buildProductWorker(): Promise<string> {
  return (await compileForNode('ztp-bench-pipeline', [ENTRY])).pathOf(ENTRY);
}

export interface WorkerProcess {
  instance: number;
  child: ChildProcess;
  /** Every message but progress, in order. */
  messages: AsyncIterableIterator<WorkerMessage>;
}

export interface WorkerOptions {
  /** From buildProductWorker. */
  file: string;
  /** 0-based, of `instances`. */
  instance: number;
  instances: number;
  cpuProfDir: string | undefined;
  nodeArgs: readonly string[];
  heapProfileDir: string | undefined;
}

export function startWorker(
  env: Record<string, string>,
  options: WorkerOptions,
  onProgress: (progress: WorkerProgress) => void,
): WorkerProcess {
  const profile = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
  const child = spawn(process.execPath, [...options.nodeArgs, ...profile, options.file], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    env: {
      ...process.env,
      ...env,
      BENCH_INSTANCE: String(options.instance),
      BENCH_INSTANCES: String(options.instances),
      ...(options.heapProfileDir ? { BENCH_HEAP_PROFILE_DIR: options.heapProfileDir } : {}),
    },
  });
  // Outside the Functions host, @azure/functions warns once per registered function: noise here.
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (!/^WARNING: (Failed to detect the Azure Functions runtime|Skipping call to register function)/.test(line))
      process.stderr.write(`${line}\n`);
  });
  const queue: WorkerMessage[] = [];
  let wake: (() => void) | undefined;
  let exited = false;
  child.on('message', (message: WorkerMessage) => {
    // Progress goes straight to its listener, so that none is lost or held up behind the others.
    if (message.type === 'progress') onProgress(message);
    else queue.push(message);
    wake?.();
  });
  child.once('exit', () => {
    exited = true;
    wake?.();
  });
  const messages = (async function* () {
    for (;;) {
      const next = queue.shift();
      if (next) yield next;
      else if (exited) return;
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  })();
  return { instance: options.instance, child, messages };
}

export async function nextMessage<T extends WorkerMessage['type']>(
  messages: AsyncIterableIterator<WorkerMessage>,
  type: T,
): Promise<Extract<WorkerMessage, { type: T }>> {
  for (;;) {
    const { value, done } = await messages.next();
    if (done) throw new Error(`the product process ended before sending "${type}"`);
    if (value.type === type) return value as Extract<WorkerMessage, { type: T }>;
  }
}
