import { callOf, type Send } from './call.js';
import type { GraphClient } from './graph-client.js';
import type { Paging } from './paging.js';
import { getEntity, remove } from './requests.js';
import { importAnswerSchema, importedSchema, parseWith } from './schemas.js';
import type { ImportDeviceInput, ImportedIdentity } from '../../domain/autopilot.js';

const IMPORTED = 'deviceManagement/importedWindowsAutopilotDeviceIdentities';
/** What the pipeline reads of an imported record (importedSchema minus what it never uses back). */
const IMPORTED_SELECT = 'id,serialNumber,groupTag,importId,state';

type ImportedIdentityOperations = Pick<
  GraphClient,
  'importDevices' | 'getImportedIdentity' | 'listImportedIdentities' | 'deleteImportedIdentity'
>;

export function importedIdentityOperations(send: Send, paging: Paging, importChunkSize: number): ImportedIdentityOperations {
  const call = callOf(send);
  return {
    async importDevices(devices, callOptions) {
      const priority = callOptions?.priority ?? 'import';
      const sendBy = callOptions?.sendWithinMs === undefined ? undefined : performance.now() + callOptions.sendWithinMs;
      const imported: ImportedIdentity[] = [];
      for (let start = 0; start < devices.length; start += importChunkSize) {
        const chunk = devices.slice(start, start + importChunkSize);
        const body = { importedWindowsAutopilotDeviceIdentities: chunk.map(importPayload) };
        const { result: reply, sent } = await send('POST', 'v1.0', `${IMPORTED}/import`, priority, body, sendBy);
        const records = reply.ok ? parseWith(importAnswerSchema, reply.value.body, 'import answer') : reply;
        if (!records.ok) {
          // A request that left may have been imported unless Graph refused it (429 or 4xx):
          // after a fault or timeout nobody knows, and an unreadable 2xx was taken.
          const doubtful = sent && (reply.ok || reply.kind === 'transient');
          const inDoubt = doubtful ? chunk : [];
          return { ...records, imported, inDoubt, notSubmitted: devices.slice(start + inDoubt.length) };
        }
        imported.push(...records.value.value);
      }
      return { ok: true, value: imported };
    },

    getImportedIdentity: (id, callOptions) =>
      getEntity(call, 'v1.0', `${IMPORTED}/${encodeURIComponent(id)}`, importedSchema, callOptions?.priority ?? 'status'),

    // The records' hardware hashes (~4 KB each) are never needed back.
    listImportedIdentities: (callOptions) =>
      paging.list('v1.0', IMPORTED, IMPORTED_SELECT, importedSchema, callOptions?.priority ?? 'status'),

    deleteImportedIdentity: (id, callOptions) => remove(call, `${IMPORTED}/${encodeURIComponent(id)}`, callOptions?.priority ?? 'cleanup'),
  };
}

function importPayload(device: ImportDeviceInput): Record<string, unknown> {
  return {
    '@odata.type': '#microsoft.graph.importedWindowsAutopilotDeviceIdentity',
    serialNumber: device.serialNumber,
    productKey: device.productKey ?? '',
    hardwareIdentifier: device.hardwareIdentifier,
    groupTag: device.groupTag ?? '',
    assignedUserPrincipalName: device.assignedUserPrincipalName ?? '',
    importId: device.importId ?? '',
    state: { deviceImportStatus: 'pending', deviceRegistrationId: '', deviceErrorCode: 0, deviceErrorName: '' },
  };
}
