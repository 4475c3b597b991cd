import { z } from 'zod';
import { isValidGroupTag, MAX_GROUP_TAG_LENGTH } from '../domain/hash-file/fields.js';
import { REPROVISION_ACTIONS } from '../domain/lifecycle.js';
import type { ReprovisionAsk } from '../domain/reprovision.js';

/**
 * The webhook's body (product.md, HTTP API): strict — an unknown field is refused, so a
 * misspelt `allowReimport` never silently means "no". Each refusal names the field and what
 * is wrong, never the value sent.
 */

const personOrTicket = (name: string) =>
  z
    .string({ error: `${name} must be a string` })
    .min(1, `${name} must not be empty`)
    .max(128, `${name} must be at most 128 characters`)
    .refine((value) => !/\p{Cc}/u.test(value), `${name} must not contain control characters`);

export const reprovisionBodySchema = z
  .strictObject({
    action: z.enum(REPROVISION_ACTIONS, { error: `action must be one of ${REPROVISION_ACTIONS.join(', ')}` }),
    groupTag: z
      .string({ error: 'groupTag must be a string' })
      .superRefine((tag, ctx) => {
        // The same rules as in files; the message names them rather than echoing the value.
        if (tag === '') ctx.addIssue({ code: 'custom', message: 'groupTag must not be empty' });
        else if (!isValidGroupTag(tag)) {
          ctx.addIssue({
            code: 'custom',
            message: `groupTag may only contain letters, digits, spaces, '-', '_' and '.', at most ${MAX_GROUP_TAG_LENGTH} characters, with no space at either end`,
          });
        }
      })
      .optional(),
    allowReimport: z.boolean({ error: 'allowReimport must be true or false' }).optional(),
    ticket: personOrTicket('ticket'),
    requestedBy: personOrTicket('requestedBy'),
  })
  .superRefine((body, ctx) => {
    if (body.action === 'retag' && body.groupTag === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['groupTag'],
        message: 'groupTag is required for retag',
        params: { code: 'missing-group-tag' },
      });
    }
    if (body.action !== 'retag' && body.groupTag !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['groupTag'], message: 'groupTag is only for retag' });
    }
    if (body.action !== 'deregister' && body.allowReimport !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['allowReimport'], message: 'allowReimport is only for deregister' });
    }
  });

export type BodyCheck = { ok: true; ask: ReprovisionAsk } | { ok: false; code: string; message: string };

/** The body as the request it asks for, or the 400 code and message that say why not. */
export function parseReprovisionBody(value: unknown): BodyCheck {
  const parsed = reprovisionBodySchema.safeParse(value);
  if (parsed.success) return { ok: true, ask: parsed.data };
  const issue = parsed.error.issues[0]!;
  const field = issue.path.map(String).join('.');
  const message = issue.message;
  if (issue.code === 'unrecognized_keys') return { ok: false, code: 'unknown-field', message: `Unknown field: ${issue.keys.join(', ')}.` };
  if (issue.code === 'invalid_type' && field === '') return { ok: false, code: 'invalid-body', message: 'The body must be a JSON object.' };
  if (field === 'action') return { ok: false, code: 'invalid-action', message };
  if (issue.code === 'custom' && issue.params?.code === 'missing-group-tag') return { ok: false, code: 'missing-group-tag', message };
  const sent = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[field] : undefined;
  if (issue.code === 'invalid_type' && sent === undefined) return { ok: false, code: 'missing-field', message: `${field} is required` };
  return { ok: false, code: 'invalid-field', message: field && !message.startsWith(field) ? `${field}: ${message}` : message };
}
