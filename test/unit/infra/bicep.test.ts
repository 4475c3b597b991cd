import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BLOB_CONTAINERS, STORAGE_QUEUES } from '../../../shared/adapters/blobs/containers.js';
import { TABLES } from '../../../shared/adapters/tables/table-names.js';
import { INTAKE_CONTAINER, RESULTS_CONTAINER } from '../../../shared/domain/blob-layout.js';
import { loadConfig } from '../../../shared/config.js';
import { QUEUES } from '../../../shared/messages/index.js';

/*
 * Static checks of the Bicep in infra/: no Bicep compiler is available offline, so these read
 * the templates as text (comments stripped, brackets balanced, strings respected) and pin the
 * properties the product and its security depend on.
 */

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const infraDir = join(repoRoot, 'infra');

function read(relativePath: string): string {
  return readFileSync(join(repoRoot, relativePath), 'utf8');
}

/** Removes // and /* *\/ comments outside single-quoted strings. */
function stripComments(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      out += ch;
      if (ch === '\\') {
        out += text[++i] ?? '';
      } else if (ch === "'") {
        inString = false;
      }
    } else if (ch === "'") {
      inString = true;
      out += ch;
    } else if (text.startsWith('//', i)) {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      i = end === -1 ? text.length : end + 1;
    } else {
      out += ch;
    }
  }
  return out;
}

function bicep(relativePath: string): string {
  return stripComments(read(relativePath));
}

/** The balanced {...} or [...] starting at the first opening bracket at or after `from`. */
function balanced(text: string, from: number): string {
  const start = text.slice(from).search(/[{[]/);
  if (start === -1) throw new Error(`no block after offset ${from}`);
  let depth = 0;
  let inString = false;
  for (let i = from + start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === "'") inString = false;
    } else if (ch === "'") {
      inString = true;
    } else if (ch === '{' || ch === '[') {
      depth++;
    } else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) return text.slice(from + start, i + 1);
    }
  }
  throw new Error(`unbalanced block after offset ${from}`);
}

/** Keys of an object literal `{ ... }`, at its own level only. */
function topLevelKeys(objectText: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let inString = false;
  let lineStart = true;
  for (let i = 0; i < objectText.length; i++) {
    const ch = objectText[i];
    if (lineStart && depth === 1 && !inString) {
      const match = /^\s*([A-Za-z_][\w]*|'[^']*')\s*:/.exec(objectText.slice(i, objectText.indexOf('\n', i) + 1 || undefined));
      if (match?.[1]) keys.push(match[1].replace(/'/g, ''));
    }
    lineStart = ch === '\n';
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === "'") inString = false;
    } else if (ch === "'") inString = true;
    else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
  }
  return keys;
}

/** The value block of `key: { ... }` directly inside `objectText`. */
function property(objectText: string, key: string): string {
  const match = new RegExp(`\\n\\s*${key}\\s*:\\s*(?=[{[])`).exec(objectText);
  if (!match) throw new Error(`no ${key}: block`);
  return balanced(objectText, match.index + match[0].length);
}

interface BicepResource {
  readonly symbol: string;
  readonly type: string;
  readonly body: string;
}

/** Top-level and nested `resource` declarations (nested ones have a short type like 'config'). */
function resources(text: string): BicepResource[] {
  const found: BicepResource[] = [];
  for (const match of text.matchAll(/^\s*resource (\w+) '([^'@]+)(?:@[^']+)?'( existing)? =/gm)) {
    found.push({ symbol: match[1]!, type: match[2]!, body: balanced(text, match.index + match[0].length) });
  }
  return found;
}

function params(text: string): Map<string, { hasDefault: boolean }> {
  const map = new Map<string, { hasDefault: boolean }>();
  for (const match of text.matchAll(/^param (\w+) [\w[\]]+(\s*=)?/gm)) map.set(match[1]!, { hasDefault: Boolean(match[2]) });
  return map;
}

function outputs(text: string): Set<string> {
  return new Set([...text.matchAll(/^output (\w+) /gm)].map((m) => m[1]!));
}

/** A string literal default: `param name string = 'value'`. */
function paramDefault(text: string, name: string): string | undefined {
  return new RegExp(`^param ${name} \\w+ = '([^']*)'`, 'm').exec(text)?.[1];
}

/** A string array literal: `[ 'a' \n 'b' ]` -> ['a', 'b']. */
function stringArray(arrayText: string): string[] {
  return [...arrayText.matchAll(/'([^']*)'/g)].map((m) => m[1]!);
}

function arrayVariable(text: string, name: string): string[] {
  const match = new RegExp(`^var ${name} = `, 'm').exec(text);
  if (!match) throw new Error(`no var ${name}`);
  return stringArray(balanced(text, match.index + match[0].length));
}

const bicepFiles = [
  'infra/main.bicep',
  ...readdirSync(join(infraDir, 'app'))
    .filter((f) => f.endsWith('.bicep'))
    .map((f) => `infra/app/${f}`),
];

const main = bicep('infra/main.bicep');
const functionApp = bicep('infra/app/function-app.bicep');
const serviceBus = bicep('infra/app/service-bus.bicep');
const storage = bicep('infra/app/storage.bicep');

