import { DeviceRepository } from '../../shared/adapters/tables/device-repository.js';
import type { DeviceEvent } from '../../shared/domain/device.js';
import { isReasonCode, reasonText } from '../../shared/domain/reason-codes.js';
import { deviceStatus, type PublicDevice, type PublicRequest } from '../../shared/services/status.js';
import { onePositional, parseCommandArgs, runCommand, wantsHelp } from '../args.js';
import { EXIT_NOT_FOUND, EXIT_OK, fields, printable, type ZtpIo } from '../io.js';
import { connect, resolveStorage } from '../storage.js';

/**
 * `ztp status <serial> [--json]`: a device's record and full history, as stored. The
 * hardware hash and the assigned user's UPN are never shown: the service desk needs to
 * know whether a user is assigned, not who. Exit 0, 1 for an unknown device, 2 on errors.
 */

export const STATUS_USAGE = 'Usage: ztp status <serial> [--json]\n';

export async function runStatus(argv: string[], io: ZtpIo): Promise<number> {
  return runCommand('status', STATUS_USAGE, io, async () => {
    const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean', default: false } });
    if (wantsHelp(values, STATUS_USAGE, io)) return EXIT_OK;
    const serialNumber = onePositional(positionals, 'serial number');

    const storage = await resolveStorage(io);
    const devices = connect(storage, (connectionString) => DeviceRepository.connect(connectionString, io.tables?.devices));
    const status = await deviceStatus({ devices }, serialNumber);
    if (status === undefined) {
      io.stderr(`ztp status: no device with serial number "${printable(serialNumber)}" is known in ${storage.description}\n`);
      return EXIT_NOT_FOUND;
    }
    const { device, history } = status;

    if (values.json === true) io.stdout(`${JSON.stringify({ device, history }, null, 2)}\n`);
    else io.stdout(statusText(device, history));
    return EXIT_OK;
  });
}

export function statusText(device: PublicDevice, history: readonly DeviceEvent[]): string {
  const show = (value: string | undefined): string | undefined => (value === undefined ? undefined : printable(value));
  const lines = [`Device ${printable(device.serialNumber)}: ${device.state}`];
  lines.push(
    ...fields([
      // Whose device it is; `supplier` is whose file the record came from (for a rejected device, the latest rejected row's).
      ['owner', device.owner === undefined ? 'none yet (no accepted row)' : show(device.owner)],
      ['supplier', show(device.supplierId)],
      ['batch', device.batchId ? `${printable(device.batchId)} (line ${device.line})` : undefined],
      ['group tag', show(device.groupTag)],
      // Shown only while Autopilot still carries another tag than the one wanted.
      ['Autopilot group tag', device.autopilotGroupTag === device.groupTag ? undefined : show(device.autopilotGroupTag)],
      ['manufacturer', show(device.manufacturer)],
      ['model', show(device.model)],
      ['user assigned', device.userAssigned ? 'yes' : 'no'],
      ['import id', show(device.importId)],
      ['imported identity id', show(device.importedIdentityId)],
      ['Autopilot device id', show(device.autopilotId)],
      ['managed device id', show(device.managedDeviceId)],
      [
        'waiting for',
        device.waitingFor === undefined
          ? undefined
          : `${device.waitingFor}${device.waitingSince ? ` since ${device.waitingSince}` : ''} (poll attempt ${device.pollAttempt})`,
      ],
      ['deadline', show(device.deadlineAt)],
      ['reasons', device.reasons.length === 0 ? undefined : device.reasons.map(describeReason).join('; ')],
      ['note', show(device.note)],
      ['open request', device.openRequest ? openRequestText(device.openRequest) : undefined],
      [
        'last request',
        device.reprovision && !device.openRequest
          ? `${openRequestText(device.reprovision)}${device.reprovision.failure ? `, ${show(device.reprovision.failure)}` : ''}`
          : undefined,
      ],
      ['generation', String(device.generation)],
      ['created', device.createdAt],
      ['updated', device.updatedAt],
    ]),
  );
  lines.push(`History (${history.length} ${history.length === 1 ? 'event' : 'events'}):`);
  for (const event of history) lines.push(`  ${eventLine(event)}`);
  return `${lines.join('\n')}\n`;
}

function openRequestText(request: PublicRequest): string {
  const tag = request.groupTag === undefined ? '' : ` to ${request.groupTag}`;
  return printable(
    `${request.action}${tag} (ticket ${request.ticket}, request ${request.requestId}, asked ${request.requestedAt}, ${request.stage})`,
  );
}

function eventLine(event: DeviceEvent): string {
  const detail = event.detail === undefined || Object.keys(event.detail).length === 0 ? '' : `  ${JSON.stringify(event.detail)}`;
  return printable(
    `${event.at}  ${event.from ?? '(new)'} -> ${event.to}  ${event.reason}  correlation ${event.correlationId || '-'}${detail}`,
  );
}

export function describeReason(code: string): string {
  return printable(isReasonCode(code) ? `${code} (${reasonText(code)})` : code);
}
