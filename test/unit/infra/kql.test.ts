import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EVENTS } from '../../../shared/events.js';

/*
 * The Kusto queries of docs/kql/ are one source for operators (pasted into Logs), for the
 * operations workbook and for the alert rules (both load the files at build time). Each query
 * is checked against the event catalogue, docs/events.md: every event it names exists and is
 * documented, and every field it reads of an event is documented for one of the events it names.
 */

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const kqlDir = join(repoRoot, 'docs/kql');
const read = (relativePath: string): string => readFileSync(join(repoRoot, relativePath), 'utf8');
const catalogue = read('docs/events.md');
const queries = readdirSync(kqlDir)
  .filter((file) => file.endsWith('.kql'))
  .sort();

/** The query without its // comments, which may name anything. */
const code = (file: string): string =>
  read(`docs/kql/${file}`)
    .split('\n')
    .map((line) => line.replace(/\/\/.*$/, ''))
    .join('\n');

/** Event names: the dotted string literals (no other literal in these queries has a dot). */
function eventsOf(query: string): string[] {
  return [...new Set([...query.matchAll(/"([a-z]+(?:-[a-z]+)*\.[a-z]+(?:-[a-z]+)*)"/g)].map((match) => match[1]!))];
}

/** Fields read of a parsed event `e`: `e.field`, `e['field']`, and `e.detail.field` as `detail.field`. */
function fieldsOf(query: string): string[] {
  const fields = new Set<string>();
  for (const match of query.matchAll(/\be(?:\.(\w+)|\['(\w+)'\])(?:\.(\w+))?/g)) {
    const field = match[1] ?? match[2]!;
    fields.add(field === 'detail' && match[3] ? `detail.${match[3]}` : field);
  }
  return [...fields];
}

/** What the catalogue says of an event: its table row, or its own section. */
function documentation(event: string): string | undefined {
  const row = catalogue.split('\n').find((line) => line.startsWith(`| \`${event}\` |`));
  if (row) return row;
  const start = catalogue.indexOf(`### \`${event}\``);
  if (start === -1) return undefined;
  const rest = catalogue.slice(start + 4);
  const end = rest.search(/\n#{2,3} /);
  return end === -1 ? rest : rest.slice(0, end);
}

/** Written on every line by the logger itself (pino): not part of any one event's fields. */
const EVERY_LINE = new Set(['event', 'time', 'level', 'msg']);
const KNOWN_EVENTS: ReadonlySet<string> = new Set(Object.values(EVENTS));

describe('docs/kql queries against the event catalogue', () => {
  it('there are queries, each listed in docs/kql/README.md', () => {
    expect(queries.length).toBeGreaterThan(10);
    const readme = read('docs/kql/README.md');
    for (const file of queries) expect(readme, file).toContain(`(${file})`);
  });

  it.each(queries)('%s names only events the app logs and the catalogue documents', (file) => {
    const events = eventsOf(code(file));
    expect(events.length, `${file} names no event`).toBeGreaterThan(0);
    for (const event of events) {
      expect(KNOWN_EVENTS.has(event), `${file}: "${event}" is not in shared/events.ts`).toBe(true);
      expect(documentation(event), `${file}: "${event}" is not in docs/events.md`).toBeDefined();
    }
  });

  it.each(queries)('%s reads only fields documented for the events it names', (file) => {
    const query = code(file);
    const docs = eventsOf(query).map((event) => documentation(event) ?? '');
    for (const field of fieldsOf(query)) {
      if (EVERY_LINE.has(field)) continue;
      const name = field.startsWith('detail.') ? field.slice('detail.'.length) : field;
      const documented = docs.some((text) => text.includes(`\`${name}\``) && (!field.startsWith('detail.') || text.includes('`detail`')));
      expect(documented, `${file}: field ${field} is documented for none of ${eventsOf(query).join(', ')}`).toBe(true);
    }
  });

  it('the checks themselves catch an unknown event and an undocumented field', () => {
    const bad = 'traces | extend e = parse_json(message) | where tostring(e.event) == "batch.vanished" | project e.noSuchField';
    expect(eventsOf(bad)).toEqual(['batch.vanished']);
    expect(KNOWN_EVENTS.has('batch.vanished')).toBe(false);
    expect(fieldsOf(bad)).toEqual(['event', 'noSuchField']);
    expect(documentation('batch.stuck')).toContain('`redriven`');
    expect(documentation('device.transition')).toContain('`waitingFor`');
  });
});

/** The docs/kql files a template loads with loadTextContent. */
function loadedQueries(template: string): string[] {
  return [...read(template).matchAll(/loadTextContent\('\.\.\/\.\.\/docs\/kql\/([^']+)'\)/g)].map((match) => match[1]!);
}

describe('the workbook and the alert rules use those files', () => {
  it('the workbook has the panels operations asked for, each a docs/kql file', () => {
    const panels = loadedQueries('infra/app/workbook.bicep');
    for (const file of panels) expect(queries, file).toContain(file);
    expect(panels).toEqual(
      expect.arrayContaining([
        'devices-per-state.kql',
        'throughput-per-hour.kql',
        'throttling-per-hour.kql',
        'stuck-devices.kql',
        'dead-letters.kql',
        'reprovision-requests.kql',
      ]),
    );
  });

  it('the alert rules cover dead letters, stalled devices, a 429 surge and degraded health, each a docs/kql file', () => {
    const rules = loadedQueries('infra/app/alerts.bicep');
    for (const file of rules) expect(queries, file).toContain(file);
    expect(rules).toEqual(
      expect.arrayContaining([
        'alert-dead-letters.kql',
        'alert-devices-stalled.kql',
        'alert-graph-throttling.kql',
        'alert-health-degraded.kql',
      ]),
    );
  });

  it('alert queries leave the time window to their rule', () => {
    for (const file of queries.filter((name) => name.startsWith('alert-'))) {
      expect(code(file), file).not.toMatch(/ago\(/);
    }
  });
});
