import { randomUUID } from 'node:crypto';
import type { Clock } from '../domain/clock.js';
import { EVENTS } from '../events.js';
import type { Logger } from '../log.js';
import type { SignatureLedger } from '../services/ports.js';
import { acceptReprovision, requestFingerprint, type AcceptDeps } from '../services/reprovision/accept.js';
import { answer, deviceSerial, problem, type JsonAnswer, type SerialSource } from './answers.js';
import { parseReprovisionBody } from './reprovision-body.js';
import { SIGNATURE_TOLERANCE_MS, verifyWebhookSignature, WEBHOOK_SIGNATURE_HEADER, ZTP_SIGNATURE_HEADER } from './webhook-signature.js';

/**
 * POST /api/devices/{serial}/reprovision (or …/devices/reprovision?serial=…) at the edge: the
 * body read as raw bytes (at most 16 KiB, counted as it arrives), the signature checked over
 * exactly those bytes, the serial and the JSON validated, then the use case. Every refusal is
 * `{error: {code, message}}` and one `reprovision.refused` event; nothing here logs the body, a
 * signature or who asked. Where the serial came from changes nothing after it is read: the
 * signature, the signature ledger and the idempotency key's fingerprint see the serial itself.
 */

export const MAX_WEBHOOK_BODY_BYTES = 16 * 1024;

/** Idempotency keys as senders use them (UUIDs, ticket numbers, Standard Webhooks' msg_ ids). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,256}$/;

export interface WebhookDeps {
  /** False when the deployment has re-provisioning off (ZTP_REPROVISIONING_ENABLED): every request is refused with 403. */
  readonly enabled?: boolean;
  readonly keys: readonly Buffer[];
  readonly accept: AcceptDeps;
  readonly signatures: SignatureLedger;
  readonly log: Logger;
  readonly now: Clock;
}

/** What the handler reads of a request: the shape of @azure/functions' HttpRequest. */
export interface WebhookRequest extends SerialSource {
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  readonly body: ReadableStream<Uint8Array> | null;
}

export async function reprovisionWebhook(deps: WebhookDeps, request: WebhookRequest): Promise<JsonAnswer> {
  const correlationId = randomUUID();
  const refuse = (status: number, code: string, message: string): JsonAnswer => {
    deps.log.info({ event: EVENTS.reprovisionRefused, correlationId, status, code }, `re-provisioning request refused: ${code}`);
    return problem(status, code, message);
  };
  const tooLarge = (): JsonAnswer => refuse(413, 'body-too-large', `The body is larger than ${MAX_WEBHOOK_BODY_BYTES} bytes.`);
  // Before anything is read: this deployment holds none of the Graph permissions a request would need.
  if (deps.enabled === false) return refuse(403, 'reprovisioning-disabled', 'Re-provisioning is not enabled in this deployment.');

  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > MAX_WEBHOOK_BODY_BYTES) return tooLarge();
  const raw = await readLimited(request.body, MAX_WEBHOOK_BODY_BYTES);
  if (raw === undefined) return tooLarge();

  const signed = verifyWebhookSignature((name) => request.headers.get(name), raw, deps.keys, deps.now().getTime());
  if (!signed.ok) return refuse(401, signed.code, signed.message);

  const serial = deviceSerial(request);
  if (!serial.ok) return refuse(400, 'invalid-serial', serial.message);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch {
    return refuse(400, 'invalid-json', 'The body is not valid JSON.');
  }
  const body = parseReprovisionBody(json);
  if (!body.ok) return refuse(400, body.code, body.message);
  // The signed webhook-id is the key of its scheme; an unsigned header may not replace it.
  const header = request.headers.get('idempotency-key') ?? undefined;
  if (signed.webhookId !== undefined && header !== undefined && header !== signed.webhookId) {
    return refuse(400, 'invalid-idempotency-key', 'Idempotency-Key and webhook-id must be the same when both are sent.');
  }
  const key = signed.webhookId ?? header;
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    return refuse(400, 'invalid-idempotency-key', 'The Idempotency-Key must be 1-256 printable ASCII characters without spaces.');
  }

  try {
    // The serial (in the route or the query) is outside the signature: a signature is good for the one request it came with.
    const signature = request.headers.get(ZTP_SIGNATURE_HEADER) ?? request.headers.get(WEBHOOK_SIGNATURE_HEADER) ?? '';
    const now = deps.now();
    const fingerprint = requestFingerprint(serial.value, body.ask);
    const fresh = await deps.signatures.claimSignature(signature, fingerprint, now, new Date(now.getTime() + 2 * SIGNATURE_TOLERANCE_MS));
    if (!fresh) return refuse(401, 'invalid-signature', 'This signature was already used for another request: sign each request afresh.');

    // The query form: the path form cannot carry a serial holding `/`.
    const statusUrl = `${new URL(request.url).origin}/api/devices?serial=${encodeURIComponent(serial.value)}`;
    const result = await acceptReprovision(deps.accept, {
      serialNumber: serial.value,
      ask: body.ask,
      idempotencyKey: key,
      correlationId,
      statusUrl,
    });
    return answer(result.status, result.body);
  } catch (error) {
    deps.log.error({ event: EVENTS.reprovisionError, correlationId, err: error }, 're-provisioning request could not be answered');
    return problem(500, 'internal-error', 'The request could not be answered; retry it with the same Idempotency-Key.');
  }
}

/** The whole body, or undefined as soon as it passes `limit` bytes (the rest is never read). */
async function readLimited(body: ReadableStream<Uint8Array> | null, limit: number): Promise<Uint8Array | undefined> {
  if (body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) return undefined;
      chunks.push(value);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks);
}
