import { ServiceBusClient } from '@azure/service-bus';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DevHost } from '../../local/dev-host/index.js';
import { startGraphSimulator, type GraphSimulator } from '../../local/graph-simulator/index.js';
import { Random, sampleDevice, type SampleDevice } from '../../local/sample-data.js';
import { QUEUES } from '../../shared/messages/index.js';
import type { DeviceRecord } from '../../shared/domain/device.js';
import type { DeviceState } from '../../shared/domain/lifecycle.js';
import type { PipelineDeps } from '../../shared/services/pipeline/context.js';
import { startPipelineHost, startTestStack, type TestStack } from '../support/stack.js';

/**
 * Files dropped into Azurite -> intake -> Service Bus (real SDK, test broker) -> import and
 * follow-up handlers -> real Graph client -> Autopilot simulator on a 600x clock.
 */

const TIME_SCALE = 600;
const TOKEN = 'pipeline-e2e-token';

vi.setConfig({ testTimeout: 180_000 });

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function csv(rows: { device: SampleDevice; groupTag?: string; hash?: string }[]): Buffer {
  const lines = ['Device Serial Number,Windows Product ID,Hardware Hash,Group Tag'];
  for (const row of rows) lines.push(`${row.device.serialNumber},,${row.hash ?? row.device.hardwareHash},${row.groupTag ?? ''}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8');
}

/** Trailing bytes after the hash's declared length: accepted by the product's decoder, refused (802) by Autopilot's stricter check. */
function withTrailingBytes(base64: string): string {
  return Buffer.concat([Buffer.from(base64, 'base64'), Buffer.from([0, 0, 0])]).toString('base64');
}

const SETTLED: ReadonlySet<DeviceState> = new Set(['enrolled', 'failed', 'stalled', 'rejected']);

describe('provisioning pipeline end to end', () => {
  let sim: GraphSimulator;
  let stack: TestStack;
  let host: DevHost;
  let blobs: BlobServiceClient;
  let crashes = 0;

  const random = new Random(2026);
  const good = Array.from({ length: 14 }, () => sampleDevice(random));
  const already = sampleDevice(random); // 806: registered in this tenant before, with another tag
  const foreign = sampleDevice(random); // 808: owned by another tenant
  const badHash = sampleDevice(random); // 802: Autopilot refuses the hash
  const never = sampleDevice(random); // profile never assigned -> stalled
  const profileFails = sampleDevice(random); // Autopilot reports the assignment failed -> noted, then stalled
  const all = [...good, already, foreign, badHash, never, profileFails];

  beforeAll(async () => {
    sim = await startGraphSimulator({
      token: TOKEN,
      clock: { timeScale: TIME_SCALE },
      profileRules: [{ groupTag: '/^MPS-/', profileName: 'MPS standard' }],
      otherTenantSerials: [foreign.serialNumber],
      // Windows of one real second with room for only a few requests: the app, allowed far
      // more by its own budget here, meets real 429s (import clean-up alone is 18 deletes).
      throttle: { writesPer20s: 4, requestsPer20s: 15, windowSeconds: TIME_SCALE },
      faults: { seed: 7, errorRate5xx: 0.08, dropAfterEffectRate: 0.04 },
    });
    sim.addAutopilotIdentity({ serialNumber: already.serialNumber, groupTag: 'OLD-TAG' });
    sim.blockProfileAssignment(never.serialNumber, 'pending');
    sim.blockProfileAssignment(profileFails.serialNumber, 'failed');

    stack = await startTestStack({
      GRAPH_BASE_URL: sim.baseUrl,
      GRAPH_STATIC_TOKEN: TOKEN,
      ZTP_TIME_SCALE: String(TIME_SCALE),
      GRAPH_WRITES_PER_20S: '1000',
      GRAPH_REQUESTS_PER_20S: '5000',
      GRAPH_IMPORT_CHUNK_SIZE: '5',
      ZTP_IMPORT_CHUNK_SIZE: '6',
      ZTP_PROFILE_DEADLINE_HOURS: '1.5',
      ZTP_MAX_POLL_INTERVAL_MINUTES: '10',
      ZTP_FIRST_RETRY_SECONDS: '20',
      ZTP_MAX_TRANSIENT_RETRIES: '20',
      GRAPH_REQUEST_TIMEOUT_MS: '5000',
    });

    // A crash between Graph accepting an import and the state being saved: the first save
    // after a successful import call throws, as a process dying there would.
    const real = stack.runtime.pipelineDeps();
    let armed = true;
    const crashing: PipelineDeps = {
      ...real,
      graph: {
        ...real.graph,
        importDevices: async (...args) => {
          const result = await real.graph.importDevices(...args);
          if (result.ok && armed) {
            armed = false;
            crashes++;
            throw new Error('simulated crash after Graph accepted the import');
          }
          return result;
        },
      },
    };
    Object.assign(stack.runtime, { pipelineDeps: () => crashing });

    host = await startPipelineHost(stack);
    blobs = BlobServiceClient.fromConnectionString(stack.storageConnectionString);
  });

  afterAll(async () => {
    await host?.stop();
    await stack?.stop();
    await sim?.stop();
  });

  const device = async (serial: string): Promise<DeviceRecord | undefined> => (await stack.runtime.devices.get(serial))?.value;
  const states = async (devices: readonly SampleDevice[]): Promise<DeviceState[]> =>
    Promise.all(devices.map(async (d) => (await device(d.serialNumber))?.state ?? ('missing' as DeviceState)));

  it('takes every device from the supplier file to enrolled, failed with a reason, or stalled', async () => {
    const rows = [
      ...good.map((d, i) => ({ device: d, groupTag: i % 2 === 0 ? 'MPS-STD' : 'MPS-KIOSK' })),
      { device: already, groupTag: 'MPS-STD' },
      { device: foreign, groupTag: 'MPS-STD' },
      { device: badHash, groupTag: 'MPS-STD', hash: withTrailingBytes(badHash.hardwareHash) },
      { device: never, groupTag: 'MPS-STD' },
      { device: profileFails, groupTag: 'MPS-KIOSK' },
    ];
    await blobs.getContainerClient('hash-uploads').getBlockBlobClient('contoso/wave-1.csv').uploadData(csv(rows));

    // The same import work delivered twice, under a fresh message id so duplicate detection cannot help.
    const firstChunk = await waitFor('first import chunk', async () =>
      (await device(good[0]!.serialNumber))?.batchId ? (await device(good[0]!.serialNumber))!.batchId : undefined,
    );
    const bus = new ServiceBusClient(stack.broker.connectionString);
    const sender = bus.createSender(QUEUES.import);
    await sender.sendMessages({
      messageId: 'duplicate-delivery-1',
      body: {
        kind: 'import-chunk',
        correlationId: 'dup',
        payload: { batchId: firstChunk, chunk: 0, serialNumbers: good.slice(0, 6).map((d) => d.serialNumber) },
      },
    });
    await sender.close();
    await bus.close();

    await waitFor('every device settled', async () => ((await states(all)).every((s) => SETTLED.has(s)) ? true : undefined), 120_000).catch(
      async (e) => {
        console.log(await states(all));
        console.log(JSON.stringify(sim.stats()));
        const counts: Record<string, number> = {};
        for (const l of stack.logLines) counts[String(l.event)] = (counts[String(l.event)] ?? 0) + 1;
        console.log(counts);
        console.log(
          stack.logLines
            .filter((l) => l.event === 'message.rescheduled')
            .slice(-8)
            .map((l) => `${String(l.kind)} ${String(l.reason)} ${String(l.attempt)} ${String(l.detail)}`),
        );
        console.log(stack.logLines.filter((l) => l.level === 'warn' || l.level === 'error').slice(-5));
        throw e;
      },
    );

    expect(await states(good)).toEqual(good.map(() => 'enrolled'));
    // Once Autopilot has a device, its hardware hash is not kept.
    for (const d of good) expect((await device(d.serialNumber))?.hardwareHash, d.serialNumber).toBeUndefined();
    expect((await device(foreign.serialNumber))?.hardwareHash).toBe(foreign.hardwareHash);
    expect(await device(already.serialNumber)).toMatchObject({ state: 'enrolled', groupTag: 'MPS-STD', autopilotGroupTag: 'MPS-STD' });
    expect(await device(foreign.serialNumber)).toMatchObject({ state: 'failed', reasons: ['owned-by-other-tenant'] });
    expect((await device(foreign.serialNumber))?.note).toMatch(/another organisation/);
    expect(await device(badHash.serialNumber)).toMatchObject({ state: 'failed', reasons: ['autopilot-rejected-hash'] });
    expect(await device(never.serialNumber)).toMatchObject({ state: 'stalled', waitingFor: 'profile-assignment' });

    // Nothing duplicated in Autopilot, nothing left behind in the import records.
    const identities = sim.autopilotIdentities();
    for (const d of [...good, already]) {
      expect(
        identities.filter((i) => i.serialNumber.toUpperCase() === d.serialNumber.toUpperCase()),
        d.serialNumber,
      ).toHaveLength(1);
    }
    expect(identities.find((i) => i.serialNumber === already.serialNumber)?.groupTag).toBe('MPS-STD');
    expect(identities.some((i) => i.serialNumber === foreign.serialNumber || i.serialNumber === badHash.serialNumber)).toBe(false);

    // Every device's history is complete and in order.
    for (const d of good) {
      const history = await stack.runtime.devices.history(d.serialNumber);
      expect(
        history.map((e) => e.to),
        d.serialNumber,
      ).toEqual(['received', 'importing', 'registered', 'profile-assigned', 'enrolled']);
    }
    const alreadyHistory = await stack.runtime.devices.history(already.serialNumber);
    expect(alreadyHistory.map((e) => e.reason)).toEqual(
      expect.arrayContaining([
        'accepted-from-file',
        'import-submitted',
        'already-registered',
        'group-tag-changed',
        'profile-assigned',
        'enrolled',
      ]),
    );
    // A failed assignment is said once, on the record and in the log, then the deadline applies.
    expect(await device(profileFails.serialNumber)).toMatchObject({
      state: 'stalled',
      waitingFor: 'profile-assignment',
      note: expect.stringMatching(/deployment profile failed/),
    });
    expect((await stack.runtime.devices.history(profileFails.serialNumber)).at(-1)).toMatchObject({
      to: 'stalled',
      detail: { profileStatus: 'failed' },
    });
    expect(
      stack.logLines.filter((l) => l.event === 'pipeline.profile-assignment-failed' && l.serial === profileFails.serialNumber),
    ).toHaveLength(1);
    // The stall says what Autopilot last showed: the profile stuck at pending.
    expect((await stack.runtime.devices.history(never.serialNumber)).at(-1)).toMatchObject({
      to: 'stalled',
      reason: 'deadline-passed',
      detail: { waitingFor: 'profile-assignment', profileStatus: 'pending' },
    });

    // The faults really happened and were survived.
    expect(crashes).toBe(1);
    const stats = sim.stats();
    expect(stats.throttled).toBeGreaterThan(0);
    expect(stats.injected5xx).toBeGreaterThan(0);
    const lifecycle = stack.logLines.filter((l) => l.event === 'device.transition');
    expect(lifecycle.length).toBe((await Promise.all(all.map((d) => stack.runtime.devices.history(d.serialNumber)))).flat().length);
  });

  it('re-tags a known device from a new file and waits again for its profile', async () => {
    const target = good[0]!;
    await waitFor('import records cleaned up', async () => (sim.importedRecords().length === 0 ? true : undefined), 30_000);
    await blobs
      .getContainerClient('hash-uploads')
      .getBlockBlobClient('contoso/retag.csv')
      .uploadData(csv([{ device: target, groupTag: 'MPS-KIOSK' }]));
    await waitFor('re-tag recorded', async () => ((await device(target.serialNumber))?.generation === 2 ? true : undefined));
    await waitFor('re-enrolled with the new tag', async () => {
      const d = await device(target.serialNumber);
      return d?.state === 'enrolled' && d.autopilotGroupTag === 'MPS-KIOSK' ? true : undefined;
    }).catch(async (e) => {
      console.log(
        await device(target.serialNumber),
        (await stack.runtime.devices.history(target.serialNumber)).map((h) => `${h.to} ${h.reason}`),
      );
      console.log(sim.autopilotIdentities().find((i) => i.serialNumber === target.serialNumber));
      console.log(
        stack.logLines
          .filter((l) => l.level === 'warn' || String(l.event).includes('autopilot-poll') || l.kind === 'retag')
          .slice(-10)
          .map((l) => JSON.stringify(l).slice(0, 400)),
      );
      throw e;
    });
    expect(sim.autopilotIdentities().find((i) => i.serialNumber === target.serialNumber)?.groupTag).toBe('MPS-KIOSK');
    const tail = (await stack.runtime.devices.history(target.serialNumber)).slice(5).map((e) => [e.to, e.reason]);
    expect(tail).toEqual([
      ['enrolled', 'group-tag-changed'],
      ['registered', 'group-tag-changed'],
      ['profile-assigned', 'profile-assigned'],
      ['enrolled', 'enrolled'],
    ]);
  });
});