function appSettings(): Map<string, string> {
  const config = resources(functionApp).find((r) => r.type === 'config');
  if (!config) throw new Error('no appsettings config resource');
  expect(config.body).toMatch(/name: 'appsettings'/);
  const block = property(config.body, 'properties');
  const settings = new Map<string, string>();
  for (const key of topLevelKeys(block)) {
    const value = new RegExp(`\\n\\s*${key}\\s*:\\s*(.+)`).exec(block)?.[1]?.trim() ?? '';
    settings.set(key, value);
  }
  return settings;
}

/**
 * Every setting shared/config.ts reads: the names it hands its readers (`text(env, 'X')`,
 * `required(env, 'X', ...)`, ...) and the names a real load touches, so a reader reached another
 * way is not missed.
 */
function settingsReadByConfig(): Set<string> {
  const names = new Set([...read('shared/config.ts').matchAll(/\(\s*env,\s*'(\w+)'/g)].map((m) => m[1]!));
  const minimal: Record<string, string> = {
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    ServiceBusConnection: 'Endpoint=sb://127.0.0.1/;SharedAccessKeyName=k;SharedAccessKey=v',
    REPROVISION_WEBHOOK_SECRET: 'a-secret-of-sixteen-characters',
    ZTP_SUPPLIERS: '[{"id":"contoso","name":"Contoso"}]',
  };
  const env = new Proxy(minimal, {
    get(target, key) {
      if (typeof key === 'string') names.add(key);
      return typeof key === 'string' ? target[key] : undefined;
    },
  });
  loadConfig(env);
  // And the identity-based storage form, which is read only when no connection string is given.
  const identity = new Proxy(
    { ...minimal, AzureWebJobsStorage: undefined, AzureWebJobsStorage__accountName: 'stztp' } as Record<string, string | undefined>,
    {
      get(target, key) {
        if (typeof key === 'string') names.add(key);
        return typeof key === 'string' ? target[key] : undefined;
      },
    },
  );
  loadConfig(identity);
  return names;
}

/** A markdown section: from its heading (the whole line, or a line starting with it and a space) to the next heading of its level or above. */
function markdownSection(text: string, heading: string): string {
  const found = new RegExp(`^${heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?: [^\n]*)?$`, 'm').exec(text);
  expect(found, `a "${heading}" section`).not.toBeNull();
  const level = /^#+/.exec(heading)![0].length;
  const rest = text.slice(found!.index + found![0].length);
  const next = new RegExp(`\\n#{1,${level}} `).exec(rest);
  return next ? rest.slice(0, next.index) : rest;
}

/** The setting names in the first column of a markdown table. */
function settingNames(section: string): string[] {
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`(\w+)`/g)].map((m) => m[1]!));
}

describe('module wiring', () => {
  const modules = [...main.matchAll(/^module (\w+) '([^']+)' = (?:if \([^)]*\) )?/gm)].map((m) => ({
    symbol: m[1]!,
    file: `infra/${m[2]!}`,
    body: balanced(main, m.index + m[0].length),
  }));

  it('main.bicep uses every module in infra/app and nothing else', () => {
    expect(modules.map((m) => m.file).sort()).toEqual(bicepFiles.filter((f) => f !== 'infra/main.bicep').sort());
  });

  for (const { symbol, file, body } of modules) {
    it(`${symbol}: passes only declared parameters and every required one`, () => {
      const declared = params(bicep(file));
      const passed = topLevelKeys(property(body, 'params'));
      for (const name of passed) expect(declared.has(name), `${file} declares param ${name}`).toBe(true);
      const required = [...declared].filter(([, p]) => !p.hasDefault).map(([name]) => name);
      for (const name of required) expect(passed, `${symbol} passes required ${name}`).toContain(name);
      expect(body).toMatch(/\n\s*scope: rg\n/);
    });
  }

  it('every module output used in main.bicep exists', () => {
    const bySymbol = new Map(modules.map((m) => [m.symbol, outputs(bicep(m.file))]));
    const uses = [...main.matchAll(/\b(\w+)\.outputs\.(\w+)/g)];
    expect(uses.length).toBeGreaterThan(10);
    for (const [, symbol, output] of uses) {
      expect(bySymbol.get(symbol!)?.has(output!), `${symbol}.outputs.${output}`).toBe(true);
    }
  });

  it('main.parameters.json maps exactly the parameters azd must supply, and only declared ones', () => {
    const file = JSON.parse(read('infra/main.parameters.json')) as { parameters: Record<string, { value: unknown }> };
    const declared = params(main);
    const supplied = Object.keys(file.parameters);
    for (const name of supplied) expect(declared.has(name), `main.bicep declares ${name}`).toBe(true);
    for (const [name, p] of declared) if (!p.hasDefault) expect(supplied, `parameters file supplies ${name}`).toContain(name);
    expect(file.parameters['reprovisionWebhookSecret']?.value).toBe('${REPROVISION_WEBHOOK_SECRET}');
    expect(file.parameters['ztpSuppliers']?.value).toBe('${ZTP_SUPPLIERS}');
  });

  it('the webhook secret parameter is secure and long enough for the app to accept it', () => {
    expect(main).toMatch(/@secure\(\)\s*\n@minLength\(16\)\s*\n(@description\([^\n]*\)\s*\n)?param reprovisionWebhookSecret string/);
    expect(bicep('infra/app/key-vault.bicep')).toMatch(
      /@secure\(\)\s*\n(@description\([^\n]*\)\s*\n)?param reprovisionWebhookSecret string/,
    );
  });
});

