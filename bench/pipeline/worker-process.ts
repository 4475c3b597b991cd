import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { WorkerMessage, WorkerProgress } from './protocol.js';

/** The benchmark's side of product-worker.ts: start it, and read what it sends. */

const WORKER = fileURLToPath(new URL('./product-worker.ts', import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  messages: AsyncIterableIterator<WorkerMessage>;
  latest: () => WorkerProgress | undefined;
}

export function startWorker(env: Record<string, string>, cpuProfDir: string | undefined): WorkerProcess {
  const profile = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', WORKER], {
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  // Outside the Functions host, @azure/functions warns once per registered function: noise here.
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (!/^WARNING: (Failed to detect the Azure Functions runtime|Skipping call to register function)/.test(line))
      process.stderr.write(`${line}\n`);
  });
  const queue: WorkerMessage[] = [];
  let wake: (() => void) | undefined;
  let latest: WorkerProgress | undefined;
  let exited = false;
  child.on('message', (message: WorkerMessage) => {
    if (message.type === 'progress') latest = message;
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
  return { child, messages, latest: () => latest };
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
