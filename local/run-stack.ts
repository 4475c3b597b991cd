import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { ConfigError } from '../shared/errors.js';
import { createLogger } from '../shared/log.js';
import { loadConfig } from '../shared/config.js';
import { createRuntime, useRuntime, type Runtime } from '../shared/runtime.js';
import { DevHost } from './dev-host/index.js';
import { FUNCTIONS } from './functions.js';
import { startGraphSimulator, type GraphSimulator } from './graph-simulator/index.js';
import { startLocalInfrastructure, type LocalInfrastructure } from './stack.js';
import { removeStackEndpoints, writeStackEndpoints } from '../cli/stack-endpoints.js';
import { demoSupplierPolicy, LOCAL_HOST_ID, localTimeScale, SIMULATOR_PROFILE_RULES } from './local-settings.js';

/**
 * The whole product on one machine: Azurite and the Service Bus test broker (unless
 * connection settings point at Azure), the Graph simulator (unless GRAPH_BASE_URL points
 * elsewhere), and the dev host running every function definition the Functions host gets.
 * `npm start` and `npm run demo` both run it.
 */

export interface RunningStack {
  readonly runtime: Runtime;
  readonly host: DevHost;
  readonly simulator: GraphSimulator | undefined;
  readonly infrastructure: LocalInfrastructure | undefined;
  readonly apiBaseUrl: string;
  readonly storageConnectionString: string;
  readonly serviceBusConnectionString: string;
  readonly graphBaseUrl: string;
  readonly timeScale: number;
  /** Upload keys of the demo suppliers by id; none when ZTP_SUPPLIERS names the suppliers. */
  readonly supplierKeys: Readonly<Record<string, string>>;
  readonly endpointsFile: string;
  readonly logFile: string;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** The repository root: `.local/` goes here. */
  readonly root: string;
  /** Settings, normally process.env. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where readable lifecycle lines go (stdout for `npm start`); JSON lines always go to .local/stack.log. */
  readonly console?: (line: string) => void;
  /** Simulator serials that end in 808 (the demo uses one). */
  readonly otherTenantSerials?: readonly string[];
}

export async function startStack(options: StackOptions): Promise<RunningStack> {
  const env = options.env;
  const localDir = path.join(options.root, '.local');
  mkdirSync(localDir, { recursive: true });
  const logFile = path.join(localDir, 'stack.log');
  const logStream = createWriteStream(logFile, { flags: 'a' });
  // The stack is the host here: it reads LOG_LEVEL as the Functions host hands it to the app.
  const log = stackLogger(logStream, env.LOG_LEVEL?.trim() || 'info', options.console);

  const useAzure =
    Boolean(env.AzureWebJobsStorage) && Boolean(env.ServiceBusConnection || env.ServiceBusConnection__fullyQualifiedNamespace);
  const infrastructure = useAzure ? undefined : await startLocalInfrastructure();
  const stops: (() => Promise<unknown>)[] = [];
  if (infrastructure) stops.push(() => infrastructure.stop());

  try {
    const timeScale = localTimeScale(env);
    let simulator: GraphSimulator | undefined;
    let graphEnv: Record<string, string> = {};
    if (!env.GRAPH_BASE_URL) {
      const token = `local-${randomUUID()}`;
      simulator = await startGraphSimulator({
        token,
        clock: { timeScale },
        profileRules: SIMULATOR_PROFILE_RULES,
        otherTenantSerials: [...(options.otherTenantSerials ?? [])],
      });
      stops.unshift(() => simulator!.stop());
      graphEnv = { GRAPH_BASE_URL: simulator.baseUrl, GRAPH_STATIC_TOKEN: token };
    }

    // Published in .local/stack.json, so `ztp reprovision` signs for this stack with no settings.
    const webhookSecret = env.REPROVISION_WEBHOOK_SECRET?.trim() || `local-${randomUUID()}`;
    // Published likewise, so the upload API can be tried at once: only with the demo policy.
    const demo = env.ZTP_SUPPLIERS ? undefined : demoSupplierPolicy();
    const settings: Record<string, string> = {};
    for (const [key, value] of Object.entries(env)) if (value !== undefined) settings[key] = value;
    const config = loadConfig({
      ...settings,
      ...(infrastructure
        ? { AzureWebJobsStorage: infrastructure.storageConnectionString, ServiceBusConnection: infrastructure.serviceBusConnectionString }
        : {}),
      ...graphEnv,
      ZTP_TIME_SCALE: String(timeScale),
      REPROVISION_WEBHOOK_SECRET: webhookSecret,
      ZTP_SUPPLIERS: env.ZTP_SUPPLIERS ?? demo!.policy,
    });
    // The dev host watches blobs and the CLI reads the stack file with a connection string.
    if (!('connectionString' in config.storage)) {
      throw new ConfigError('AzureWebJobsStorage', 'the local stack needs a storage connection string, not an identity-based connection');
    }
    const storageConnectionString = config.storage.connectionString;
    const runtime = await createRuntime(config, log);
    useRuntime(runtime);
    stops.unshift(() => runtime.close());

    const host = new DevHost({
      serviceBusConnectionString: 'connectionString' in config.serviceBus ? config.serviceBus.connectionString : '',
      storageConnectionString,
      log,
      httpPort: Number(env.ZTP_API_PORT ?? 7071),
      timeScale,
      hostId: LOCAL_HOST_ID,
    });
    for (const fn of FUNCTIONS) {
      if (fn.trigger === 'blob') host.storageBlob(fn.name, fn.options);
      else if (fn.trigger === 'serviceBus') host.serviceBusQueue(fn.name, fn.options);
      else if (fn.trigger === 'http') host.http(fn.name, fn.options);
      else host.timer(fn.name, fn.options);
    }
    await host.start();
    stops.unshift(() => host.stop());
    // The first dependency check now rather than at the first timer run: liveness has a result from the start.
    await runtime.health.refresh();
    const apiBaseUrl = `${host.httpBaseUrl ?? `http://127.0.0.1:${env.ZTP_API_PORT ?? 7071}`}/api`;

    const serviceBusConnectionString = 'connectionString' in config.serviceBus ? config.serviceBus.connectionString : '';
    const endpointsFile = await writeStackEndpoints(options.root, {
      storageConnectionString,
      serviceBusConnectionString,
      apiBaseUrl,
      graphBaseUrl: config.graph.baseUrl,
      webhookSecret,
      ...(demo ? { supplierKeys: demo.keys } : {}),
      pid: process.pid,
      startedAt: new Date().toISOString(),
    });

    let stopped: Promise<void> | undefined;
    return {
      runtime,
      host,
      simulator,
      infrastructure,
      apiBaseUrl,
      storageConnectionString,
      serviceBusConnectionString,
      graphBaseUrl: config.graph.baseUrl,
      timeScale,
      supplierKeys: demo?.keys ?? {},
      endpointsFile,
      logFile,
      stop() {
        stopped ??= (async () => {
          await removeStackEndpoints(options.root);
          for (const stop of stops) await stop().catch(() => undefined);
          await new Promise<void>((resolve) => logStream.end(() => resolve()));
        })();
        return stopped;
      },
    };
  } catch (error) {
    for (const stop of stops) await stop().catch(() => undefined);
    logStream.end();
    throw error;
  }
}