describe('Service Bus', () => {
  it('creates exactly the queues the app uses', () => {
    expect(arrayVariable(main, 'queueNames').sort()).toEqual(Object.values(QUEUES).sort());
    expect(serviceBus).toMatch(/resource queues 'Microsoft\.ServiceBus\/namespaces\/queues@[^']+' = \[\s*for queueName in queueNames:/);
  });

  it('queues have duplicate detection, bounded delivery and dead-lettering', () => {
    const queue = resources(serviceBus).find((r) => r.symbol === 'queues');
    const props = property(queue!.body, 'properties');
    expect(props).toMatch(/requiresDuplicateDetection: true\n/);
    expect(props).toMatch(/duplicateDetectionHistoryTimeWindow: duplicateDetectionHistoryTimeWindow\n/);
    expect(props).toMatch(/maxDeliveryCount: 10\n/);
    expect(props).toMatch(/lockDuration: 'PT1M'\n/);
    expect(props).toMatch(/deadLetteringOnMessageExpiration: true\n/);
    expect(paramDefault(serviceBus, 'duplicateDetectionHistoryTimeWindow')).toBe('PT1H');
    expect(paramDefault(main, 'duplicateDetectionHistoryTimeWindow')).toBe('PT1H');
  });

  it('is Standard (duplicate detection, scheduled messages) with local auth off and TLS 1.2', () => {
    const namespace = resources(serviceBus).find((r) => r.type === 'Microsoft.ServiceBus/namespaces');
    expect(property(namespace!.body, 'sku')).toMatch(/name: 'Standard'/);
    const props = property(namespace!.body, 'properties');
    expect(props).toMatch(/disableLocalAuth: true\n/);
    expect(props).toMatch(/minimumTlsVersion: '1\.2'\n/);
  });
});

