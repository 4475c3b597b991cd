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

/** A value checked at the edge: the value, or the 400 that says what is wrong with it (and its message, for logs). */
export type Checked<T> = { ok: true; value: T } | { ok: false; message: string; answer: JsonAnswer };

function refused(code: string, message: string): { ok: false; message: string; answer: JsonAnswer } {
  return { ok: false, message, answer: problem(400, code, message) };
}

/** A route parameter checked at the edge. */
export function routeParam<T>(
  schema: z.ZodType<T>,
  raw: string | undefined,
  what: { readonly code: string; readonly name: string },
): Checked<T> {
  const parsed = schema.safeParse(raw ?? '');
  if (parsed.success) return { ok: true, value: parsed.data };
  return refused(what.code, `The ${what.name} ${parsed.error.issues[0]?.message ?? 'is invalid'}.`);
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

/** What a device route reads of a request: the shape of @azure/functions' HttpRequest. */
export interface SerialSource {
  readonly params: Readonly<Record<string, string | undefined>>;
  readonly query: { get(name: string): string | null };
}

/**
 * The serial number a POST device route names: in its path (`devices/{serial}/redrive`) or in
 * `?serial=` (`devices/redrive?serial=…`), exactly one of the two. The query form carries any
 * serial the intake accepts; the path form cannot carry a `/`, because the Functions host in
 * Azure decodes %2F before it matches routes (azure-functions-host #3998, #5619, #9290).
 */
export function deviceSerial(request: SerialSource): Checked<string> {
  const inPath = request.params.serial;
  const inQuery = request.query.get('serial') ?? undefined;
  if (inPath !== undefined && inQuery !== undefined) {
    return refused('invalid-serial', 'The serial number is given twice, in the route and in ?serial=: give it once.');
  }
  if (inPath === undefined && inQuery === undefined) {
    return refused('invalid-serial', 'No serial number given: name it in the route (devices/{serial}/…) or in ?serial=.');
  }
  return routeParam(serialParam, inPath ?? inQuery, { code: 'invalid-serial', name: 'serial number' });
}
