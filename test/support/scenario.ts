import { randomUUID } from 'node:crypto';
import { ServiceBusClient } from '@azure/service-bus';
import Long from 'long';
import { onTestFinished } from 'vitest';
import {
  makeTestHardwareHash,
  startGraphSimulator,
  type GraphSimulator,
  type GraphSimulatorOptions,
} from '../../local/graph-simulator/index.js';
import { createGraphClient, createInMemoryBudget, GRAPH_SETTINGS_DEFAULTS, type GraphClient } from '../../shared/adapters/graph/index.js';
import { BatchDeviceRepository } from '../../shared/adapters/tables/batch-device-index.js';
import { BatchRepository } from '../../shared/adapters/tables/batch-repository.js';
import { DeviceRepository } from '../../shared/adapters/tables/device-repository.js';
import { TickLeaseRepository } from '../../shared/adapters/tables/tick-leases.js';
import { newDevice, transition, type DeviceEvent, type DeviceRecord } from '../../shared/domain/device.js';
import type { DeviceState, TransitionReason } from '../../shared/domain/lifecycle.js';
import { deadlineAt } from '../../shared/domain/waiting.js';
import { QUEUES, type QueueName, type TickName } from '../../shared/messages/index.js';
import type { IntakeDeps } from '../../shared/services/intake/index.js';
import type { PipelineDeps } from '../../shared/services/pipeline/context.js';
import type { Versioned } from '../../shared/services/ports.js';
import { queueOptions, startTestStack, type TestStack } from './stack.js';

/**
 * Deterministic scenarios for the pipeline use cases, called directly: the real device table
 * (Azurite), the real work queue (Service Bus test broker) and the real Graph client against
 * the simulator over HTTPS. Time stands still unless a scenario moves it: the product's clock
 * and the simulator's move together, by hand, so "90 seconds later" costs nothing and every
 * timestamp is known in advance.
 */

/** Every scenario starts at this instant, a whole minute (so Graph's 20-second windows start on it too). */
export const T0 = new Date('2025-03-03T09:00:00.000Z');
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

const TOKEN = 'scenario-token';

/** Fixed latencies (the defaults draw from ranges): an import finishes 90 s after it is sent, a profile 15 minutes after a tag, enrolment 30 minutes after that. */
export const SIM_LATENCIES = {
  importSeconds: 90,
  groupMembershipSeconds: 300,
  profileAssignmentSeconds: 600,
  enrolmentSeconds: 1800,
  syncRunSeconds: 120,
} as const;

/** Two tags, two profiles: a re-tag changes the assignment, so a new assignment time shows. */
export const PROFILE_RULES = [
  { groupTag: 'MPS-STD', profileName: 'Standard' },
  { groupTag: 'MPS-KIOSK', profileName: 'Kiosk' },
];

export interface ScenarioStack {
  readonly stack: TestStack;
  /** A scenario for the test that calls it: fresh tables, a fresh simulator, the clock at T0. */
  scenario(options?: ScenarioOptions): Promise<Scenario>;
  stop(): Promise<void>;
}

export interface ScenarioOptions {
  readonly simulator?: Partial<Omit<GraphSimulatorOptions, 'token' | 'https' | 'clock'>>;
  /** Devices per Graph import request, for the client and the use case alike. */
  readonly importChunkSize?: number;
}

/** A message as it sits on a queue: sent now (no `scheduledFor`) or scheduled. */
export interface QueuedMessage {
  readonly queue: QueueName;
  readonly messageId: string;
  readonly kind: string;
  readonly scheduledFor?: string;
  readonly payload: unknown;
}

/** A poll's run as it sits on the follow-up queue once scheduled for `at`. */
export function scheduledTick(tick: TickName, at: Date, options: { idle?: number; cleanup?: readonly string[] } = {}): QueuedMessage {
  return {
    queue: QUEUES.followup,
    kind: 'tick',
    messageId: `tick:${tick}:${at.getTime()}`,
    scheduledFor: at.toISOString(),
    payload: { tick, at: at.toISOString(), idle: options.idle ?? 0, ...(options.cleanup ? { cleanup: options.cleanup } : {}) },
  };
}

