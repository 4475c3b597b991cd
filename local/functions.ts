import type {
  HttpFunctionOptions,
  ServiceBusQueueFunctionOptions,
  StorageBlobFunctionOptions,
  TimerFunctionOptions,
} from '@azure/functions';
import { followUpOptions } from '../functions/follow-up.js';
import { getBatchOptions } from '../functions/get-batch.js';
import { getDeviceOptions } from '../functions/get-device.js';
import { getSupplierReportOptions } from '../functions/get-supplier-report.js';
import { healthOptions } from '../functions/health.js';
import { healthDetailsOptions } from '../functions/health-details.js';
import { healthProbeOptions } from '../functions/health-probe.js';
import { importDevicesOptions } from '../functions/import-devices.js';
import { intakeHashFileOptions } from '../functions/intake-hash-file.js';
import { putSupplierFileOptions } from '../functions/put-supplier-file.js';
import { redriveBatchOptions } from '../functions/redrive-batch.js';
import { redriveDeviceByQueryOptions, redriveDeviceOptions } from '../functions/redrive-device.js';
import { reprovisionOptions } from '../functions/reprovision.js';
import { reprovisionDeviceByQueryOptions, reprovisionDeviceOptions } from '../functions/reprovision-device.js';
import { sweeperOptions } from '../functions/sweeper.js';

/**
 * Every function of the app with the exact options object its module registers with the
 * Functions host, for the local dev host. A function missing here does not run locally.
 */
export type FunctionDefinition =
  | { readonly name: string; readonly trigger: 'blob'; readonly options: StorageBlobFunctionOptions }
  | { readonly name: string; readonly trigger: 'serviceBus'; readonly options: ServiceBusQueueFunctionOptions }
  | { readonly name: string; readonly trigger: 'http'; readonly options: HttpFunctionOptions }
  | { readonly name: string; readonly trigger: 'timer'; readonly options: TimerFunctionOptions };

export const FUNCTIONS: readonly FunctionDefinition[] = [
  { name: 'intakeHashFile', trigger: 'blob', options: intakeHashFileOptions },
  { name: 'importDevices', trigger: 'serviceBus', options: importDevicesOptions },
  { name: 'followUp', trigger: 'serviceBus', options: followUpOptions },
  { name: 'reprovision', trigger: 'serviceBus', options: reprovisionOptions },
  { name: 'getDevice', trigger: 'http', options: getDeviceOptions },
  { name: 'getBatch', trigger: 'http', options: getBatchOptions },
  { name: 'reprovisionDevice', trigger: 'http', options: reprovisionDeviceOptions },
  { name: 'reprovisionDeviceByQuery', trigger: 'http', options: reprovisionDeviceByQueryOptions },
  { name: 'redriveDevice', trigger: 'http', options: redriveDeviceOptions },
  { name: 'redriveDeviceByQuery', trigger: 'http', options: redriveDeviceByQueryOptions },
  { name: 'redriveBatch', trigger: 'http', options: redriveBatchOptions },
  { name: 'putSupplierFile', trigger: 'http', options: putSupplierFileOptions },
  { name: 'getSupplierReport', trigger: 'http', options: getSupplierReportOptions },
  { name: 'health', trigger: 'http', options: healthOptions },
  { name: 'healthDetails', trigger: 'http', options: healthDetailsOptions },
  { name: 'healthProbe', trigger: 'timer', options: healthProbeOptions },
  { name: 'sweeper', trigger: 'timer', options: sweeperOptions },
];