describe('Microsoft Graph permissions', () => {
  const AUTOPILOT = 'DeviceManagementServiceConfig.ReadWrite.All';
  const MANAGED_DEVICES = 'DeviceManagementManagedDevices.ReadWrite.All';
  const PRIVILEGED = 'DeviceManagementManagedDevices.PrivilegedOperations.All';
  const granted = (reprovisioning: boolean): string[] => (reprovisioning ? [AUTOPILOT, MANAGED_DEVICES, PRIVILEGED] : [AUTOPILOT]).sort();
  const permissionNames = (text: string): string[] => [...text.matchAll(/`([A-Z]\w+(?:\.\w+)+\.All)`/g)].map((m) => m[1]!);

  const readme = read('infra/README.md');
  const section = markdownSection(readme, '### Microsoft Graph application permissions');
  const tableRows = (header: string): string[][] => {
    const start = section.indexOf(header);
    expect(start, `a table headed ${header}`).toBeGreaterThanOrEqual(0);
    const rows: string[][] = [];
    for (const line of section.slice(start).split('\n').slice(2)) {
      if (!line.startsWith('|')) break;
      rows.push(
        line
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim()),
      );
    }
    return rows;
  };

  /** One row per Graph call: where the code makes it, what it is, the feature, the permission it relies on, Graph's page. */
  const calls = tableRows('| code | Graph request | feature | permission | source |').map(
    ([code, request, feature, permission, source]) => ({
      code: code!,
      request: request!,
      feature: feature!,
      permissions: permissionNames(permission!),
      sources: [...source!.matchAll(/https:\/\/learn\.microsoft\.com\/graph\/api\/[\w-]+\?view=graph-rest-(?:1\.0|beta)/g)].map(
        (m) => m[0],
      ),
    }),
  );

  /** The permissions infra/README.md documents for the features a deployment has. */
  const documented = (reprovisioning: boolean): string[] => {
    const features = reprovisioning ? ['provisioning', 'health', 're-provisioning'] : ['provisioning', 'health'];
    return [...new Set(calls.filter((call) => features.includes(call.feature)).flatMap((call) => call.permissions))].sort();
  };

  const module = bicep('infra/app/graph-permissions.bicep');
  /** The Bicep module's grant list for one value of enableReprovisioning. */
  const bicepGrants = (reprovisioning: boolean): string[] => {
    const autopilot = arrayVariable(module, 'autopilotAppRoles');
    const reprovisioningRoles = arrayVariable(module, 'reprovisioningAppRoles');
    expect(module).toMatch(
      /^var appRoleNames = enableReprovisioning \? concat\(autopilotAppRoles, reprovisioningAppRoles\) : autopilotAppRoles$/m,
    );
    return (reprovisioning ? [...autopilot, ...reprovisioningRoles] : autopilot).sort();
  };

  const script = read('infra/scripts/grant-graph-permissions.sh');
  const scriptList = (name: string): string[] => stringArray(new RegExp(`readonly ${name}=\\(([^)]*)\\)`).exec(script)?.[1] ?? '');
  /** What the script grants for one value of ENABLE_REPROVISIONING, read from its case statement. */
  const scriptGrants = (reprovisioning: boolean): string[] => {
    const branch = new RegExp(`\\n\\s*${reprovisioning}\\)\\n\\s*wanted=\\(([^)]*)\\)`).exec(script)?.[1] ?? '';
    return [...branch.matchAll(/\$\{(\w+)\[@\]\}/g)].flatMap((m) => scriptList(m[1]!)).sort();
  };

  it("every Graph call of the adapter is documented with the code that makes it, its permission and Graph's page", () => {
    const operations = ['imported-identities.ts', 'autopilot-identities.ts', 'managed-devices.ts'].flatMap((file) => {
      const picked = /Pick<\s*GraphClient,([^>]*)>/.exec(read(`shared/adapters/graph/${file}`))?.[1] ?? '';
      return [...picked.matchAll(/'(\w+)'/g)].map((m) => `shared/adapters/graph/${file}:${m[1]!}`);
    });
    expect(operations.length).toBeGreaterThanOrEqual(15);
    const documentedCode = calls.map((call) => /^`([^`]+)`/.exec(call.code)?.[1]);
    expect(documentedCode.sort()).toEqual([...operations].sort());
    for (const call of calls) {
      expect(['provisioning', 'health', 're-provisioning'], call.code).toContain(call.feature);
      expect(call.permissions, call.code).toHaveLength(1);
      expect(call.sources.length, `${call.code} cites Graph's page`).toBeGreaterThan(0);
      // Every file named exists and names the function: the adapter defines it, the use cases call it.
      const [adapter, ...callers] = [...call.code.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      const [file, fn] = adapter!.split(':');
      expect(existsSync(join(repoRoot, file!)), file).toBe(true);
      expect(read(file!), `${file} defines ${fn}`).toMatch(new RegExp(`\\b${fn}\\b`));
      for (const caller of callers) expect(read(caller), `${caller} calls ${fn}`).toMatch(new RegExp(`\\.${fn}\\(`));
    }
    // The remote actions and the delete are the re-provisioning feature's, and need its permissions.
    const byFunction = (fn: string) => calls.find((call) => call.code.includes(`:${fn}\``))!;
    expect(byFunction('runManagedDeviceAction')).toMatchObject({ feature: 're-provisioning', permissions: [PRIVILEGED] });
    expect(byFunction('deleteManagedDevice')).toMatchObject({ feature: 're-provisioning', permissions: [MANAGED_DEVICES] });
    expect(byFunction('deleteManagedDevice').sources).toEqual([
      'https://learn.microsoft.com/graph/api/intune-devices-manageddevice-delete?view=graph-rest-1.0',
    ]);
  });

  for (const reprovisioning of [true, false]) {
    it(`with enableReprovisioning ${reprovisioning}: the Bicep module and the script grant exactly what the enabled features call`, () => {
      expect(documented(reprovisioning)).toEqual(granted(reprovisioning));
      expect(bicepGrants(reprovisioning)).toEqual(granted(reprovisioning));
      expect(scriptGrants(reprovisioning)).toEqual(granted(reprovisioning));
    });
  }

  it('the summary table names each permission once, with when it is granted', () => {
    const summary = tableRows('| permission | granted | why |');
    expect(summary.map(([permission]) => permissionNames(permission!)[0]).sort()).toEqual(granted(true));
    for (const [permission, when] of summary) {
      const name = permissionNames(permission!)[0]!;
      expect(when, name).toBe(granted(false).includes(name) ? 'always' : 'with `enableReprovisioning`');
    }
    expect(section).toContain('00000003-0000-0000-c000-000000000000');
  });

  // The product contract lives beside the repository, not in it: a checkout on its own skips this, visibly.
  const sharedDoc = resolve(repoRoot, '../shared/docs/graph-autopilot.md');
  it.skipIf(!existsSync(sharedDoc))('match the documented list in ../shared/docs/graph-autopilot.md (skipped when it is absent)', () => {
    const text = readFileSync(sharedDoc, 'utf8');
    const contract = permissionNames(markdownSection(text, '## Permissions'));
    // The list names Read.All for finding managed devices; deregistration also deletes them, which the
    // same document (and Graph's page for the call) says takes ReadWrite.All, so that is granted instead.
    expect(text).toContain('`DELETE managedDevices/{id}` needs `DeviceManagementManagedDevices.ReadWrite.All`');
    const wanted = contract.map((p) => (p === 'DeviceManagementManagedDevices.Read.All' ? MANAGED_DEVICES : p));
    expect(wanted.sort()).toEqual(granted(true));
  });

  it('the Bicep module grants by name on the Microsoft Graph service principal', () => {
    expect(module).toMatch(/^extension microsoftGraphV1$/m);
    expect(module).toMatch(/^param enableReprovisioning bool = true$/m);
    expect(module).toMatch(
      /resource microsoftGraph 'Microsoft\.Graph\/servicePrincipals@v1\.0' existing = \{\s*appId: microsoftGraphAppId\s*\}/,
    );
    expect(module).toContain("var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'");
    expect(module).toMatch(/resource grants 'Microsoft\.Graph\/appRoleAssignedTo@v1\.0' = \[\s*for roleName in appRoleNames:/);
    expect(module).toMatch(/principalId: principalId\n\s*resourceId: microsoftGraph\.id\n/);
    expect(JSON.parse(read('infra/bicepconfig.json'))).toMatchObject({
      extensions: { microsoftGraphV1: expect.stringMatching(/^br:mcr\.microsoft\.com\/bicep\/extensions\/microsoftgraph\/v1\.0:/) },
    });
  });

  it('one parameter switches re-provisioning for the grants and for the app, on by default', () => {
    expect(main).toMatch(/^param enableReprovisioning bool = true$/m);
    const file = JSON.parse(read('infra/main.parameters.json')) as { parameters: Record<string, { value: unknown }> };
    expect(file.parameters['enableReprovisioning']?.value).toBe('${ENABLE_REPROVISIONING=true}');
    expect(balanced(main, main.indexOf("module graphPermissions 'app/graph-permissions.bicep'"))).toMatch(
      /\n\s*enableReprovisioning: enableReprovisioning\n/,
    );
    expect(balanced(main, main.indexOf("module functionApp 'app/function-app.bicep'"))).toMatch(
      /\n\s*enableReprovisioning: enableReprovisioning\n/,
    );
    expect(appSettings().get('ZTP_REPROVISIONING_ENABLED')).toBe("enableReprovisioning ? 'true' : 'false'");
    // The script reads the same azd value.
    expect(script).toContain('azd_value ENABLE_REPROVISIONING');
  });

  it('are granted only when asked for (the deployer needs Privileged Role Administrator)', () => {
    expect(main).toMatch(/^param grantGraphPermissions bool = false$/m);
    expect(main).toMatch(/^module graphPermissions 'app\/graph-permissions\.bicep' = if \(grantGraphPermissions\)/m);
  });
});

