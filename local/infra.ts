import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startInfra } from './run-infra.js';

/**
 * `npm run infra`: Azurite, the Service Bus test broker and the Graph simulator, without the
 * app, until SIGINT or SIGTERM. Standard output carries only the settings, one `NAME=value`
 * line each (also written to `.local/infra.json`), so it can be read by a script; what a person
 * wants to know goes to standard error.
 */

const root = path.resolve(process.env.ZTP_LOCAL_ROOT ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const note = (line: string): void => void process.stderr.write(`${line}\n`);

let infra: Awaited<ReturnType<typeof startInfra>>;
try {
  infra = await startInfra({ root, env: process.env });
} catch (error) {
  note(`npm run infra: could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

for (const [name, value] of Object.entries(infra.settings)) process.stdout.write(`${name}=${value}\n`);

const { infrastructure, simulator } = infra;
note('');
note('ztp infrastructure is running (no app: start instances with `npm start` and these settings)');
note(`  Storage (Azurite)      ${infrastructure.azurite.blobEndpoint} (pid ${infrastructure.azurite.pid})`);
note(`  Service Bus            test broker on 127.0.0.1:${infrastructure.broker.port}`);
note(
  `  Graph                  ${simulator ? `${simulator.baseUrl} (simulator, clock ${simulator.clock.timeScale}x)` : process.env.GRAPH_BASE_URL}`,
);
note(`  Settings               ${path.relative(process.cwd(), infra.settingsFile) || infra.settingsFile} (the lines above)`);
for (const [supplier, key] of Object.entries(infra.supplierKeys)) {
  note(`  Upload key of ${supplier.padEnd(8)} ${key} (ztp upload --url ... --key, or ZTP_SUPPLIER_KEY)`);
}
note('Ctrl-C stops everything; the instances lose their storage, queues and Graph with it.');

let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  note(`\n${signal}: stopping the infrastructure...`);
  infra.stop().then(
    () => {
      note('stopped.');
      process.exit(0);
    },
    (error: unknown) => {
      note(String(error));
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
