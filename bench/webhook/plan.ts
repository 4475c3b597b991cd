import { randomUUID } from 'node:crypto';
import type { ReprovisionAction } from '../../shared/domain/lifecycle.js';
import type { SignatureScheme } from '../../shared/http/webhook-signature.js';

/**
 * The requests of one measured run, in the order they are sent. In every ten: seven accepts
 * (202) on devices no other request of the benchmark touches, cycling through the five actions;
 * one repeat (409) — a new request, with a new idempotency key, for the device the block's
 * deregistration was accepted for, which is `reprovisioning` or already `deregistered`; one
 * bad signature (401: signed with a key the app does not have); one replay (202 with the first
 * answer) — the block's first accept sent again with its idempotency key and body, signed
 * afresh. Repeats and replays are sent only once the request they repeat has its answer.
 * Every other accept is signed in the Standard Webhooks scheme, the rest in the ZTP scheme.
 */

export const ANSWER_KINDS = ['accept', 'repeat', 'bad-signature', 'replay'] as const;
export type AnswerKind = (typeof ANSWER_KINDS)[number];

export const EXPECTED_STATUS: Readonly<Record<AnswerKind, number>> = { accept: 202, repeat: 409, 'bad-signature': 401, replay: 202 };

export const ACTIONS: readonly ReprovisionAction[] = ['autopilot-reset', 'fresh-start', 'wipe', 'retag', 'deregister'];

export interface PlannedRequest {
  readonly index: number;
  readonly kind: AnswerKind;
  readonly serial: string;
  readonly body: { readonly action: ReprovisionAction; readonly ticket: string; readonly requestedBy: string; readonly groupTag?: string };
  readonly idempotencyKey: string;
  readonly scheme: SignatureScheme;
  /** Signed with a key the app does not have. */
  readonly wrongKey: boolean;
  /** The index of the request this one repeats or replays. */
  readonly after?: number;
}

export const BLOCK = 10;
export const ACCEPTS_PER_BLOCK = 7;

/** The devices a run's accepts go to: `acceptsFor(requests)` of them, each used once. */
export const acceptsFor = (requests: number): number => (requests / BLOCK) * ACCEPTS_PER_BLOCK;

export function planRun(serials: readonly string[], requests: number): PlannedRequest[] {
  if (serials.length < acceptsFor(requests)) throw new Error(`planRun: ${acceptsFor(requests)} devices needed, ${serials.length} given`);
  const plan: PlannedRequest[] = [];
  const body = (action: ReprovisionAction, index: number) => ({
    action,
    ticket: `INC${String(index).padStart(7, '0')}`,
    requestedBy: 'bench.desk@example.com',
    ...(action === 'retag' ? { groupTag: 'MPS-KIOSK' } : {}),
  });
  let accepted = 0;
  for (let block = 0; block < requests / BLOCK; block++) {
    const accepts: PlannedRequest[] = [];
    for (let i = 0; i < ACCEPTS_PER_BLOCK; i++, accepted++) {
      const index = plan.length;
      const request: PlannedRequest = {
        index,
        kind: 'accept',
        serial: serials[accepted]!,
        body: body(ACTIONS[accepted % ACTIONS.length]!, index),
        idempotencyKey: randomUUID(),
        scheme: accepted % 2 === 0 ? 'ztp' : 'standard-webhooks',
        wrongKey: false,
      };
      accepts.push(request);
      plan.push(request);
    }
    // Seven accepts in a row cycle through all five actions, so every block has a deregistration.
    const deregistration = accepts.find((request) => request.body.action === 'deregister')!;
    const first = accepts[0]!;
    const second = accepts[1]!;
    plan.push({
      index: plan.length,
      kind: 'repeat',
      serial: deregistration.serial,
      body: body('autopilot-reset', plan.length),
      idempotencyKey: randomUUID(),
      scheme: 'ztp',
      wrongKey: false,
      after: deregistration.index,
    });
    plan.push({
      index: plan.length,
      kind: 'bad-signature',
      serial: second.serial,
      body: body('wipe', plan.length),
      idempotencyKey: randomUUID(),
      scheme: block % 2 === 0 ? 'ztp' : 'standard-webhooks',
      wrongKey: true,
    });
    plan.push({ ...first, index: plan.length, kind: 'replay', after: first.index });
  }
  return plan;
}