/** An imported record as the simulator holds it. */
export interface ImportedRecordView {
  readonly id: string;
  readonly serialNumber: string;
  readonly importId: string;
  readonly groupTag: string;
  readonly state: { readonly deviceImportStatus: string; readonly deviceErrorCode: number; readonly deviceErrorName: string };
}

/** A history event without the bookkeeping a scenario does not script (sequence, time, correlation). */
export type EventSummary = Pick<DeviceEvent, 'from' | 'to' | 'reason'> & { readonly detail?: Readonly<Record<string, unknown>> };

export interface Scenario {
  readonly deps: PipelineDeps;
  readonly intakeDeps: IntakeDeps;
  readonly devices: DeviceRepository;
  readonly batches: BatchRepository;
  /** The scenario's own index of each file's devices. */
  readonly batchIndex: BatchDeviceRepository;
  readonly sim: GraphSimulator;
  readonly graph: GraphClient;
  /** Every use case run in the scenario gets this, so its messages and log lines can be told apart. */
  readonly correlationId: string;
  now(): Date;
  /** T0 plus `ms`. */
  at(ms: number): Date;
  /** Moves the product's clock and the simulator's by the same amount. */
  advance(ms: number): void;
  /** Stores a device that has come the usual way to `state`, at the current time, with `fields` set on the last step. */
  given(serialNumber: string, state: DeviceState, fields?: Partial<DeviceRecord>): Promise<Versioned<DeviceRecord>>;
  device(serialNumber: string): Promise<DeviceRecord>;
  /** History events written since the device was given. */
  newEvents(serialNumber: string): Promise<EventSummary[]>;
  /** Messages on the app's queues carrying this scenario's correlation id: the import queue's, then the follow-up queue's, each in queue order. */
  messages(): Promise<QueuedMessage[]>;
  /** Graph calls the simulator answered since the last `resetGraphCalls`, as "METHOD route status". */
  graphCalls(): string[];
  resetGraphCalls(): void;
  /** Log lines of this scenario with the given event name. */
  logEvents(event: string): Record<string, unknown>[];
  /** The imported records Autopilot holds now. */
  importedRecords(): ImportedRecordView[];
  /** What the simulator would get from the import step for these devices: their Autopilot import inputs. */
  importInputs(...devices: DeviceRecord[]): { serialNumber: string; hardwareIdentifier: string; groupTag?: string; importId: string }[];
}

/**
 * The usual way into each state, so a given device has a plausible history; `stalled` is
 * reached while waiting on the import unless the scenario says otherwise with `waitingFor`.
 */
const PATHS: Readonly<Record<DeviceState, readonly DeviceState[]>> = {
  received: [],
  rejected: [],
  importing: ['importing'],
  registered: ['importing', 'registered'],
  'profile-assigned': ['importing', 'registered', 'profile-assigned'],
  enrolled: ['importing', 'registered', 'profile-assigned', 'enrolled'],
  failed: ['importing', 'failed'],
  stalled: ['importing', 'stalled'],
  reprovisioning: ['importing', 'registered', 'profile-assigned', 'enrolled', 'reprovisioning'],
  deregistered: ['importing', 'registered', 'reprovisioning', 'deregistered'],
};

const REASONS: Readonly<Record<DeviceState, TransitionReason>> = {
  received: 'accepted-from-file',
  rejected: 'rejected-from-file',
  importing: 'import-submitted',
  registered: 'import-complete',
  'profile-assigned': 'profile-assigned',
  enrolled: 'enrolled',
  failed: 'owned-by-other-tenant',
  stalled: 'deadline-passed',
  reprovisioning: 'reprovision-requested',
  deregistered: 'deregistered',
};

/** One stack per test file: Azurite, the broker (duplicate detection off) and the runtime. */
export async function startScenarioStack(env: Record<string, string> = {}): Promise<ScenarioStack> {
  // Every scenario starts at T0, so the deterministic message ids (tick:imports:<time>, …)
  // repeat from one scenario to the next: with duplicate detection on, the broker would drop
  // them. Scenarios tell their messages apart by correlation id instead.
  const stack = await startTestStack(env, { queues: queueOptions({ duplicateDetectionWindowMs: 0 }) });
  const bus = new ServiceBusClient(stack.broker.connectionString);
  const storage = stack.storageConnectionString;
  return {
    stack,
    scenario: (options) => createScenario(stack, bus, storage, options ?? {}),
    async stop() {
      await bus.close();
      await stack.stop();
    },
  };
}