/** JSON lines to the log file; readable lifecycle lines to the console. */
function stackLogger(file: WriteStream, level: string, console?: (line: string) => void): Logger {
  // Each stream at the logger's level: a multistream entry without one takes info, and LOG_LEVEL=debug would write nothing more.
  const streams: { level: string; stream: NodeJS.WritableStream }[] = [{ level, stream: file }];
  if (console) {
    streams.push({
      level,
      stream: new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const text of chunk.toString().split('\n')) {
            if (!text.trim()) continue;
            const line = readable(JSON.parse(text) as Record<string, unknown>);
            if (line) console(line);
          }
          done();
        },
      }),
    });
  }
  return createLogger({ level }, pino.multistream(streams));
}

const QUIET = new Set(['pipeline.import-poll', 'pipeline.autopilot-poll', 'devhost.receiver-error', 'devhost.blob-poll-failed']);

/** One readable line per interesting event, pino-pretty style. */
export function readable(entry: Record<string, unknown>): string | undefined {
  const event = String(entry.event ?? '');
  const time = String(entry.time ?? '').slice(11, 19);
  if (QUIET.has(event)) return undefined;
  if (event === 'device.transition') {
    const from = entry.from === null ? 'new' : String(entry.from);
    const detail = entry.detail ? ` ${JSON.stringify(entry.detail)}` : '';
    return `${time} ${String(entry.serial).padEnd(16)} ${from} -> ${String(entry.to)} (${String(entry.reason)})${detail}`;
  }
  if (event === 'batch.completed')
    return `${time} batch ${String(entry.batchId)} from ${String(entry.supplier)} done: ${JSON.stringify(entry.counts)}`;
  if (event.startsWith('batch.')) return `${time} ${event} ${String(entry.batchId ?? '')} ${String(entry.msg ?? '')}`.trim();
  const level = String(entry.level ?? 'info');
  if (level === 'warn' || level === 'error' || level === 'fatal')
    return `${time} ${level.toUpperCase()} ${event} ${String(entry.msg ?? '')}`;
  if (event === 'message.rescheduled' || event === 'deadletter.found') return `${time} ${event} ${String(entry.msg ?? '')}`;
  return undefined;
}
