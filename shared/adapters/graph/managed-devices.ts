import type { Call } from './call.js';
import type { GraphClient } from './graph-client.js';
import type { Paging } from './paging.js';
import { getEntity, post, remove } from './requests.js';
import { success } from '../../services/graph-result.js';
import { managedSchema } from './schemas.js';
import { sameSerial } from './serial.js';

const MANAGED = 'deviceManagement/managedDevices';

type ManagedDeviceOperations = Pick<
  GraphClient,
  'findManagedDeviceBySerial' | 'getManagedDevice' | 'runManagedDeviceAction' | 'deleteManagedDevice'
>;

export function managedDeviceOperations(call: Call, paging: Paging): ManagedDeviceOperations {
  return {
    async findManagedDeviceBySerial(serialNumber, callOptions) {
      const wanted = serialNumber.trim();
      const filter = encodeURIComponent(`serialNumber eq '${wanted.replace(/'/g, "''")}'`);
      const devices = await paging.collect(
        'v1.0',
        `${MANAGED}?$filter=${filter}&${paging.top}`,
        managedSchema,
        callOptions?.priority ?? 'status',
      );
      if (!devices.ok) return devices;
      const newestFirst = devices.value
        .filter((d) => sameSerial(d.serialNumber, wanted))
        .sort((a, b) => (b.enrolledDateTime ?? '').localeCompare(a.enrolledDateTime ?? ''));
      return success(newestFirst[0]);
    },

    getManagedDevice: (id, callOptions) =>
      getEntity(call, 'v1.0', `${MANAGED}/${encodeURIComponent(id)}`, managedSchema, callOptions?.priority ?? 'status'),

    runManagedDeviceAction(id, action, callOptions) {
      const path = `${MANAGED}/${encodeURIComponent(id)}`;
      const priority = callOptions?.priority ?? 'import';
      switch (action.action) {
        case 'wipe': {
          const { keepEnrollmentData, keepUserData, useProtectedWipe } = action;
          // useProtectedWipe exists only in beta.
          return useProtectedWipe === undefined
            ? post(call, 'v1.0', `${path}/wipe`, { keepEnrollmentData, keepUserData }, priority)
            : post(call, 'beta', `${path}/wipe`, { keepEnrollmentData, keepUserData, useProtectedWipe }, priority);
        }
        case 'cleanWindowsDevice':
          return post(call, 'v1.0', `${path}/cleanWindowsDevice`, { keepUserData: action.keepUserData }, priority);
        case 'retire':
          return post(call, 'v1.0', `${path}/retire`, {}, priority);
      }
    },

    deleteManagedDevice: (id, callOptions) => remove(call, `${MANAGED}/${encodeURIComponent(id)}`, callOptions?.priority ?? 'cleanup'),
  };
}