async function createScenario(stack: TestStack, bus: ServiceBusClient, storage: string, options: ScenarioOptions): Promise<Scenario> {
  let current = T0.getTime();
  const now = (): Date => new Date(current);
  const sim = await startGraphSimulator({
    profileRules: PROFILE_RULES,
    ...options.simulator,
    latencies: { ...SIM_LATENCIES, ...options.simulator?.latencies },
    token: TOKEN,
    https: true,
    // Real time frozen: only advance() moves the simulator's clock.
    clock: { timeScale: 1, startAt: T0.getTime(), realNow: () => 0 },
  });
  const importChunkSize = options.importChunkSize ?? GRAPH_SETTINGS_DEFAULTS.importChunkSize;
  const graph = createGraphClient({
    ...GRAPH_SETTINGS_DEFAULTS,
    importChunkSize,
    baseUrl: sim.baseUrl,
    staticToken: TOKEN,
    caCertPem: sim.caCertPem,
    // The app's own budget on the scenario clock, roomy enough never to refuse: throttling
    // in a scenario is Graph's, scripted in the simulator.
    budget: createInMemoryBudget({
      limits: { writesPerWindow: 10_000, requestsPerWindow: 10_000, windowMs: 20_000, shares: { import: 1, status: 1, cleanup: 1 } },
      now,
    }),
  });
  onTestFinished(async () => {
    graph.close();
    await sim.stop();
  });

  const suffix = randomUUID().replace(/-/g, '').slice(0, 16);
  const devices = DeviceRepository.connect(storage, `scendevices${suffix}`);
  const batches = BatchRepository.connect(storage, `scenbatches${suffix}`);
  const batchIndex = BatchDeviceRepository.connect(storage, `scenbatchdevices${suffix}`, now);
  const leases = TickLeaseRepository.connect(storage, `scenticks${suffix}`);
  await Promise.all([devices.ensure(), batches.ensure(), batchIndex.ensure(), leases.ensure()]);

  const runtime = stack.runtime;
  const base = runtime.pipelineDeps();
  // The poll leases read their own clock (TickDeps.now): it must be the scenario's as well.
  const deps: PipelineDeps = {
    ...base,
    devices,
    batchIndex,
    graph,
    now,
    ticks: { leases, queue: runtime.queue, now },
    importRequestSize: importChunkSize,
  };
  const intakeDeps: IntakeDeps = { ...runtime.intakeDeps(), devices, batches, batchIndex, now };
  const correlationId = `scenario-${suffix}`;
  const seededEvents = new Map<string, number>();

  return {
    deps,
    intakeDeps,
    devices,
    batches,
    batchIndex,
    sim,
    graph,
    correlationId,
    now,
    at: (ms) => new Date(T0.getTime() + ms),
    advance(ms) {
      current += ms;
      sim.clock.advance(ms / 1000);
    },
    async given(serialNumber, state, fields = {}) {
      const saved = await storeDevice(devices, deps, now(), serialNumber, state, fields);
      seededEvents.set(serialNumber, saved.value.eventCount);
      return saved;
    },
    async device(serialNumber) {
      const found = await devices.get(serialNumber);
      if (!found) throw new Error(`no device ${serialNumber}`);
      return found.value;
    },
    async newEvents(serialNumber) {
      const history = await devices.history(serialNumber);
      return history
        .slice(seededEvents.get(serialNumber) ?? 0)
        .map(({ from, to, reason, detail }) => ({ from, to, reason, ...(detail ? { detail } : {}) }));
    },
    messages: () => peekScenarioMessages(bus, correlationId),
    graphCalls: () => sim.requestLog().map((entry) => `${entry.route} ${entry.status}`),
    resetGraphCalls: () => sim.resetRequestLog(),
    logEvents: (event) => stack.logLines.filter((line) => line.event === event && line.correlationId === correlationId),
    importedRecords: () => sim.importedRecords() as unknown as ImportedRecordView[],
    importInputs: (...records) =>
      records.map((d) => ({
        serialNumber: d.serialNumber,
        hardwareIdentifier: d.hardwareHash ?? '',
        ...(d.groupTag ? { groupTag: d.groupTag } : {}),
        importId: d.importId ?? '',
      })),
  };
}