describe('role assignments', () => {
  const builtInRoles: Record<string, string> = {
    'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
    'ba92f5b4-2d11-453d-a403-e96b0029c9fe': 'Storage Blob Data Contributor',
    '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
    '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
    '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0': 'Azure Service Bus Data Receiver',
    '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39': 'Azure Service Bus Data Sender',
    '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
    '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
  };
  const broadRoles = [
    '8e3af657-a8ff-443c-a75c-2fe8c4bcb635', // Owner
    'b24988ac-6180-42a0-ab88-20f7382dd24c', // Contributor
    '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9', // User Access Administrator
    'f58310d9-a9f6-439a-9e8d-f62e7b41a168', // Role Based Access Control Administrator
    '17d1049b-9a84-46fb-8f53-869881c3d3ab', // Storage Account Contributor
    '090c5cfd-751d-490a-894a-3ce6f1109419', // Azure Service Bus Data Owner
    '00482a5a-887f-4fb3-b363-3b7fe8e74483', // Key Vault Administrator
  ];
  const guid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

  it('the app identity gets exactly the documented data roles', () => {
    const rbac = bicep('infra/app/rbac.bicep');
    const granted = [...rbac.matchAll(guid)].map((m) => builtInRoles[m[0].toLowerCase()] ?? m[0]);
    expect(granted.sort()).toEqual(
      [
        'Storage Blob Data Owner',
        'Storage Queue Data Contributor',
        'Storage Table Data Contributor',
        'Azure Service Bus Data Receiver',
        'Azure Service Bus Data Sender',
        'Key Vault Secrets User',
        'Monitoring Metrics Publisher',
      ].sort(),
    );
    for (const roleName of granted) expect(read('infra/README.md')).toContain(`| ${roleName} |`);
  });

  it('no template names an Owner/Contributor/administrator-type role', () => {
    for (const file of bicepFiles) {
      const text = read(file).toLowerCase();
      for (const role of broadRoles) expect(text, `${file} avoids ${role}`).not.toContain(role);
      expect(text).not.toMatch(/roledefinitionidorname/);
    }
  });

  it('every role assignment is scoped to one resource, never a resource group or subscription', () => {
    let count = 0;
    for (const file of bicepFiles) {
      const text = bicep(file);
      const declared = resources(text);
      const isSubscriptionScope = /^targetScope = 'subscription'/m.test(text);
      for (const assignment of declared.filter((r) => r.type === 'Microsoft.Authorization/roleAssignments')) {
        count++;
        expect(isSubscriptionScope, `${file} has no subscription-scope role assignment`).toBe(false);
        const scope = /\n\s*scope: ([\w:]+)\n/.exec(assignment.body)?.[1];
        expect(scope, `${file} ${assignment.symbol} has an explicit scope`).toBeDefined();
        const leaf = scope!.split('::').pop()!;
        const target = declared.find((r) => r.symbol === leaf);
        expect(target, `${file} ${assignment.symbol} scope ${scope} is a declared resource`).toBeDefined();
        expect(target!.type).not.toMatch(/^Microsoft\.Resources\//);
        expect(assignment.body).toMatch(/principalType: 'ServicePrincipal'/);
        expect(assignment.body).toMatch(/roleDefinitionId: subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions', /);
      }
    }
    expect(count).toBeGreaterThanOrEqual(5);
  });
});

describe('Function App', () => {
  const settings = appSettings();

  it('runs Node 22 on Flex Consumption (FC1, Linux) as the user-assigned identity', () => {
    const plan = resources(functionApp).find((r) => r.type === 'Microsoft.Web/serverfarms');
    expect(property(plan!.body, 'sku')).toMatch(/name: 'FC1'\s*\n\s*tier: 'FlexConsumption'/);
    expect(plan!.body).toMatch(/reserved: true/);
    const site = resources(functionApp).find((r) => r.type === 'Microsoft.Web/sites');
    expect(site!.body).toMatch(/kind: 'functionapp,linux'/);
    expect(property(site!.body, 'runtime')).toMatch(/name: 'node'\s*\n\s*version: '22'/);
    expect(property(site!.body, 'identity')).toMatch(/type: 'UserAssigned'/);
    expect(property(site!.body, 'authentication')).toMatch(/type: 'UserAssignedIdentity'/);
    expect(site!.body).toMatch(/keyVaultReferenceIdentity: identityId/);
    expect(site!.body).toMatch(/'azd-service-name': serviceName/);
    expect(paramDefault(functionApp, 'serviceName')).toBe('api');
    expect(read('azure.yaml')).toMatch(/services:\n {2}api:\n {4}project: \.\n {4}language: js\n {4}host: function\n/);
  });

  it('is built on the server from the TypeScript sources, without the local node_modules', () => {
    expect(read('azure.yaml')).toMatch(/\n {4}remoteBuild: true\n/);
    const ignored = read('.funcignore')
      .split('\n')
      .map((line) => line.trim());
    expect(ignored).toContain('node_modules');
    for (const needed of ['*.ts', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'host.json', 'functions', 'shared']) {
      expect(ignored, `${needed} reaches the remote build`).not.toContain(needed);
    }
  });

  it('is HTTPS only with TLS 1.2 and no basic-auth publishing', () => {
    const site = resources(functionApp).find((r) => r.type === 'Microsoft.Web/sites');
    expect(site!.body).toMatch(/\n\s*httpsOnly: true\n/);
    expect(property(site!.body, 'siteConfig')).toMatch(/minTlsVersion: '1\.2'/);
    const policies = resources(functionApp).filter((r) => r.type === 'basicPublishingCredentialsPolicies');
    expect(policies.map((p) => /name: '(\w+)'/.exec(p.body)?.[1]).sort()).toEqual(['ftp', 'scm']);
    for (const policy of policies) expect(policy.body).toMatch(/allow: false/);
  });

  it('app settings cover every setting the product requires', () => {
    const required = new Set(['AzureWebJobsStorage', 'GRAPH_BASE_URL', 'REPROVISION_WEBHOOK_SECRET', 'ZTP_SUPPLIERS', 'ZTP_TIME_SCALE']);
    // Whatever the app's configuration reader insists on, infra must set.
    const requiredByConfig = [...read('shared/config.ts').matchAll(/required\(env, '(\w+)'/g)].map((match) => match[1]!);
    expect(requiredByConfig.length).toBeGreaterThan(0);
    for (const name of requiredByConfig) required.add(name);
    for (const name of required) {
      const satisfied =
        settings.has(name) ||
        (name === 'AzureWebJobsStorage' &&
          ['blob', 'queue', 'table'].every((service) => settings.has(`AzureWebJobsStorage__${service}ServiceUri`)));
      expect(satisfied, `app setting ${name}`).toBe(true);
    }
    // Storage through the identity: the service URIs the account reports, no key anywhere.
    expect(settings.has('AzureWebJobsStorage')).toBe(false);
    for (const service of ['blob', 'queue', 'table']) {
      expect(settings.get(`AzureWebJobsStorage__${service}ServiceUri`)).toBe(`storage.properties.primaryEndpoints.${service}`);
    }
    expect(settings.get('AzureWebJobsStorage__credential')).toBe("'managedidentity'");
    expect(settings.get('AzureWebJobsStorage__clientId')).toBe('identityClientId');
    expect(settings.get('ServiceBusConnection__fullyQualifiedNamespace')).toBe('serviceBusFullyQualifiedNamespace');
    expect(settings.get('ServiceBusConnection__credential')).toBe("'managedidentity'");
    expect(settings.get('ServiceBusConnection__clientId')).toBe('identityClientId');
    expect(settings.get('AZURE_CLIENT_ID')).toBe('identityClientId');
    expect(settings.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')).toBe("'ClientId=${identityClientId};Authorization=AAD'");
    expect(main).toMatch(/ztpTimeScale: '1'\n/);
    expect(paramDefault(main, 'graphBaseUrl')).toBe('https://graph.microsoft.com');
  });

  it('sets only settings the product, the Functions host or an Azure SDK reads', () => {
    const readByProduct = settingsReadByConfig();
    // Read by the Functions host (the Service Bus trigger's identity-based connection) and the
    // Azure SDKs (DefaultAzureCredential, Application Insights), not by shared/config.ts.
    const platform = [
      'ServiceBusConnection__credential',
      'ServiceBusConnection__clientId',
      'AZURE_CLIENT_ID',
      'APPLICATIONINSIGHTS_CONNECTION_STRING',
      'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
      // The Functions host's cap on a request body (the supplier upload API streams large files).
      'FUNCTIONS_REQUEST_BODY_SIZE_LIMIT',
      // The arguments the Functions host starts the Node.js worker with.
      'languageWorkers__node__arguments',
    ];
    for (const name of settings.keys()) {
      expect(readByProduct.has(name) || platform.includes(name), `${name} is read by someone`).toBe(true);
    }
  });

  it('every setting the product reads is documented, and infra/README.md lists exactly what is set', () => {
    const readByProduct = settingsReadByConfig();
    expect(readByProduct.size).toBeGreaterThan(20);
    const documented = settingNames(markdownSection(read('README.md'), '## Settings'));
    for (const name of readByProduct) expect(documented, `README "Settings" documents ${name}`).toContain(name);
    const listed = settingNames(markdownSection(read('infra/README.md'), '### App settings'));
    expect([...new Set(listed)].sort()).toEqual([...settings.keys()].sort());
  });

  it('secrets come from Key Vault references, never as values', () => {
    expect(settings.get('REPROVISION_WEBHOOK_SECRET')).toBe("'@Microsoft.KeyVault(SecretUri=${reprovisionWebhookSecretUri})'");
    // No storage key: none is read, stored or handed to anyone, and the account refuses them.
    for (const file of bicepFiles) {
      expect(bicep(file), `${file} reads no storage account key`).not.toMatch(/storage\w*\.listKeys\(|AccountKey=/);
    }
    expect(bicep('infra/app/key-vault.bicep')).not.toMatch(/storage-connection-string/);
    expect(bicep('infra/app/storage.bicep')).toMatch(/\n\s*allowSharedKeyAccess: false\n/);
    for (const file of bicepFiles) {
      for (const match of bicep(file).matchAll(/^output (\w+) .*$/gm)) {
        expect(match[0], `${file} outputs no key`).not.toMatch(/listKeys|AccountKey|[Ss]ecret\b(?!Uri)/);
      }
    }
  });

  it("caps the Node.js worker's old space at 3/8 of the instance's memory: 192 MiB on a 512 MB instance", () => {
    expect(settings.get('languageWorkers__node__arguments')).toBe("'--max-old-space-size=${nodeMaxOldSpaceMB}'");
    const rule = /^var nodeMaxOldSpaceMB = instanceMemoryMB \* (\d+) \/ (\d+)$/m.exec(functionApp);
    expect(rule, 'the cap follows instanceMemoryMB').not.toBeNull();
    const capOf = (memoryMB: number) => Math.trunc((memoryMB * Number(rule![1])) / Number(rule![2]));
    // The cap the 50,000-device benchmark ran with, and room for the host beside the worker.
    expect([512, 2048, 4096].map(capOf)).toEqual([192, 768, 1536]);
    // One choice of instance size, made in main.bicep and passed on, among the sizes Flex Consumption offers.
    for (const text of [main, functionApp]) {
      expect(text).toMatch(/@allowed\(\[\s*512\s+2048\s+4096\s*\]\)\s*(?:@description\('[^']*'\)\s*)?param instanceMemoryMB int = 2048\n/);
    }
    expect(main).toMatch(/\n\s*instanceMemoryMB: instanceMemoryMB\n/);
  });

  it('sets nothing Flex Consumption rejects, and no simulator-only setting', () => {
    for (const name of [
      'FUNCTIONS_WORKER_RUNTIME',
      'FUNCTIONS_EXTENSION_VERSION',
      'WEBSITE_RUN_FROM_PACKAGE',
      'WEBSITE_CONTENTSHARE',
      'WEBSITE_NODE_DEFAULT_VERSION',
      'GRAPH_STATIC_TOKEN',
    ]) {
      expect(settings.has(name), name).toBe(false);
    }
  });
});

describe('storage, Key Vault, monitoring', () => {
  it('storage is TLS 1.2, HTTPS only, without public blob access', () => {
    const account = resources(storage).find((r) => r.type === 'Microsoft.Storage/storageAccounts');
    const props = property(account!.body, 'properties');
    expect(props).toMatch(/minimumTlsVersion: 'TLS1_2'\n/);
    expect(props).toMatch(/supportsHttpsTrafficOnly: true\n/);
    expect(props).toMatch(/allowBlobPublicAccess: false\n/);
  });

  it('holds exactly the tables, containers and storage queue the product uses', () => {
    expect(arrayVariable(main, 'tableNames').sort()).toEqual(Object.values(TABLES).sort());
    expect(storage).toMatch(/resource tables '[^']+' = \[\s*for tableName in tableNames:/);
    expect(arrayVariable(main, 'storageQueueNames')).toEqual([...STORAGE_QUEUES]);
    expect(storage).toMatch(
      /resource queues 'Microsoft\.Storage\/storageAccounts\/queueServices\/queues@[^']+' = \[\s*for queueName in queueNames:/,
    );
    const storageModule = balanced(main, main.indexOf("module storage 'app/storage.bicep'"));
    expect(storageModule).toMatch(/\n\s*tableNames: tableNames\n/);
    expect(storageModule).toMatch(/\n\s*queueNames: storageQueueNames\n/);

    // Every container the storage module creates, by the main.bicep variable it is given.
    const containerLoop = resources(storage).find((r) => r.symbol === 'containers');
    expect(containerLoop!.body).toMatch(/publicAccess: 'None'/);
    const loopParams = /for containerName in \[([^\]]*)\]/.exec(containerLoop!.body)?.[1]?.split(/\s+/).filter(Boolean) ?? [];
    const containers = loopParams.map((param) => {
      const variable = new RegExp(`\\n\\s*${param}: (\\w+)\\n`).exec(storageModule)?.[1];
      expect(variable, `main.bicep passes ${param}`).toBeDefined();
      return { param, name: new RegExp(`^var ${variable} = '([^']*)'$`, 'm').exec(main)?.[1] };
    });
    // The Flex Consumption package container is the deployment's, not the product's.
    expect(containers.map((c) => c.param)).toContain('deploymentContainerName');
    const productContainers = containers.filter((c) => c.param !== 'deploymentContainerName').map((c) => c.name);
    expect(productContainers.sort()).toEqual([...BLOB_CONTAINERS].sort());
    expect([INTAKE_CONTAINER, RESULTS_CONTAINER]).toEqual(['hash-uploads', 'hash-results']);
  });

  it('the product names every table through TABLES, never by a literal', () => {
    const sources = [
      'shared/runtime.ts',
      ...readdirSync(join(repoRoot, 'shared/adapters/tables'))
        .filter((f) => f.endsWith('.ts') && f !== 'table-names.ts')
        .map((f) => `shared/adapters/tables/${f}`),
    ];
    for (const file of sources) {
      const text = read(file);
      expect(text, `${file} names no table by a literal`).not.toMatch(/tableName(?:: string)? = '/);
      expect(text, `${file} names no table by a literal`).not.toMatch(/fromConnectionString\([^)]*'[a-z]+'\)/);
    }
  });

  it('Key Vault uses Azure RBAC and Application Insights refuses key-based ingestion', () => {
    expect(bicep('infra/app/key-vault.bicep')).toMatch(/enableRbacAuthorization: true\n/);
    expect(bicep('infra/app/monitoring.bicep')).toMatch(/DisableLocalAuth: true\n/);
  });
});

describe('blob events', () => {
  const subscription = bicep('infra/app/blob-events-subscription.bicep');

  it('deliver BlobCreated under hash-uploads/ to the intake function through the blob extension webhook', () => {
    expect(paramDefault(subscription, 'intakeFunctionName')).toBe('intakeHashFile');
    expect(paramDefault(subscription, 'intakeContainerName')).toBe('hash-uploads');
    expect(subscription).toContain(
      "endpointUrl: 'https://${functionApp.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${intakeFunctionName}&code=${blobsExtensionKey}'",
    );
    expect(subscription).toMatch(/listKeys\('\$\{functionApp\.id\}\/host\/default', '[^']+'\)\.systemKeys\.blobs_extension/);
    const filter = property(subscription, 'filter');
    expect(stringArray(property(filter, 'includedEventTypes'))).toEqual(['Microsoft.Storage.BlobCreated']);
    expect(filter).toContain("subjectBeginsWith: '/blobServices/default/containers/${intakeContainerName}/'");
    const intakeFunction = read('functions/intake-hash-file.ts');
    expect(intakeFunction).toMatch(/app\.storageBlob\('intakeHashFile'/);
    expect(intakeFunction).toMatch(/source: 'EventGrid'/);
  });

  it('the subscription is deployed after the code: gated in main.bicep, created by the postdeploy hook', () => {
    expect(main).toMatch(/^param subscribeBlobEvents bool = false$/m);
    expect(main).toMatch(/^module blobEventsSubscription 'app\/blob-events-subscription\.bicep' = if \(subscribeBlobEvents\)/m);
    const azureYaml = read('azure.yaml');
    expect(azureYaml).toMatch(
      /hooks:\n(?:\s*#[^\n]*\n)*\s+postdeploy:\n\s+shell: sh\n\s+run: \.\/infra\/scripts\/subscribe-blob-events\.sh\n/,
    );
    const hook = read('infra/scripts/subscribe-blob-events.sh');
    expect(hook).toContain('--template-file "$module"');
    expect(hook).toMatch(/module="\$\(cd "\$\(dirname "\$0"\)\/\.\.\/app" && pwd\)\/blob-events-subscription\.bicep"/);
    // Every parameter the hook passes is one the module declares, and every required one is passed.
    const passed = [...hook.matchAll(/^\s+(\w+)="\$\w+"/gm)].map((m) => m[1]!);
    const declared = params(subscription);
    for (const name of passed) expect(declared.has(name), name).toBe(true);
    for (const [name, p] of declared) if (!p.hasDefault) expect(passed).toContain(name);
  });

  it('every azd value the scripts read is an output of main.bicep', () => {
    const produced = outputs(main);
    const hook = read('infra/scripts/subscribe-blob-events.sh');
    const names =
      /for name in ([^;]+); do/
        .exec(hook)?.[1]
        ?.split(/[\s\\]+/)
        .filter(Boolean) ?? [];
    expect(names.length).toBeGreaterThanOrEqual(6);
    for (const name of names) expect(produced.has(name), `main.bicep outputs ${name}`).toBe(true);
    expect(produced.has('AZURE_MANAGED_IDENTITY_PRINCIPAL_ID')).toBe(true);
    expect(produced.has('AZURE_FUNCTION_APP_NAME')).toBe(true);
  });

  it('undeliverable events are dead-lettered with the topic identity into their own container', () => {
    expect(property(subscription, 'deadLetterWithResourceIdentity')).toMatch(
      /type: 'SystemAssigned'[\s\S]*blobContainerName: deadLetterContainerName/,
    );
    const topicModule = bicep('infra/app/blob-events.bicep');
    expect(topicModule).toMatch(/topicType: 'Microsoft\.Storage\.StorageAccounts'/);
    expect(topicModule).toMatch(/scope: storage::blobService::deadLetterContainer\n/);
  });
});

describe('scripts', () => {
  for (const script of ['infra/scripts/grant-graph-permissions.sh', 'infra/scripts/subscribe-blob-events.sh']) {
    it(`${script} is executable bash that parses`, () => {
      expect(statSync(join(repoRoot, script)).mode & 0o111).not.toBe(0);
      expect(read(script).startsWith('#!/usr/bin/env bash\n')).toBe(true);
      const check = spawnSync('bash', ['-n', join(repoRoot, script)], { encoding: 'utf8' });
      expect(check.stderr).toBe('');
      expect(check.status).toBe(0);
    });
  }
});
