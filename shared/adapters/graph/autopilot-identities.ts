import type { RequestBudget, SyncClaim } from './budget.js';
import { describeThrown, type Call, type Send } from './call.js';
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

/** What the sync needs beside the call: the budget's claim, and to know whether its request left. */
export interface SyncDeps {
  budget: RequestBudget;
  send: Send;
  intervalMs: number;
}

export function autopilotIdentityOperations(call: Call, paging: Paging, sync: SyncDeps): AutopilotIdentityOperations {
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
      let claim: SyncClaim | undefined;
      try {
        claim = await sync.budget.claimSync(sync.intervalMs);
      } catch (error) {
        return { ok: false, kind: 'transient', message: `request budget unavailable: ${describeThrown(error)}` };
      }
      if (!claim) return success<SyncOutcome>('coalesced');
      const { result: reply, sent } = await sync.send(
        'POST',
        'beta',
        'deviceManagement/windowsAutopilotSettings/sync',
        callOptions?.priority ?? 'import',
      );
      // A sync Graph may have taken keeps the interval (from now: Graph counts from when it took
      // it); one that never left gives it back, so the next caller syncs instead of waiting 10 minutes.
      await (sent ? claim.confirm() : claim.release()).catch(() => undefined);
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
