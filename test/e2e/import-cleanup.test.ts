import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DevHost } from '../../local/dev-host/index.js';
import { startGraphSimulator, type GraphSimulator } from '../../local/graph-simulator/index.js';
import { Random, sampleDevice } from '../../local/sample-data.js';
import { startPipelineHost, startTestStack, type TestStack } from '../support/stack.js';

/**
 * Clean-up of finished import records when the budget allows only a few deletes per window:
 * the records go over many runs, without the collection being listed again for each.
 */

// Budget windows of a third of a real second: a clean-up run is over well before the next.
const TIME_SCALE = 60;
const TOKEN = 'cleanup-e2e-token';
const DEVICES = 30;

vi.setConfig({ testTimeout: 120_000 });

async function waitFor(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('import record clean-up under a small write budget', () => {
  let sim: GraphSimulator;
  let stack: TestStack;
  let host: DevHost;
  const random = new Random(77);
  const devices = Array.from({ length: DEVICES }, () => sampleDevice(random));

  beforeAll(async () => {
    sim = await startGraphSimulator({
      token: TOKEN,
      clock: { timeScale: TIME_SCALE },
      profileRules: [{ groupTag: 'MPS-STD', profileName: 'Standard' }],
      devicesBoot: false,
    });
    stack = await startTestStack({
      GRAPH_BASE_URL: sim.baseUrl,
      GRAPH_STATIC_TOKEN: TOKEN,
      ZTP_TIME_SCALE: String(TIME_SCALE),
      // 8 writes less the 10% headroom is 7 a window, and clean-up may use half: 3 deletes per 20 simulated seconds.
      GRAPH_WRITES_PER_20S: '8',
    });
    host = await startPipelineHost(stack);
  });

  afterAll(async () => {
    await host?.stop();
    await stack?.stop();
    await sim?.stop();
  });

  it('deletes every finished record over many runs, without listing them again for each', async () => {
    const lines = [
      'Device Serial Number,Windows Product ID,Hardware Hash,Group Tag',
      ...devices.map((d) => `${d.serialNumber},,${d.hardwareHash},MPS-STD`),
    ];
    const blobs = BlobServiceClient.fromConnectionString(stack.storageConnectionString);
    await blobs
      .getContainerClient('hash-uploads')
      .getBlockBlobClient('contoso/cleanup.csv')
      .uploadData(Buffer.from(lines.join('\r\n')));

    const registered = async (): Promise<boolean> => {
      const states = await Promise.all(devices.map(async (d) => (await stack.runtime.devices.get(d.serialNumber))?.value.state));
      return states.every((state) => state !== undefined && state !== 'received' && state !== 'importing');
    };
    await waitFor('every device past its import', registered);
    const listingsBefore = sim
      .requestLog()
      .filter((entry) => entry.route.startsWith('GET importedWindowsAutopilotDeviceIdentities')).length;
    await waitFor('every import record deleted', () => sim.importedRecords().length === 0);
    // Then the chain goes quiet: nothing is left to watch or delete.
    let polls = -1;
    await waitFor('the import poll to stop', async () => {
      const now = stack.logLines.filter((l) => l.event === 'pipeline.import-poll').length;
      const quiet = now === polls;
      polls = now;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return quiet;
    });

    const log = sim.requestLog();
    const deletes = log.filter((entry) => entry.method === 'DELETE');
    expect(deletes).toHaveLength(DEVICES);
    expect(deletes.every((entry) => entry.status === 204)).toBe(true);
    expect(log.filter((entry) => entry.status === 429)).toHaveLength(0);
    const cleanupRuns = stack.logLines.filter((l) => l.event === 'pipeline.import-poll' && typeof l.deleted === 'number' && l.deleted > 0);
    expect(cleanupRuns.length).toBeGreaterThanOrEqual(DEVICES / 4 - 1);
    const listingsAfter =
      log.filter((entry) => entry.route.startsWith('GET importedWindowsAutopilotDeviceIdentities')).length - listingsBefore;
    expect(listingsAfter).toBeLessThanOrEqual(2);
  });
});
