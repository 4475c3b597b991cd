import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HeapPeak } from './protocol.js';

/**
 * A V8 sampling heap profile of this process taken at its peak RSS. Node's own `--heap-prof`
 * writes its profile at exit, when what made the peak has long been collected; here the
 * sampling profiler runs from the start and a profile is taken each time RSS passes the
 * last capture by STEP, so the one kept is within STEP of the peak (sampled once a second).
 */

const MIB = 1024 * 1024;
const STEP = 8 * MIB;
/** Bytes between samples: coarse enough to cost little, fine enough for sites of a few MiB. */
const SAMPLING_INTERVAL = 256 * 1024;
const REPO = fileURLToPath(new URL('../../', import.meta.url));

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

interface Capture {
  profile: { head: ProfileNode };
  at: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

export interface HeapPeakRecorder {
  /** Writes the profile taken nearest the peak and returns its summary. */
  stop(): Promise<HeapPeak | undefined>;
}

export async function startHeapPeakRecorder(dir: string, instance: number): Promise<HeapPeakRecorder> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: SAMPLING_INTERVAL });
  let captured: Capture | undefined;
  let busy = false;
  const timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (busy || (captured && rss < captured.rss + STEP)) return;
    busy = true;
    void session
      .post('HeapProfiler.getSamplingProfile')
      .then(({ profile }) => {
        const memory = process.memoryUsage();
        captured = {
          profile: profile as unknown as Capture['profile'],
          at: Date.now(),
          rss,
          heapUsed: memory.heapUsed,
          heapTotal: memory.heapTotal,
          external: memory.external,
        };
      })
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, 1_000);
  timer.unref();

  return {
    async stop() {
      clearInterval(timer);
      await session.post('HeapProfiler.stopSampling').catch(() => undefined);
      session.disconnect();
      if (!captured) return undefined;
      mkdirSync(dir, { recursive: true });
      const file = path.resolve(dir, `instance-${instance}-peak.heapprofile`);
      writeFileSync(file, JSON.stringify(captured.profile));
      const { sites, modules } = summarise(captured.profile.head);
      return {
        file,
        at: captured.at,
        rssMib: captured.rss / MIB,
        heapUsedMib: captured.heapUsed / MIB,
        heapTotalMib: captured.heapTotal / MIB,
        externalMib: captured.external / MIB,
        topSites: top(sites, 12).map(([site, bytes]) => ({ site, mib: bytes / MIB })),
        topModules: top(modules, 10).map(([module, bytes]) => ({ module, mib: bytes / MIB })),
      };
    },
  };
}

function top(sizes: Map<string, number>, count: number): [string, number][] {
  return [...sizes.entries()].sort((a, b) => b[1] - a[1]).slice(0, count);
}

/** Sampled live bytes by the function that allocated them, and by the package or product folder it is in. */
function summarise(head: ProfileNode): { sites: Map<string, number>; modules: Map<string, number> } {
  const sites = new Map<string, number>();
  const modules = new Map<string, number>();
  const stack = [head];
  for (let node = stack.pop(); node; node = stack.pop()) {
    stack.push(...node.children);
    if (node.selfSize === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = shortUrl(url);
    const site = `${functionName || '(anonymous)'}${where ? ` ${where}:${lineNumber + 1}` : ''}`;
    sites.set(site, (sites.get(site) ?? 0) + node.selfSize);
    const module = moduleOf(where, functionName);
    modules.set(module, (modules.get(module) ?? 0) + node.selfSize);
  }
  return { sites, modules };
}

function shortUrl(url: string): string {
  let file = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (file.startsWith(REPO)) file = file.slice(REPO.length);
  const inModules = file.lastIndexOf('node_modules/');
  return inModules >= 0 ? file.slice(inModules) : file;
}

function moduleOf(where: string, functionName: string): string {
  if (where === '') return functionName.startsWith('(') ? functionName : '(V8 and native)';
  if (where.startsWith('node:')) return 'Node.js';
  const parts = where.split('/');
  if (parts[0] === 'node_modules') return parts[1]?.startsWith('@') ? `${parts[1]}/${parts[2]}` : (parts[1] ?? where);
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : (parts[0] ?? where);
}
