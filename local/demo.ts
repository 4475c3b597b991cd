import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main as ztp } from '../cli/ztp.js';
import type { DeviceState } from '../shared/domain/lifecycle.js';
import { Random, sampleDevice, sampleHashFile } from './sample-data.js';
import { startStack } from './run-stack.js';

/**
 * `npm run demo`: starts the stack, uploads a generated supplier file with a few bad rows,
 * one device already registered in the tenant (806) and one owned by another tenant (808),
 * waits until every device is in a final state, prints the batch summary and the report,
 * and exits 0 only if every outcome is the expected one.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const timeoutMs = Number(process.env.ZTP_DEMO_TIMEOUT_SECONDS ?? 240) * 1000;
const out = (line: string): void => void process.stdout.write(`${line}\n`);

const file = sampleHashFile({
  rows: 24,
  seed: 2026,
  groupTags: ['MPS-STD', 'MPS-KIOSK'],
  bad: { 'invalid-hash': 1, 'hash-serial-mismatch': 1, 'group-tag-not-allowed': 1, 'duplicate-in-file': 1 },
});
const random = new Random(99);
const known = sampleDevice(random); // 806: registered in this tenant already
const foreign = sampleDevice(random); // 808: registered to another organisation
const header = file.text.slice(0, file.text.indexOf('\n') + 1);
const extra = [known, foreign].map((d) => `${d.serialNumber},,${d.hardwareHash},MPS-STD,\r\n`).join('');
const text = header + file.text.slice(header.length) + extra;

const expected = new Map<string, DeviceState>();
for (const row of file.rows) {
  if (row.bad === 'duplicate-in-file') continue;
  expected.set(row.device.serialNumber, row.expectedStatus === 'accepted' ? 'enrolled' : 'rejected');
}
expected.set(known.serialNumber, 'enrolled');
expected.set(foreign.serialNumber, 'failed');

const stack = await startStack({
  root,
  env: { ...process.env, ZTP_TIME_SCALE: process.env.ZTP_TIME_SCALE ?? '600' },
  console: (line) => out(`  ${line}`),
  otherTenantSerials: [foreign.serialNumber],
});
let exitCode = 1;
try {
  stack.simulator?.addAutopilotIdentity({ serialNumber: known.serialNumber, groupTag: 'LEGACY' });
  const dir = path.join(root, '.local');
  mkdirSync(dir, { recursive: true });
  const samplePath = path.join(dir, 'demo-delivery.csv');
  writeFileSync(samplePath, text, 'utf8');

  out(
    `Demo: uploading ${path.relative(root, samplePath)} (${file.rows.length + 2} rows: 4 bad, one already registered, one owned by another tenant)`,
  );
  const io = { stdout: (s: string) => process.stdout.write(s), stderr: (s: string) => process.stderr.write(s), env: {}, cwd: root };
  if ((await ztp(['upload', samplePath, '--supplier', 'demo'], io)) !== 0) throw new Error('upload failed');

  const started = Date.now();
  let states = new Map<string, DeviceState | 'missing'>();
  for (;;) {
    states = new Map(
      await Promise.all(
        [...expected.keys()].map(async (serial) => [serial, (await stack.runtime.devices.get(serial))?.value.state ?? 'missing'] as const),
      ),
    );
    const settled = [...states.values()].every(
      (state) => state === 'enrolled' || state === 'failed' || state === 'rejected' || state === 'stalled',
    );
    if (settled) break;
    if (Date.now() - started > timeoutMs) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }

  const batchId = (await stack.runtime.devices.get(known.serialNumber))?.value.batchId ?? '';
  out('');
  await ztp(['batch', batchId], io);
  const report = await stack.runtime.blobs.readText('hash-results', 'demo/demo-delivery.csv.result.csv');
  out(`\nSupplier report: hash-results/demo/demo-delivery.csv.result.csv (${report ? report.trim().split('\n').length - 1 : 0} rows)`);

  const wrong = [...expected].filter(([serial, state]) => states.get(serial) !== state);
  const history = await stack.runtime.devices.history(known.serialNumber);
  if (!history.some((event) => event.reason === 'already-registered')) wrong.push([known.serialNumber, 'registered']);
  const foreignRecord = (await stack.runtime.devices.get(foreign.serialNumber))?.value;
  if (!foreignRecord?.reasons.includes('owned-by-other-tenant')) wrong.push([foreign.serialNumber, 'failed']);
  if (wrong.length === 0 && report) {
    out(`\nDemo passed: ${expected.size} devices reached their expected final state in ${Math.round((Date.now() - started) / 1000)} s.`);
    exitCode = 0;
  } else {
    for (const [serial, state] of wrong) out(`  ${serial}: expected ${state}, got ${states.get(serial)}`);
    out('\nDemo FAILED: see above and .local/stack.log');
  }
} catch (error) {
  out(`Demo FAILED: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  await stack.stop();
}
process.exit(exitCode);
