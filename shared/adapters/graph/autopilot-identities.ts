import type { RequestBudget } from './budget.js';
import { describeThrown, type Call } from './call.js';
import type { GraphClient } from './graph-client.js';
import type { Paging } from './paging.js';
import { getEntity, post, remove } from './requests.js';
import { success } from '../../services/graph-result.js';
import { identitySchema } from './schemas.js';
import { sameSerial } from './serial.js';
import type { AutopilotIdentity, SyncOutcome } from '../../domain/autopilot.js';

const IDENTITIES = 'deviceManagement/windowsAutopilotDeviceIdentities';

type AutopilotIdentityOperations = Pick<
  GraphClient,
  | 'findAutopilotIdentityBySerial'
  | 'listAutopilotIdentities'
  | 'getAutopilotIdentity'
  | 'updateDeviceProperties'
  | 'deleteAutopilotIdentity'
  | 'syncAutopilot'
  | 'checkReachable'
>;

export function autopilotIdentityOperations(
  call: Call,
  paging: Paging,
  budget: RequestBudget,
  syncIntervalMs: number,
): AutopilotIdentityOperations {
  const { collect, top } = paging;
  return {
    async findAutopilotIdentityBySerial(serialNumber, callOptions) {
      const priority = callOptions?.priority ?? 'status';
      const wanted = serialNumber.trim();
      const filter = encodeURIComponent(`contains(serialNumber,'${wanted.replace(/'/g, "''")}')`);
      const matches = (identity: AutopilotIdentity): boolean => sameSerial(identity.serialNumber, wanted);
      const filtered = await collect('v1.0', `${IDENTITIES}?$filter=${filter}&${top}`, identitySchema, priority, matches);
      if (filtered.ok) {
        const found = filtered.value.find(matches);
        if (found || /^[A-Za-z0-9]*$/.test(wanted)) return success(found);
      } else if (filtered.kind !== 'permanent' || filtered.status !== 400) {
        return filtered;
      }
      // contains is unreliable for some serials (hyphens, spaces): look at every device instead.
      const all = await collect('v1.0', `${IDENTITIES}?${top}`, identitySchema, priority, matches);
      return all.ok ? success(all.value.find(matches)) : all;
    },

    listAutopilotIdentities: (callOptions) => paging.list('beta', IDENTITIES, undefined, identitySchema, callOptions?.priority ?? 'status'),

    getAutopilotIdentity: (id, callOptions) =>
      getEntity(call, 'beta', `${IDENTITIES}/${encodeURIComponent(id)}`, identitySchema, callOptions?.priority ?? 'status'),

    updateDeviceProperties: (id, update, callOptions) =>
      post(call, 'v1.0', `${IDENTITIES}/${encodeURIComponent(id)}/updateDeviceProperties`, update, callOptions?.priority ?? 'import'),

    deleteAutopilotIdentity: (id, callOptions) =>
      remove(call, `${IDENTITIES}/${encodeURIComponent(id)}`, callOptions?.priority ?? 'cleanup'),

    async syncAutopilot(callOptions) {
      let claimed: boolean;
      try {
        claimed = await budget.claimSync(syncIntervalMs);
      } catch (error) {
        return { ok: false, kind: 'transient', message: `request budget unavailable: ${describeThrown(error)}` };
      }
      if (!claimed) return success<SyncOutcome>('coalesced');
      const reply = await call('POST', 'beta', 'deviceManagement/windowsAutopilotSettings/sync', callOptions?.priority ?? 'import');
      if (reply.ok) return success<SyncOutcome>('synced');
      if (reply.kind === 'permanent' && reply.status === 409) return success<SyncOutcome>('already-running');
      if (reply.kind === 'throttled' && reply.source === 'graph') return success<SyncOutcome>('recently-synced');
      return reply;
    },

    async checkReachable(callOptions) {
      const reply = await call('GET', 'v1.0', `${IDENTITIES}?$top=1`, callOptions?.priority ?? 'status');
      return reply.ok ? success(undefined) : reply;
    },
  };
}
