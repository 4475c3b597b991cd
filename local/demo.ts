// First: quiets the Functions host's registration warnings before the function modules load.
import './quiet-registration.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main as ztp } from '../cli/ztp.js';
import type { ZtpIo } from '../cli/io.js';
import type { DeviceState } from '../shared/domain/lifecycle.js';
import { Random, sampleDevice, sampleHashFile } from './sample-data.js';
import { startStack } from './run-stack.js';

/**
 * `npm run demo`: starts the stack, uploads a generated supplier file with a few bad rows,
 * one device already registered in the tenant (806) and one owned by another tenant (808),
 * waits until every device is in a final state, prints the batch summary and the report.
 * Then the service desk's part: `ztp reprovision` (signed with the secret the stack publishes,
 * through the real HTTP route) asks for an Autopilot Reset of one enrolled device and for the
 * deregistration of another; the demo waits until the first is enrolled again with its request
 * done and the second is deregistered and gone from Autopilot, and prints both with
 * `ztp status`. It exits 0 only if every outcome is the expected one.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const timeoutMs = Number(process.env.ZTP_DEMO_TIMEOUT_SECONDS ?? 240) * 1000;
/** For the re-provisioning part: an Autopilot Reset is ~35 simulated minutes, about 4 s at 600x. */
const reprovisionTimeoutMs = Number(process.env.ZTP_DEMO_REPROVISION_TIMEOUT_SECONDS ?? 60) * 1000;
const out = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

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
  // No settings: the CLI finds the stack (and the webhook secret) through .local/stack.json.
  const io: ZtpIo = {
    stdout: (s: string) => void process.stdout.write(s),
    stderr: (s: string) => void process.stderr.write(s),
    env: {},
    cwd: root,
  };
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
    await sleep(500);
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
  const problems = wrong.map(([serial, state]) => `${serial}: expected ${state}, got ${states.get(serial)}`);
  if (!report) problems.push('the supplier report was not written');
  const settledSeconds = Math.round((Date.now() - started) / 1000);

  // The service desk: two devices of the file that enrolled, one reset and one removed.
  const enrolled = [...expected]
    .filter(([serial, state]) => state === 'enrolled' && serial !== known.serialNumber && states.get(serial) === 'enrolled')
    .map(([serial]) => serial);
  const [resetSerial, removedSerial] = enrolled;
  let reprovisionSeconds: number | undefined;
  if (resetSerial === undefined || removedSerial === undefined) {
    problems.push(`re-provisioning needs two enrolled devices of the file, found ${enrolled.length}`);
  } else {
    const reprovisionStarted = Date.now();
    problems.push(...(await serviceDesk(resetSerial, removedSerial, io)));
    reprovisionSeconds = Math.round((Date.now() - reprovisionStarted) / 1000);
  }

  if (problems.length === 0) {
    out(
      `\nDemo passed: ${expected.size} devices reached their expected final state in ${settledSeconds} s; ` +
        `the Autopilot Reset and the deregistration took effect in ${reprovisionSeconds} s.`,
    );
    exitCode = 0;
  } else {
    out('');
    for (const problem of problems) out(`  ${problem}`);
    out('\nDemo FAILED: see above and .local/stack.log');
  }
} catch (error) {
  out(`Demo FAILED: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  await stack.stop();
}
process.exit(exitCode);

/**
 * An Autopilot Reset of `resetSerial` and a deregistration (no re-import) of `removedSerial`,
 * each one `ztp reprovision`; waits for both to take effect and prints both with `ztp status`.
 * Returns what did not end as expected (empty when both did).
 */
async function serviceDesk(resetSerial: string, removedSerial: string, io: ZtpIo): Promise<string[]> {
  out(`\nService desk: an Autopilot Reset of ${resetSerial} and the deregistration of ${removedSerial}, each with ztp reprovision`);
  const asks = [
    { serial: resetSerial, action: 'autopilot-reset', ticket: 'INC0001001', end: 'enrolled' },
    { serial: removedSerial, action: 'deregister', ticket: 'INC0001002', end: 'deregistered' },
  ] as const;
  const problems: string[] = [];
  const requestIds = new Map<string, string>();
  for (const ask of asks) {
    const argv = ['reprovision', ask.serial, '--action', ask.action, '--ticket', ask.ticket, '--requested-by', 'demo.desk@example.com'];
    out(`$ ztp ${argv.join(' ')}`);
    let printed = '';
    const capture = (text: string): void => {
      printed += text;
      io.stdout(text);
    };
    const code = await ztp(argv, { ...io, stdout: capture });
    const requestId = /"requestId": "([^"]+)"/.exec(printed)?.[1];
    if (code !== 0 || requestId === undefined)
      problems.push(`${ask.serial}: ztp reprovision --action ${ask.action} was not accepted (exit ${code})`);
    else requestIds.set(ask.serial, requestId);
  }
  if (problems.length > 0) return problems;

  const inAutopilot = (serial: string): boolean =>
    stack.simulator?.autopilotIdentities().some((identity) => identity.serialNumber.toUpperCase() === serial.toUpperCase()) ?? false;
  const outcome = async (ask: (typeof asks)[number]): Promise<{ done: boolean; over: boolean; seen: string }> => {
    const record = (await stack.runtime.devices.get(ask.serial))?.value;
    const request = record?.reprovision;
    const ours = request?.requestId === requestIds.get(ask.serial);
    const stillInAutopilot = ask.action === 'deregister' && inAutopilot(ask.serial);
    const done = record?.state === ask.end && ours && request?.stage === 'done' && !stillInAutopilot;
    // Refused by Graph, stalled, or replaced: waiting longer changes nothing.
    const over = done || !ours || request?.stage === 'failed' || request?.stage === 'stalled';
    const failure = request?.failure ? ` (${request.failure})` : '';
    const seen = `${record?.state ?? 'missing'}, request ${ours ? `${request?.stage}${failure}` : 'not on the record'}${stillInAutopilot ? ', still in Autopilot' : ''}`;
    return { done, over, seen };
  };
  const waitStarted = Date.now();
  let outcomes = await Promise.all(asks.map(outcome));
  while (!outcomes.every((o) => o.over) && Date.now() - waitStarted < reprovisionTimeoutMs) {
    await sleep(250);
    outcomes = await Promise.all(asks.map(outcome));
  }
  for (const ask of asks) {
    out('');
    out(`$ ztp status ${ask.serial}`);
    await ztp(['status', ask.serial], io);
  }
  const removed = (await stack.runtime.devices.get(removedSerial))?.value;
  if (removed?.reprovision?.allowReimport === true) problems.push(`${removedSerial}: deregistered with allowReimport, asked without it`);
  asks.forEach((ask, index) => {
    const o = outcomes[index]!;
    if (!o.done) {
      problems.push(
        `${ask.serial}: ${ask.action} expected to end ${ask.end} with its request done within ${reprovisionTimeoutMs / 1000} s, got ${o.seen}`,
      );
    }
  });
  return problems;
}
