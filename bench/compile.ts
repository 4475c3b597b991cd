import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Compiles benchmark entry points and what they import to plain JavaScript, as the function
 * app runs: through tsx, a process carries ~35 MiB more and would overstate peak RSS. The
 * output sits under node_modules (in `node_modules/.cache/<name>`) so that package imports
 * resolve as they do in the repo; each benchmark has a folder of its own, so that two can run
 * at once.
 */

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface CompiledEntries {
  /** The compiled JavaScript of an entry, by its repo-relative .ts path. */
  pathOf(entry: string): string;
}

export async function compileForNode(name: string, entries: readonly string[]): Promise<CompiledEntries> {
  const buildDir = path.join(REPO_ROOT, 'node_modules', '.cache', name);
  const pathOf = (entry: string): string => path.join(buildDir, entry.replace(/\.ts$/, '.js'));
  await rm(buildDir, { recursive: true, force: true });
  await mkdir(buildDir, { recursive: true });
  const tsconfig = {
    extends: path.relative(buildDir, path.join(REPO_ROOT, 'tsconfig.json')),
    compilerOptions: { noEmit: false, sourceMap: false, rootDir: path.relative(buildDir, REPO_ROOT), outDir: '.' },
    files: entries.map((entry) => path.relative(buildDir, path.join(REPO_ROOT, entry))),
    include: [],
  };
  const project = path.join(buildDir, 'tsconfig.json');
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
  if (!entries.every((entry) => existsSync(pathOf(entry)))) throw new Error(`Compiling the benchmark workers failed:\n${output}`);
  if (code !== 0) console.warn(`Warning: the benchmark workers compiled with type errors:\n${output}`);
  return { pathOf };
}
