import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FUNCTIONS, type FunctionDefinition } from '../../../local/functions.js';

/*
 * local/functions.ts is kept by hand: a new file in functions/ that nobody adds there would
 * run in Azure and never locally, so the dev host, the demo and the end-to-end tests would
 * silently go without it.
 */

const functionsDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../../functions');
const functionFiles = readdirSync(functionsDir)
  .filter((file) => file.endsWith('.ts'))
  .sort();

const modules = new Map<string, Record<string, unknown>>();
for (const file of functionFiles) modules.set(file, (await import(join(functionsDir, file))) as Record<string, unknown>);

/** Every exported `*Options` object of every function file. */
const exported = [...modules].flatMap(([file, module]) =>
  Object.entries(module)
    .filter(([exportName, value]) => exportName.endsWith('Options') && typeof value === 'object' && value !== null)
    .map(([exportName, options]) => ({ file, exportName, options: options as object })),
);

/** How each app.* registration call is named in FunctionDefinition. */
const TRIGGERS: Readonly<Record<string, FunctionDefinition['trigger']>> = {
  storageBlob: 'blob',
  serviceBusQueue: 'serviceBus',
  http: 'http',
  timer: 'timer',
};

describe('the local dev host runs every function', () => {
  it('functions/ holds function files', () => {
    expect(functionFiles.length).toBeGreaterThan(0);
  });

  it.each(functionFiles.map((file) => [file]))('%s exports its options object', (file) => {
    const options = exported.filter((found) => found.file === file);
    expect(options.length, `an exported *Options object in functions/${file}`).toBeGreaterThan(0);
  });

  it('every exported options object is in FUNCTIONS, as the very same object', () => {
    const listed = new Set<object>(FUNCTIONS.map((definition) => definition.options));
    const missing = exported.filter(({ options }) => !listed.has(options)).map((found) => `${found.file}: ${found.exportName}`);
    expect(missing, 'options not in local/functions.ts').toEqual([]);
  });

  it('FUNCTIONS holds nothing that does not come from functions/, and nothing twice', () => {
    const fromFunctionFiles = new Set<object>(exported.map((found) => found.options));
    const foreign = FUNCTIONS.filter((definition) => !fromFunctionFiles.has(definition.options)).map((definition) => definition.name);
    expect(foreign, 'entries of local/functions.ts not exported by functions/').toEqual([]);
    expect(new Set(FUNCTIONS.map((definition) => definition.options)).size).toBe(FUNCTIONS.length);
    expect(new Set(FUNCTIONS.map((definition) => definition.name)).size).toBe(FUNCTIONS.length);
  });

  it.each(functionFiles.map((file) => [file]))(
    '%s: FUNCTIONS uses the name and trigger the file registers with the Functions host',
    (file) => {
      const source = readFileSync(join(functionsDir, file), 'utf8');
      const registrations = [...source.matchAll(/^app\.(\w+)\('(\w+)', (\w+)\);$/gm)];
      expect(registrations.length, `an app.*('name', options) registration in functions/${file}`).toBeGreaterThan(0);
      const module = modules.get(file)!;
      for (const [, method, name, optionsName] of registrations) {
        const definition = FUNCTIONS.find((candidate) => candidate.options === module[optionsName!]);
        expect(definition, `${optionsName} in FUNCTIONS`).toBeDefined();
        expect(definition).toMatchObject({ name, trigger: TRIGGERS[method!] });
      }
    },
  );
});
