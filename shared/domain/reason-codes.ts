/**
 * Stable reason codes shared by the supplier report, the HTTP API and the CLI.
 * The code strings are a public contract: never rename one, only add.
 * The texts are written for the supplier who has to fix the file.
 */

export const ROW_REASON_CODES = [
  'missing-serial',
  'invalid-serial',
  'missing-hash',
  'invalid-hash',
  'hash-serial-mismatch',
  'invalid-product-key',
  'invalid-group-tag',
  'group-tag-not-allowed',
  'invalid-user',
  'duplicate-in-file',
  'too-many-columns',
  'deregistered-device',
  'value-too-long',
  'owned-by-other-supplier',
] as const;

export const FILE_REASON_CODES = ['file-too-large', 'too-many-rows', 'unreadable-file', 'too-many-columns', 'unknown-supplier'] as const;

export const GRAPH_REASON_CODES = ['already-registered', 'owned-by-other-tenant', 'autopilot-rejected-hash', 'autopilot-error'] as const;

export const WARNING_CODES = ['virtual-machine', 'no-tpm', 'device-busy', 'value-dropped'] as const;

export type RowReasonCode = (typeof ROW_REASON_CODES)[number];
export type FileReasonCode = (typeof FILE_REASON_CODES)[number];
export type GraphReasonCode = (typeof GRAPH_REASON_CODES)[number];
export type ReasonCode = RowReasonCode | FileReasonCode | GraphReasonCode;
export type WarningCode = (typeof WARNING_CODES)[number];

const REASON_TEXTS: Readonly<Record<ReasonCode, string>> = {
  'missing-serial': 'The Device Serial Number is empty. Fill in the serial number of the device as its firmware reports it.',
  'invalid-serial':
    'The Device Serial Number contains characters a serial number cannot have (control characters, quotes or commas), is longer than 128 characters, or was turned into a number by a spreadsheet. Copy the serial exactly as the device reports it.',
  'missing-hash': 'The Hardware Hash is empty. Capture the hash on the device and include it on this row.',
  'invalid-hash':
    'The Hardware Hash is not a valid Autopilot hardware hash (not base64 text, cut short or damaged). Capture the hash on the device again and send it unchanged.',
  'hash-serial-mismatch':
    'The serial number recorded inside the Hardware Hash differs from the Device Serial Number on this row, so the hash probably belongs to another device. Check that the serial and the hash were captured on the same device.',
  'invalid-product-key':
    'The Windows Product ID may only contain letters, digits and hyphens, at most 64 characters. Leave it empty if it is unknown.',
  'invalid-group-tag': "The Group Tag may only contain letters, digits, spaces, '-', '_' and '.', at most 128 characters.",
  'group-tag-not-allowed':
    'The Group Tag is not one of the tags agreed for your organisation. Use an agreed tag, or leave it empty to get the default tag.',
  'invalid-user':
    'The Assigned User must be a user principal name such as name@example.com. Leave it empty if the device has no named user.',
  'duplicate-in-file':
    'This serial number already appears on an earlier row of this file; only the first row is used. Remove the repeated row.',
  'too-many-columns':
    'The row has more values than the header has columns, often because a value contains an unquoted comma. Put such values in double quotes or remove the extra values.',
  'deregistered-device':
    'The device was deregistered from Windows Autopilot on request of the service desk and may not be registered again from a file. Ask the service desk if it should come back.',
  'value-too-long':
    'A value on this row is longer than the product can store (the message names it). Check the row: the value was probably damaged when the file was made.',
  'owned-by-other-supplier':
    'The device was first delivered by another supplier and belongs to it, so this row changed nothing. Check the serial number; if the device really is yours to deliver now, ask the operations team to release it.',
  'file-too-large': 'The file is larger than the allowed size. Split it into smaller files and send them separately.',
  'too-many-rows': 'The file has more rows than one file may have. Split it into smaller files and send them separately.',
  'unreadable-file':
    'The file could not be read as a hash file (not CSV text, no recognised header, or a quote that is never closed). Export it again as CSV with the header Device Serial Number,Windows Product ID,Hardware Hash.',
  'unknown-supplier':
    'The file was not put in the folder of a known supplier. Upload it into your own folder (hash-uploads/<your supplier id>/) or ask the operations team to set you up as a supplier.',
  'already-registered':
    'The device was already registered with Windows Autopilot for this organisation; its registration was kept and brought up to date. Nothing to do.',
  'owned-by-other-tenant':
    "The device is registered to another organisation's Windows Autopilot. Its previous owner or reseller must deregister it before it can be registered here.",
  'autopilot-rejected-hash':
    'Windows Autopilot rejected the hardware hash as invalid. Capture the hash on the device again and send it in a new file.',
  'autopilot-error':
    'Windows Autopilot could not register the device. The operations team has been alerted; no action is needed from you unless they contact you.',
};

const WARNING_TEXTS: Readonly<Record<WarningCode, string>> = {
  'virtual-machine':
    'The hardware hash looks like it was captured on a virtual machine, not on the physical device. Check that this row is intended.',
  'no-tpm':
    'The hardware hash records no TPM. Autopilot self-deploying and pre-provisioning modes need TPM 2.0; check that the TPM is enabled in the firmware before capturing the hash.',
  'value-dropped': 'The manufacturer or model on this row is longer than 256 characters and was left out; the row was accepted without it.',
  'device-busy':
    'The service desk is re-provisioning this device right now, so this row changed nothing. Send it again later if the device should carry what it says.',
};

export function reasonText(code: ReasonCode): string {
  return REASON_TEXTS[code];
}

export function warningText(code: WarningCode): string {
  return WARNING_TEXTS[code];
}

const ALL_REASON_CODES: ReadonlySet<string> = new Set(Object.keys(REASON_TEXTS));

export function isReasonCode(value: string): value is ReasonCode {
  return ALL_REASON_CODES.has(value);
}
