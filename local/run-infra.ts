import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startGraphSimulator, type GraphSimulator, type GraphSimulatorOptions } from './graph-simulator/index.js';
import { demoSupplierPolicy, localTimeScale, SIMULATOR_PROFILE_RULES } from './local-settings.js';
import { startLocalInfrastructure, type LocalInfrastructure } from './stack.js';

/**
 * `npm run infra`: what the app runs on, without the app: Azurite, the Service Bus test broker
 * and (unless GRAPH_BASE_URL names another Graph) the Graph simulator, kept up until stopped,
 * so that any number of app instances (`npm start` with these settings) run on them side by
 * side, and an instance can stop or crash and start again with nothing lost.
 *
 * The settings every instance needs are the ones the Functions app's instances share in Azure:
 * the connections, and what must be the same on every instance for them to act as one app —
 * the simulator's clock (ZTP_TIME_SCALE), the webhook secret (a request signed for one instance
 * is valid on all) and the supplier policy (an upload key works on every instance's upload API).
 */

export interface InfraOptions {
  /** The repository root: `.local/` goes here. */
  readonly root: string;
  /** Settings, normally process.env: GRAPH_BASE_URL, ZTP_TIME_SCALE, REPROVISION_WEBHOOK_SECRET and ZTP_SUPPLIERS are taken as given. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The simulator's tenant and limits, for tests and benchmarks (its token, HTTPS and clock are set here). */
  readonly simulator?: Partial<Omit<GraphSimulatorOptions, 'token' | 'https' | 'clock'>>;
}

export interface RunningInfra {
  readonly infrastructure: LocalInfrastructure;
  readonly simulator: GraphSimulator | undefined;
  /** NAME -> value, in the order printed: what an instance of the app needs in its environment. */
  readonly settings: Readonly<Record<string, string>>;
  /** The demo suppliers' upload keys when the demo policy is used (not settings: the app holds only their hashes). */
  readonly supplierKeys: Readonly<Record<string, string>>;
  /** `.local/infra.json`: the settings as one JSON object. */
  readonly settingsFile: string;
  stop(): Promise<void>;
}

export const INFRA_SETTINGS_FILE = path.join('.local', 'infra.json');
const CA_FILE = path.join('.local', 'graph-simulator-ca.pem');

export async function startInfra(options: InfraOptions): Promise<RunningInfra> {
  const { env } = options;
  const localDir = path.join(options.root, '.local');
  await mkdir(localDir, { recursive: true });
  const infrastructure = await startLocalInfrastructure();
  const stops: (() => Promise<unknown>)[] = [() => infrastructure.stop()];
  const settingsFile = path.join(options.root, INFRA_SETTINGS_FILE);
  const caFile = path.join(options.root, CA_FILE);
  try {
    const settings: Record<string, string> = {
      AzureWebJobsStorage: infrastructure.storageConnectionString,
      ServiceBusConnection: infrastructure.serviceBusConnectionString,
    };
    let simulator: GraphSimulator | undefined;
    if (!env.GRAPH_BASE_URL) {
      const timeScale = localTimeScale(env);
      const token = `local-${randomUUID()}`;
      // Over HTTPS, as Graph is: the instances trust its certificate through NODE_EXTRA_CA_CERTS.
      simulator = await startGraphSimulator({
        profileRules: SIMULATOR_PROFILE_RULES,
        ...options.simulator,
        token,
        https: true,
        clock: { timeScale },
      });
      stops.unshift(() => simulator!.stop());
      await writeFile(caFile, simulator.caCertPem ?? '');
      stops.push(() => rm(caFile, { force: true }));
      Object.assign(settings, {
        GRAPH_BASE_URL: simulator.baseUrl,
        GRAPH_STATIC_TOKEN: token,
        NODE_EXTRA_CA_CERTS: caFile,
        ZTP_TIME_SCALE: String(timeScale),
      });
    }
    settings.REPROVISION_WEBHOOK_SECRET = env.REPROVISION_WEBHOOK_SECRET?.trim() || `local-${randomUUID()}`;
    const demo = env.ZTP_SUPPLIERS ? undefined : demoSupplierPolicy();
    settings.ZTP_SUPPLIERS = env.ZTP_SUPPLIERS ?? demo!.policy;

    // Written whole or not at all; readable by its owner only: it holds the secret and the connection strings.
    const temporary = `${settingsFile}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, settingsFile);
    stops.unshift(() => rm(settingsFile, { force: true }));

    let stopped: Promise<void> | undefined;
    return {
      infrastructure,
      simulator,
      settings,
      supplierKeys: demo?.keys ?? {},
      settingsFile,
      stop() {
        stopped ??= (async () => {
          for (const stop of stops) await stop().catch(() => undefined);
        })();
        return stopped;
      },
    };
  } catch (error) {
    for (const stop of stops) await stop().catch(() => undefined);
    throw error;
  }
}
