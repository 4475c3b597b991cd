import { z } from 'zod';
import type { OutgoingMessage } from './envelope.js';
import { QUEUES } from './queues.js';

/** `tick` on `ztp-followup`: one run of a periodic poll (see services/pipeline/ticks.ts). */

export const TICK = 'tick';

export const TICK_NAMES = ['imports', 'autopilot', 'reprovision'] as const;
export type TickName = (typeof TICK_NAMES)[number];

export const tickPayloadSchema = z.object({
  tick: z.enum(TICK_NAMES),
  /** When this run was scheduled for (ISO); identifies the run. */
  at: z.iso.datetime(),
  /** Consecutive runs that saw no progress: drives the backoff. */
  idle: z.number().int().nonnegative(),
  /**
   * Import records an earlier run found finished, with their devices moved on, and could not
   * delete yet: deleted without listing again while no device waits on an import.
   */
  cleanup: z.array(z.string().min(1)).optional(),
});

export type TickPayload = z.infer<typeof tickPayloadSchema>;
export type TickMessage = OutgoingMessage<typeof TICK, TickPayload>;

export const tickQueue = QUEUES.followup;

/** One message per poll and run time: however many callers ask for the same run, one is sent. */
export function tickMessage(payload: TickPayload, correlationId: string): TickMessage {
  return { kind: TICK, correlationId, messageId: `tick:${payload.tick}:${Date.parse(payload.at)}`, payload };
}
