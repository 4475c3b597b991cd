import type { z } from 'zod';
import type { BudgetPriority } from '../../services/autopilot-port.js';
import type { Call, Version } from './call.js';
import { success, type GraphResult } from '../../services/graph-result.js';
import { parseWith } from './schemas.js';

/** The single-request shapes the operations share, on top of `call`. */

export async function getEntity<T>(
  call: Call,
  version: Version,
  path: string,
  schema: z.ZodType<T>,
  priority: BudgetPriority,
): Promise<GraphResult<T>> {
  const reply = await call('GET', version, path, priority);
  return reply.ok ? parseWith(schema, reply.value.body, 'entity') : reply;
}

/** DELETE where already gone counts as done. */
export async function remove(call: Call, path: string, priority: BudgetPriority): Promise<GraphResult<{ deleted: boolean }>> {
  const reply = await call('DELETE', 'v1.0', path, priority);
  if (reply.ok) return success({ deleted: true });
  return reply.kind === 'not-found' ? success({ deleted: false }) : reply;
}

/** POST whose answer body is not needed. */
export async function post(
  call: Call,
  version: Version,
  path: string,
  body: unknown,
  priority: BudgetPriority,
): Promise<GraphResult<void>> {
  const reply = await call('POST', version, path, priority, body);
  return reply.ok ? success(undefined) : reply;
}
