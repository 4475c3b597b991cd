// The `<entity>/$management` request/response operations the SDK uses. Request and reply
// body shapes follow @azure/service-bus's ManagementClient.
import {
  asSequenceNumber,
  Condition,
  decode,
  encode,
  lockTokenAsUuid,
  lockTokenFromUuid,
  scheduledTimeOf,
  sequenceNumberArray,
  type AmqpMessage,
} from './encoding.js';
import { LockLostError, MessageNotFoundError, type MessageEntity } from './queue.js';

export interface ManagementReply {
  statusCode: number;
  statusDescription?: string;
  errorCondition?: string;
  body?: unknown;
}

type Body = Record<string, unknown>;
type Operation = (entity: MessageEntity, body: Body) => ManagementReply;

const ok = (body?: unknown): ManagementReply => ({ statusCode: 200, body });

const operations: Record<string, Operation> = {
  'com.microsoft:peek-message': (entity, body) => {
    const messages = entity.peek(asSequenceNumber(body['from-sequence-number']), Number(body['message-count'] ?? 1));
    if (messages.length === 0) return { statusCode: 204, statusDescription: 'No messages' };
    return ok({ messages: messages.map((m) => ({ message: encode(m) })) });
  },

  'com.microsoft:schedule-message': (entity, body) => {
    const entries = (body['messages'] ?? []) as Body[];
    const sequenceNumbers = entries.map((entry) => {
      const message = decode(entry['message'] as Buffer);
      return entity.schedule(message, scheduledTimeOf(message) ?? Date.now());
    });
    return ok({ 'sequence-numbers': sequenceNumberArray(sequenceNumbers) });
  },

  'com.microsoft:cancel-scheduled-message': (entity, body) => {
    entity.cancelScheduled(list(body['sequence-numbers']).map(asSequenceNumber));
    return ok();
  },

  'com.microsoft:renew-lock': (entity, body) => {
    const expirations = list(body['lock-tokens']).map((token) => entity.renewLock(lockTokenFromUuid(token)));
    return ok({ expirations });
  },

  'com.microsoft:update-disposition': (entity, body) => {
    const propertiesToModify = body['properties-to-modify'] as Record<string, unknown> | undefined;
    for (const token of list(body['lock-tokens']).map(lockTokenFromUuid)) {
      switch (body['disposition-status']) {
        case 'completed':
          entity.complete(token);
          break;
        case 'abandoned':
          entity.abandon(token, propertiesToModify);
          break;
        case 'defered':
          entity.defer(token, propertiesToModify);
          break;
        case 'suspended':
          entity.deadLetter(token, {
            reason: body['deadletter-reason'] as string | undefined,
            description: body['deadletter-description'] as string | undefined,
            propertiesToModify,
          });
          break;
        default:
          return { statusCode: 400, statusDescription: `Unknown disposition status ${String(body['disposition-status'])}` };
      }
    }
    return ok();
  },

  'com.microsoft:receive-by-sequence-number': (entity, body) => {
    const mode = Number(body['receiver-settle-mode']) === 0 ? 'receiveAndDelete' : 'peekLock';
    const delivered = entity.receiveDeferred(list(body['sequence-numbers']).map(asSequenceNumber), mode);
    return ok({
      messages: delivered.map((d) => ({
        message: encode(d.message),
        ...(d.lockToken ? { 'lock-token': lockTokenAsUuid(d.lockToken) } : {}),
      })),
    });
  },
};

export function handleManagementRequest(entity: MessageEntity, request: AmqpMessage): ManagementReply {
  const operation = String(request.application_properties?.['operation'] ?? '');
  const handler = operations[operation];
  if (!handler) {
    return {
      statusCode: 501,
      errorCondition: Condition.notImplemented,
      statusDescription: `Operation ${operation} is not supported by the test broker.`,
    };
  }
  try {
    return handler(entity, (request['body'] ?? {}) as Body);
  } catch (error) {
    if (error instanceof LockLostError) return { statusCode: 410, errorCondition: error.condition, statusDescription: error.message };
    if (error instanceof MessageNotFoundError)
      return { statusCode: 404, errorCondition: error.condition, statusDescription: error.message };
    return { statusCode: 500, errorCondition: Condition.internalError, statusDescription: String(error) };
  }
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
}
