import type { z } from 'zod';
import type { BudgetPriority } from '../../services/autopilot-port.js';
import type { Call, Version } from './call.js';
import { success, type GraphResult } from '../../services/graph-result.js';
import { pageSchema, parseWith } from './schemas.js';
import type { GraphClientSettings } from './settings.js';

export interface Paging {
  /** `$top=` the page size, for queries that page but are not whole listings. */
  top: string;
  /** Follows @odata.nextLink (same origin only, so the token never leaves it) up to maxPages. */
  collect<T>(
    version: Version,
    firstPath: string,
    schema: z.ZodType<T>,
    priority: BudgetPriority,
    stopWhen?: (item: T) => boolean,
  ): Promise<GraphResult<T[]>>;
  /** A whole collection, in pages of `pageSize`, with only the `select`ed properties. */
  list<T>(
    version: Version,
    path: string,
    select: string | undefined,
    schema: z.ZodType<T>,
    priority: BudgetPriority,
  ): Promise<GraphResult<T[]>>;
}

export function createPaging(call: Call, origin: string, settings: Pick<GraphClientSettings, 'pageSize' | 'maxPages'>): Paging {
  const top = `$top=${settings.pageSize}`;

  const collect = async <T>(
    version: Version,
    firstPath: string,
    schema: z.ZodType<T>,
    priority: BudgetPriority,
    stopWhen?: (item: T) => boolean,
  ): Promise<GraphResult<T[]>> => {
    const items: T[] = [];
    let next: { version: Version; path: string } | undefined = { version, path: firstPath };
    for (let pages = 0; next; pages++) {
      if (pages >= settings.maxPages) {
        return {
          ok: false,
          kind: 'permanent',
          status: 0,
          code: 'TooManyPages',
          message: `stopped after ${settings.maxPages} pages of ${firstPath}`,
        };
      }
      const reply = await call('GET', next.version, next.path, priority);
      if (!reply.ok) return reply;
      const page = parseWith(pageSchema, reply.value.body, 'collection page');
      if (!page.ok) return page;
      for (const raw of page.value.value) {
        const item = parseWith(schema, raw, 'entity');
        if (!item.ok) return item;
        items.push(item.value);
        if (stopWhen?.(item.value)) return success(items);
      }
      const link = page.value['@odata.nextLink'];
      next = link === undefined ? undefined : relativeLink(link, origin);
      if (link !== undefined && !next) {
        return { ok: false, kind: 'permanent', status: 0, code: 'UnexpectedNextLink', message: `nextLink outside ${origin}` };
      }
    }
    return success(items);
  };

  // Set once a service has refused a listing's $top or $select (400): from then on its
  // listings ask for neither and take its default pages whole.
  let plainListings = false;
  const list: Paging['list'] = async (version, path, select, schema, priority) => {
    if (!plainListings) {
      const listed = await collect(version, `${path}?${top}${select ? `&$select=${select}` : ''}`, schema, priority);
      if (listed.ok || listed.kind !== 'permanent' || listed.status !== 400) return listed;
      plainListings = true;
    }
    return collect(version, path, schema, priority);
  };

  return { top, collect, list };
}

/** `https://host/beta/x?y` -> { version: 'beta', path: 'x?y' } when it points at our origin. */
function relativeLink(link: string, origin: string): { version: Version; path: string } | undefined {
  if (!link.startsWith(`${origin}/`)) return undefined;
  const rest = link.slice(origin.length + 1);
  const slash = rest.indexOf('/');
  const version = rest.slice(0, slash);
  if (slash < 0 || (version !== 'v1.0' && version !== 'beta')) return undefined;
  return { version, path: rest.slice(slash + 1) };
}
