import { randomUUID } from 'node:crypto';
import { HashRecordType, isStructurallyValidHash, readHashStrings } from './hardware-hash.js';
import type { IdentityRegistry } from './identities.js';
import { normaliseSerial, type ResolvedOptions } from './options.js';
import type { Timeline } from './timeline.js';

export type ImportStatus = 'unknown' | 'pending' | 'partial' | 'complete' | 'error';

export interface ImportedRecord {
  id: string;
  serialNumber: string;
  productKey: string;
  hardwareIdentifier: string;
  groupTag: string;
  assignedUserPrincipalName: string;
  importId: string;
  state: { deviceImportStatus: ImportStatus; deviceRegistrationId: string; deviceErrorCode: number; deviceErrorName: string };
}

export interface ImportInput {
  serialNumber?: unknown;
  productKey?: unknown;
  hardwareIdentifier?: unknown;
  groupTag?: unknown;
  assignedUserPrincipalName?: unknown;
  importId?: unknown;
}

/**
 * `importedWindowsAutopilotDeviceIdentities`: an import is a background job, so every record
 * answers at once and only later ends in a new Autopilot identity or an error.
 */
export class Importer {
  /** Rows received per serial, kept when their records are deleted: a test tells a device imported twice by it. */
  private readonly rowsBySerial = new Map<string, number>();

  constructor(
    private readonly records: Map<string, ImportedRecord>,
    private readonly identities: IdentityRegistry,
    private readonly timeline: Timeline,
    private readonly options: ResolvedOptions,
  ) {}

  importDevices(inputs: ImportInput[]): ImportedRecord[] {
    const now = this.timeline.now();
    const hashesInBatch = new Set<string>();
    return inputs.map((input) => {
      const record: ImportedRecord = {
        id: randomUUID(),
        serialNumber: text(input.serialNumber),
        productKey: text(input.productKey),
        hardwareIdentifier: text(input.hardwareIdentifier),
        groupTag: text(input.groupTag),
        assignedUserPrincipalName: text(input.assignedUserPrincipalName),
        importId: text(input.importId),
        state: { deviceImportStatus: 'unknown', deviceRegistrationId: '', deviceErrorCode: 0, deviceErrorName: '' },
      };
      const serial = normaliseSerial(record.serialNumber);
      this.rowsBySerial.set(serial, (this.rowsBySerial.get(serial) ?? 0) + 1);
      const duplicated = record.hardwareIdentifier !== '' && hashesInBatch.has(record.hardwareIdentifier);
      hashesInBatch.add(record.hardwareIdentifier);
      this.records.set(record.id, record);

      const latencyMs = this.timeline.draw(this.options.latencies.importSeconds);
      this.timeline.at(now + latencyMs * 0.1, () => {
        if (record.state.deviceImportStatus === 'unknown') record.state.deviceImportStatus = 'pending';
      });
      this.timeline.at(now + latencyMs, (at) => this.finishImport(record, duplicated, at));
      return record;
    });
  }

  importsBySerial(): Record<string, number> {
    return Object.fromEntries(this.rowsBySerial);
  }

  delete(id: string): boolean {
    return this.records.delete(id);
  }

  addOtherTenantSerial(serial: string): void {
    this.options.otherTenantSerials.add(normaliseSerial(serial));
  }

  private finishImport(record: ImportedRecord, duplicated: boolean, at: number): void {
    const fail = (code: number, name: string): void => {
      record.state = { deviceImportStatus: 'error', deviceRegistrationId: '', deviceErrorCode: code, deviceErrorName: name };
    };
    if (record.serialNumber === '' && record.productKey === '') return fail(803, 'MissingZtdSerialNumberAndProductKey');
    if (!isStructurallyValidHash(record.hardwareIdentifier)) return fail(802, 'InvalidZtdHardwareHash');
    if (duplicated) return fail(this.options.duplicatedErrorCode, 'ZtdDeviceDuplicated');
    const serial = normaliseSerial(record.serialNumber);
    if (this.options.otherTenantSerials.has(serial)) return fail(808, 'ZtdDeviceAssignedToOtherTenant');
    if (this.identities.findBySerial(serial)) return fail(806, 'ZtdDeviceAlreadyAssigned');

    const strings = readHashStrings(record.hardwareIdentifier);
    const identity = this.identities.create(
      {
        serialNumber: record.serialNumber,
        groupTag: record.groupTag,
        productKey: record.productKey,
        userPrincipalName: record.assignedUserPrincipalName,
        manufacturer: strings.get(HashRecordType.SmbiosSystemManufacturer) ?? '',
        model: strings.get(HashRecordType.SmbiosProductName) ?? '',
      },
      at,
    );
    record.state = { deviceImportStatus: 'complete', deviceRegistrationId: identity.id, deviceErrorCode: 0, deviceErrorName: '' };
  }
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