/** Fields each state carries when reached the usual way, at `now`. */
function stateFields(state: DeviceState, serialNumber: string, now: Date, deps: PipelineDeps): Partial<DeviceRecord> {
  const since = now.toISOString();
  const waiting = (step: 'import' | 'profile-assignment' | 'enrolment'): Partial<DeviceRecord> => ({
    waitingFor: step,
    waitingSince: since,
    deadlineAt: deadlineAt(step, now, deps.waits).toISOString(),
    pollAttempt: 0,
  });
  switch (state) {
    case 'importing':
    case 'stalled':
      return { importId: `${deps.importIdPrefix}claim-${serialNumber}`, ...waiting('import') };
    case 'registered':
      return { hardwareHash: undefined, autopilotGroupTag: 'MPS-STD', ...waiting('profile-assignment') };
    case 'profile-assigned':
      return { hardwareHash: undefined, autopilotGroupTag: 'MPS-STD', ...waiting('enrolment') };
    case 'enrolled':
      return {
        hardwareHash: undefined,
        autopilotGroupTag: 'MPS-STD',
        waitingFor: undefined,
        waitingSince: undefined,
        deadlineAt: undefined,
      };
    case 'failed':
      return { reasons: ['owned-by-other-tenant'], waitingFor: undefined, waitingSince: undefined, deadlineAt: undefined };
    default:
      return {};
  }
}

async function storeDevice(
  devices: DeviceRepository,
  deps: PipelineDeps,
  now: Date,
  serialNumber: string,
  state: DeviceState,
  fields: Partial<DeviceRecord>,
): Promise<Versioned<DeviceRecord>> {
  const correlationId = `given-${serialNumber}`;
  const first = newDevice(
    {
      serialNumber,
      // The supplier whose file brought it: contoso unless the scenario says otherwise.
      supplierId: fields.supplierId ?? 'contoso',
      batchId: 'batch-given',
      line: 2,
      groupTag: 'MPS-STD',
      hardwareHash: makeTestHardwareHash({ serialNumber }),
    },
    state === 'rejected' ? 'rejected' : 'received',
    state === 'rejected' ? 'rejected-from-file' : 'accepted-from-file',
    correlationId,
    now,
  );
  const path = PATHS[state];
  let saved = await devices.create(path.length === 0 ? { ...first.record, ...fields } : first.record, first.event);
  for (const [index, to] of path.entries()) {
    const last = index === path.length - 1;
    const changes = { ...stateFields(to, serialNumber, now, deps), ...(last ? fields : {}) };
    const next = transition(saved.value, { to, reason: REASONS[to], correlationId, now, changes });
    saved = await devices.save(next.record, saved, next.event);
  }
  return saved;
}

async function peekScenarioMessages(bus: ServiceBusClient, correlationId: string): Promise<QueuedMessage[]> {
  const found: QueuedMessage[] = [];
  for (const queue of [QUEUES.import, QUEUES.followup, QUEUES.reprovision] as const) {
    const receiver = bus.createReceiver(queue);
    try {
      // From the first message each time: an implicit peek continues where the last one stopped.
      const peeked = await receiver.peekMessages(1000, { fromSequenceNumber: Long.ZERO });
      for (const message of peeked) {
        if (message.correlationId !== correlationId) continue;
        const body = message.body as { kind: string; payload: unknown };
        found.push({
          queue,
          messageId: String(message.messageId),
          kind: body.kind,
          ...(message.scheduledEnqueueTimeUtc ? { scheduledFor: message.scheduledEnqueueTimeUtc.toISOString() } : {}),
          payload: body.payload,
        });
      }
    } finally {
      await receiver.close();
    }
  }
  return found;
}
