/**
 * Service Bus test broker: an AMQP 1.0 broker, built on rhea, that the real
 * @azure/service-bus SDK talks to through a `UseDevelopmentEmulator=true` connection string.
 *
 * It is a test double for the product's own tests and local stack, not a production broker:
 * everything lives in memory, there is no authorisation, and only queues configured at start
 * exist. See README.md in this folder for what it supports and how it differs from Azure.
 */
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import rhea from 'rhea';
import type { Connection } from 'rhea';
import { LinkRouter, type Route } from './links.js';
import { MessageEntity, type EntityTraffic } from './queue.js';

export type { EntityTraffic } from './queue.js';

export interface BrokerQueueOptions {
  name: string;
  /** Default 10; a message whose delivery count would exceed it is dead-lettered with reason 'MaxDeliveryCountExceeded'. */
  maxDeliveryCount?: number;
  /** Default 60_000. */
  lockDurationMs?: number;
  /**
   * Default 0 = off. When on, a second message with the same messageId within the window is
   * accepted from the sender but silently dropped (as Service Bus does), scheduled ones included.
   */
  duplicateDetectionWindowMs?: number;
}

export interface QueueStats {
  /** Available to receivers now (not locked, scheduled or deferred). */
  active: number;
  scheduled: number;
  locked: number;
  deadLettered: number;
}

export interface ServiceBusBroker {
  readonly port: number;
  readonly connectionString: string;
  /** Closes every connection and the listener. */
  stop(): Promise<void>;
  /** Introspection for tests and the local dev host; not part of the AMQP surface. */
  stats(queue: string): QueueStats;
  /** Messages sent to, delivered from and completed on a queue since the broker started (its dead-letter sub-queue apart). */
  traffic(queue: string): EntityTraffic;
  /** Every `$management` request so far, oldest first: the entity (`ztp-import/$DeadLetterQueue`) and the operation (`com.microsoft:peek-message`). */
  managementLog(): ManagementLogEntry[];
}

export interface ManagementLogEntry {
  readonly entity: string;
  readonly operation: string;
}

/** The most management requests the log keeps (the oldest go first). */
const MANAGEMENT_LOG_LIMIT = 10_000;

interface QueueEntities {
  main: MessageEntity;
  deadLetter: MessageEntity;
}

const DEAD_LETTER_SUFFIX = '/$deadletterqueue';
const MANAGEMENT_SUFFIX = '/$management';
const SOCKET_CLOSE_GRACE_MS = 1_000;

export async function startServiceBusBroker(options: { port?: number; queues: BrokerQueueOptions[] }): Promise<ServiceBusBroker> {
  const queues = new Map<string, QueueEntities>();
  for (const queue of options.queues) {
    const settings = {
      maxDeliveryCount: queue.maxDeliveryCount ?? 10,
      lockDurationMs: queue.lockDurationMs ?? 60_000,
      duplicateDetectionWindowMs: queue.duplicateDetectionWindowMs ?? 0,
    };
    const deadLetter = new MessageEntity(`${queue.name}/$DeadLetterQueue`, { ...settings, duplicateDetectionWindowMs: 0 });
    queues.set(queue.name.toLowerCase(), { main: new MessageEntity(queue.name, settings, deadLetter), deadLetter });
  }

  const container = rhea.create_container({ id: 'servicebus-test-broker' });
  let endpoint = 'sb://127.0.0.1/';
  const managementLog: ManagementLogEntry[] = [];
  const router = new LinkRouter(
    container,
    (address) => route(queues, address),
    (address) => `${endpoint}${entityPath(address)}`,
    (entity, operation) => {
      managementLog.push({ entity, operation });
      if (managementLog.length > MANAGEMENT_LOG_LIMIT) managementLog.shift();
    },
  );

  const server = container.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([error]) => Promise.reject(error as Error))]);
  const port = (server.address() as AddressInfo).port;
  endpoint = `sb://127.0.0.1:${port}/`;

  return {
    port,
    connectionString: `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;`,
    stats(queue) {
      const entities = queues.get(queue.toLowerCase());
      if (!entities) throw new Error(`Unknown queue ${queue}`);
      const main = entities.main.stats();
      return { active: main.active, scheduled: main.scheduled, locked: main.locked, deadLettered: entities.deadLetter.stats().total };
    },
    traffic(queue) {
      const entities = queues.get(queue.toLowerCase());
      if (!entities) throw new Error(`Unknown queue ${queue}`);
      return entities.main.traffic();
    },
    managementLog: () => [...managementLog],
    async stop() {
      for (const { main, deadLetter } of queues.values()) {
        main.close();
        deadLetter.close();
      }
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of router.connections) connection.close();
      await closeSockets(sockets, [...router.connections]);
      await closed;
    },
  };
}

function entityPath(address: string): string {
  // Clients may address an entity by its full URI as well as by its path.
  return address.replace(/^amqps?:\/\/[^/]+\/|^sb:\/\/[^/]+\//i, '');
}

function route(queues: Map<string, QueueEntities>, address: string): Route {
  let path = entityPath(address).toLowerCase();
  if (path === '$cbs') return { kind: 'cbs' };
  const management = path.endsWith(MANAGEMENT_SUFFIX);
  if (management) path = path.slice(0, -MANAGEMENT_SUFFIX.length);
  const isDeadLetterQueue = path.endsWith(DEAD_LETTER_SUFFIX);
  const entities = queues.get(isDeadLetterQueue ? path.slice(0, -DEAD_LETTER_SUFFIX.length) : path);
  if (!entities) return { kind: 'unknown' };
  const entity = isDeadLetterQueue ? entities.deadLetter : entities.main;
  return management ? { kind: 'management', entity } : { kind: 'entity', entity, isDeadLetterQueue };
}

/**
 * The AMQP close lets clients hang up cleanly; a client that does not gets its socket
 * destroyed, and rhea is told so it drops its heartbeat timers.
 */
async function closeSockets(sockets: Set<Socket>, connections: Connection[]): Promise<void> {
  const open = [...sockets];
  // 'close' follows an 'error' (a client reset as it dies); `once` would reject on the error instead.
  const allClosed = Promise.all(
    open.map((socket) => (socket.destroyed ? undefined : new Promise<void>((resolve) => socket.once('close', () => resolve())))),
  );
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), SOCKET_CLOSE_GRACE_MS).unref());
  if ((await Promise.race([allClosed, timeout])) !== 'timeout') return;
  for (const socket of open) socket.destroy();
  for (const connection of connections) (connection as unknown as { eof?: () => void }).eof?.();
}
