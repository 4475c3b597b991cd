import { z } from 'zod';

/**
 * What the HTTP functions answer, in one shape: JSON, never cached (device and batch state
 * change by the minute), errors as `{error: {code, message}}` with a stable code.
 */

export interface JsonAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly jsonBody: unknown;
}

const NO_STORE = { 'Cache-Control': 'no-store' };

export function answer(status: number, body: unknown): JsonAnswer {
  return { status, headers: NO_STORE, jsonBody: body };
}

export function problem(status: number, code: string, message: string): JsonAnswer {
  return answer(status, { error: { code, message } });
}

/** A route parameter checked at the edge: its value, or the 400 that says what is wrong with it. */
export function routeParam<T>(
  schema: z.ZodType<T>,
  raw: string | undefined,
  what: { readonly code: string; readonly name: string },
): { ok: true; value: T } | { ok: false; answer: JsonAnswer } {
  const parsed = schema.safeParse(raw ?? '');
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, answer: problem(400, what.code, `The ${what.name} ${parsed.error.issues[0]?.message ?? 'is invalid'}.`) };
}

/** As the intake accepts serials: trimmed, at most 128 characters, no control characters. */
export const serialParam = z
  .string()
  .trim()
  .min(1, 'is empty')
  .max(128, 'is longer than 128 characters')
  .refine((serial) => !/\p{Cc}/u.test(serial), 'contains control characters');

/** Batch ids are the first 32 hex digits of the file's SHA-256. */
export const batchIdParam = z
  .string()
  .trim()
  .regex(/^[0-9a-f]{32}$/i, 'must be 32 hexadecimal digits')
  .transform((id) => id.toLowerCase());
