import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';

/*
 * The deployment scripts run against a stand-in `az` on PATH that answers the calls they make
 * the way the Azure CLI would (after its --query) and records every call, so what a script
 * would do to a tenant can be asserted without one.
 */

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const workDir = mkdtempSync(join(tmpdir(), 'infra-scripts-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

let runCount = 0;

interface ScriptRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Each az call's arguments. */
  readonly calls: string[][];
}

/**
 * Runs `script` with a stand-in `az` whose behaviour is the bash `azBody` (it sees its
 * arguments as "$@" and may keep state in $STATE_DIR).
 */
function runScript(script: string, args: string[], azBody: string, env: Record<string, string> = {}): ScriptRun {
  const dir = join(workDir, `run-${++runCount}`);
  const bin = join(dir, 'bin');
  spawnSync('mkdir', ['-p', bin, join(dir, 'state')]);
  const log = join(dir, 'az.log');
  writeFileSync(
    join(bin, 'az'),
    `#!/usr/bin/env bash\nfor arg in "$@"; do printf '%s\\x1f' "$arg"; done >> "${log}"\nprintf '\\n' >> "${log}"\nargs="$*"\n${azBody}\n`,
  );
  chmodSync(join(bin, 'az'), 0o755);
  writeFileSync(log, '');
  const result = spawnSync('bash', [join(repoRoot, script), ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { PATH: `${bin}:/usr/bin:/bin`, STATE_DIR: join(dir, 'state'), HOME: dir, ...env },
  });
  const calls = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split('\x1f').slice(0, -1));
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls };
}

function argAfter(call: string[], flag: string): string | undefined {
  const index = call.indexOf(flag);
  return index === -1 ? undefined : call[index + 1];
}

