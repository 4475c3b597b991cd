// First: quiets the Functions host's registration warnings before the function modules load.
import './quiet-registration.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { sampleHashFileBytes } from './sample-data.js';
import { FUNCTIONS } from './functions.js';
import { startStack } from './run-stack.js';

/**
 * `npm start`: the whole product on this machine until Ctrl-C. Connection settings in the
 * environment (AzureWebJobsStorage + ServiceBusConnection, GRAPH_BASE_URL + GRAPH_STATIC_TOKEN)
 * point it at real resources instead of the local emulators.
 */

// ZTP_LOCAL_ROOT moves `.local/` (endpoints file, log, sample) elsewhere, e.g. for a second stack.
const root = path.resolve(process.env.ZTP_LOCAL_ROOT ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const print = (line: string): void => void process.stdout.write(`${line}\n`);
// Paths as the user can type them where they started `npm start` (ZTP_LOCAL_ROOT may be elsewhere).
const shown = (file: string): string => path.relative(process.cwd(), file) || file;

const stack = await startStack({ root, env: process.env, console: print });

const samplePath = path.join(root, '.local', 'sample-demo.csv');
writeFileSync(
  samplePath,
  sampleHashFileBytes({ rows: 10, seed: Date.now() % 100_000, groupTags: ['MPS-STD', 'MPS-KIOSK'] }, 'utf-8').bytes,
);

print('');
print('ztp local stack is running');
print(`  API (status, health)   ${stack.apiBaseUrl}   e.g. curl ${stack.apiBaseUrl}/health`);
// Given connections are another instance's infrastructure (`npm run infra`) or Azure: either way not this process's.
print(`  Storage (Azurite)      ${stack.infrastructure ? stack.infrastructure.azurite.blobEndpoint : 'as given (AzureWebJobsStorage)'}`);
print(
  `  Service Bus            ${stack.infrastructure ? `test broker on 127.0.0.1:${stack.infrastructure.broker.port}` : 'as given (ServiceBusConnection)'}`,
);
print(
  `  Graph                  ${stack.graphBaseUrl}${stack.simulator ? ` (simulator, clock ${stack.timeScale}x)` : ` (as given, clock ${stack.timeScale}x)`}`,
);
print(`  Endpoints file         ${shown(stack.endpointsFile)} (used by npx ztp upload/status/batch/reprovision)`);
print(`  JSON log               ${shown(stack.logFile)}`);
print(`  Functions              all ${FUNCTIONS.length} of the app, run by the local dev host (no Azure Functions host needed)`);
print('');
print('Drop a file:');
print(`  npx ztp upload ${shown(samplePath)} --supplier demo`);
print('  npx ztp batch <batch id printed by upload>      npx ztp status <serial>');
const demoKey = stack.supplierKeys.demo;
if (demoKey !== undefined) {
  // The supplier upload API, as a supplier without storage access uses it (each demo supplier's key is in the endpoints file).
  print('Or send it as supplier demo would, over the upload API:');
  print(
    `  curl -T ${shown(samplePath)} -H "Authorization: Bearer ${demoKey}" ${stack.apiBaseUrl}/suppliers/demo/files/${path.basename(samplePath)}`,
  );
}
print('Ask for a re-provisioning once a device is enrolled (signed with the secret in the endpoints file):');
print('  npx ztp reprovision <serial> --action autopilot-reset --ticket INC1 --requested-by you');
const suppliers = stack.runtime.config.suppliers.map(
  (supplier) => `${supplier.id} (${supplier.allowedGroupTags.length ? `tags ${supplier.allowedGroupTags.join(', ')}` : 'any tag'})`,
);
print(`Suppliers: ${suppliers.join(', ')}. Ctrl-C stops ${stack.infrastructure ? 'everything' : 'this instance'}.`);
print('');

let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  print(`\n${signal}: stopping the local stack...`);
  stack.stop().then(
    () => {
      print('stopped.');
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