describe('grant-graph-permissions.sh', () => {
  const script = 'infra/scripts/grant-graph-permissions.sh';
  const graphRoles = [
    'User.Read.All\trole-user-read',
    // A name that contains a wanted one must not be taken for it.
    'Beta.DeviceManagementManagedDevices.Read.All\trole-decoy',
    'DeviceManagementServiceConfig.ReadWrite.All\trole-service-config',
    'DeviceManagementManagedDevices.PrivilegedOperations.All\trole-privileged-ops',
    'DeviceManagementManagedDevices.ReadWrite.All\trole-managed-devices',
  ].join('\\n');
  /** `held`: the identity's Graph assignments as az prints them, "<app role id>\t<assignment id>" per line. */
  const fakeGraph = (held: string, roles = graphRoles): string => `
case "$args" in
  *"--method DELETE"*) ;;
  *"servicePrincipals(appId='00000003-0000-0000-c000-000000000000')"*) echo graph-sp ;;
  *"servicePrincipals/graph-sp?\\$select=appRoles"*) printf '${roles}\\n' ;;
  *"servicePrincipals/mi-principal/appRoleAssignments"*) printf '${held}' ;;
  *"--method POST"*) ;;
  *) echo "unexpected az call: $args" >&2; exit 9 ;;
esac`;
  const posted = (run: ScriptRun): unknown[] =>
    run.calls.filter((call) => argAfter(call, '--method') === 'POST').map((call) => JSON.parse(argAfter(call, '--body') ?? '') as unknown);
  const deleted = (run: ScriptRun): (string | undefined)[] =>
    run.calls.filter((call) => argAfter(call, '--method') === 'DELETE').map((call) => argAfter(call, '--url'));
  const grant = (appRoleId: string): unknown => ({ principalId: 'mi-principal', resourceId: 'graph-sp', appRoleId });

  it('grants the permissions not yet granted, by app role id, to the given principal', () => {
    const run = runScript(script, ['mi-principal'], fakeGraph('role-privileged-ops\\tassign-1\\n'));
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const posts = run.calls.filter((call) => argAfter(call, '--method') === 'POST');
    expect(posts.map((call) => argAfter(call, '--url'))).toEqual([
      'https://graph.microsoft.com/v1.0/servicePrincipals/graph-sp/appRoleAssignedTo',
      'https://graph.microsoft.com/v1.0/servicePrincipals/graph-sp/appRoleAssignedTo',
    ]);
    expect(posted(run)).toEqual([grant('role-service-config'), grant('role-managed-devices')]);
    expect(run.stdout).toContain('already granted: DeviceManagementManagedDevices.PrivilegedOperations.All');
    expect(deleted(run)).toEqual([]);
    // The assignments already held are read for the Graph service principal only.
    const lookup = run.calls.find((call) => argAfter(call, '--url')?.endsWith('/appRoleAssignments'));
    expect(argAfter(lookup!, '--query')).toBe("value[?resourceId=='graph-sp'].[appRoleId, id]");
  });

  it('does nothing when everything is already granted', () => {
    const held = 'role-service-config\\tassign-1\\nrole-privileged-ops\\tassign-2\\nrole-managed-devices\\tassign-3\\n';
    const run = runScript(script, ['mi-principal'], fakeGraph(held));
    expect(run.status).toBe(0);
    expect(posted(run)).toEqual([]);
    expect(deleted(run)).toEqual([]);
  });

  it('without re-provisioning grants the Autopilot permission only, and takes back the managed-device ones', () => {
    const held = 'role-user-read\\tassign-other\\nrole-privileged-ops\\tassign-2\\nrole-managed-devices\\tassign-3\\n';
    for (const run of [
      runScript(script, ['--without-reprovisioning', 'mi-principal'], fakeGraph(held)),
      runScript(script, ['mi-principal'], fakeGraph(held), { ENABLE_REPROVISIONING: 'false' }),
    ]) {
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(posted(run)).toEqual([grant('role-service-config')]);
      // Only the product's own re-provisioning permissions are taken back; any other assignment stays.
      expect(deleted(run).sort()).toEqual([
        'https://graph.microsoft.com/v1.0/servicePrincipals/mi-principal/appRoleAssignments/assign-2',
        'https://graph.microsoft.com/v1.0/servicePrincipals/mi-principal/appRoleAssignments/assign-3',
      ]);
      expect(run.stdout).toContain('revoked: DeviceManagementManagedDevices.PrivilegedOperations.All');
    }
  });

  it('refuses an ENABLE_REPROVISIONING it cannot read, before any call', () => {
    const run = runScript(script, ['mi-principal'], fakeGraph(''), { ENABLE_REPROVISIONING: 'maybe' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('ENABLE_REPROVISIONING must be true or false');
    expect(run.calls).toEqual([]);
  });

  it('stops before granting anything unknown to Microsoft Graph', () => {
    const run = runScript(script, ['mi-principal'], fakeGraph('', 'DeviceManagementServiceConfig.ReadWrite.All\\trole-service-config'));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('no application permission named DeviceManagementManagedDevices.ReadWrite.All');
    expect(posted(run)).toHaveLength(1);
  });

  it('takes the principal from the environment, and refuses to guess without one', () => {
    const fromEnv = runScript(script, [], fakeGraph(''), { AZURE_MANAGED_IDENTITY_PRINCIPAL_ID: 'mi-principal' });
    expect(fromEnv.status).toBe(0);
    const none = runScript(script, [], fakeGraph(''));
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/^usage:/);
    expect(none.calls).toEqual([]);
    const unknownFlag = runScript(script, ['--everything', 'mi-principal'], fakeGraph(''));
    expect(unknownFlag.status).toBe(2);
    expect(unknownFlag.calls).toEqual([]);
  });
});

describe('subscribe-blob-events.sh', () => {
  const script = 'infra/scripts/subscribe-blob-events.sh';
  const azdOutputs = {
    AZURE_RESOURCE_GROUP: 'rg-test',
    AZURE_FUNCTION_APP_NAME: 'func-api-test',
    AZURE_STORAGE_ACCOUNT_NAME: 'sttest',
    BLOB_EVENTS_SYSTEM_TOPIC_NAME: 'evgst-test',
    BLOB_EVENTS_DEAD_LETTER_CONTAINER_NAME: 'hash-upload-events-deadletter',
    INTAKE_CONTAINER_NAME: 'hash-uploads',
  };
  /** The key appears on the `keyAfter`-th look-up, as it does once the host has started. */
  const fakeAzure = (keyAfter: number): string => `
case "$args" in
  "functionapp keys list"*)
    count=$(( $(cat "$STATE_DIR/lookups" 2>/dev/null || echo 0) + 1 )); echo "$count" > "$STATE_DIR/lookups"
    if (( count >= ${keyAfter} )); then echo blobs-key; fi ;;
  "deployment group create"*) ;;
  *) echo "unexpected az call: $args" >&2; exit 9 ;;
esac`;

  it('waits for the blobs_extension key, then deploys the subscription module with the azd outputs', () => {
    const run = runScript(script, [], fakeAzure(3), { ...azdOutputs, KEY_POLL_SECONDS: '0' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const lookups = run.calls.filter((call) => call[0] === 'functionapp');
    expect(lookups).toHaveLength(3);
    expect(argAfter(lookups[0]!, '--name')).toBe('func-api-test');
    expect(argAfter(lookups[0]!, '--query')).toBe('systemKeys.blobs_extension');
    const deployments = run.calls.filter((call) => call[0] === 'deployment');
    expect(deployments).toHaveLength(1);
    const deployment = deployments[0]!;
    expect(argAfter(deployment, '--resource-group')).toBe('rg-test');
    expect(argAfter(deployment, '--template-file')).toBe(join(repoRoot, 'infra/app/blob-events-subscription.bicep'));
    const parameters = deployment.slice(deployment.indexOf('--parameters') + 1).filter((arg) => arg.includes('='));
    expect(Object.fromEntries(parameters.map((p) => p.split('=') as [string, string]))).toEqual({
      systemTopicName: 'evgst-test',
      functionAppName: 'func-api-test',
      intakeContainerName: 'hash-uploads',
      storageAccountName: 'sttest',
      deadLetterContainerName: 'hash-upload-events-deadletter',
    });
  });

  it('gives up with a clear message when the host never creates the key', () => {
    const run = runScript(script, [], fakeAzure(1_000), { ...azdOutputs, KEY_WAIT_SECONDS: '1', KEY_POLL_SECONDS: '0.2' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('no blobs_extension key on func-api-test');
    expect(run.calls.filter((call) => call[0] === 'deployment')).toEqual([]);
  });

  it('refuses to run outside azd, naming the missing value', () => {
    const { INTAKE_CONTAINER_NAME: _omitted, ...partial } = azdOutputs;
    const run = runScript(script, [], fakeAzure(1), partial);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('INTAKE_CONTAINER_NAME is not set');
    expect(run.calls).toEqual([]);
  });
});
