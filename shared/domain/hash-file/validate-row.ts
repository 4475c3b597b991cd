import { looksLikeVirtualMachine, parseHardwareHash } from '../hardware-hash.js';
import { warningText } from '../reason-codes.js';
import { resolveGroupTag } from '../suppliers.js';
import type { SupplierPolicy } from '../suppliers.js';
import { serialKey } from '../device.js';
import { groupTagProblem, productKeyProblem, serialProblem, userPrincipalNameProblem } from './fields.js';
import type { HashFileField, HashFileHeader } from './header.js';
import type { AcceptedDevice, RowError, RowWarning, ValidatedRow } from './types.js';
import { MAX_HARDWARE_HASH_LENGTH, MAX_INFORMATIONAL_LENGTH } from '../value-limits.js';

export interface RowContext {
  header: HashFileHeader;
  supplier: SupplierPolicy | undefined;
  /** Serial keys claimed by earlier rows of the same file. */
  seenSerials: Set<string>;
}

/**
 * Validates one data row; every problem of the row is reported, not only the first.
 *
 * Duplicates: the first row whose serial is well-formed claims that serial whatever its
 * own outcome, so a later row with the same serial (compared without regard to case) is
 * `duplicate-in-file` even when the first was rejected for another reason. One serial then
 * maps to one row of the report and one device record.
 */
export function validateRow(fields: readonly string[], line: number, context: RowContext): ValidatedRow {
  const { header } = context;
  const cell = (field: HashFileField): string => {
    const position = header.index[field];
    return position === undefined ? '' : (fields[position] ?? '');
  };
  const errors: RowError[] = [];
  const warnings: RowWarning[] = [];

  const extra = extraValues(fields, header.columns);
  if (extra > 0) {
    errors.push({
      code: 'too-many-columns',
      message: `The row has ${extra} value(s) beyond the ${header.columns.length} columns of the header; a value probably contains an unquoted comma.`,
    });
  }

  const serial = cell('serialNumber');
  let serialUsable = false;
  if (serial === '') {
    errors.push({ code: 'missing-serial', message: 'The Device Serial Number is empty.' });
  } else {
    const problem = serialProblem(serial);
    if (problem === undefined) serialUsable = true;
    else errors.push({ code: 'invalid-serial', message: problem });
  }

  const productKey = cell('productKey');
  const productKeyIssue = productKey === '' ? undefined : productKeyProblem(productKey);
  if (productKeyIssue !== undefined) errors.push({ code: 'invalid-product-key', message: productKeyIssue });

  const hashText = cell('hardwareHash');
  let hash: ReturnType<typeof parseHardwareHash> | undefined;
  if (hashText === '') {
    errors.push({ code: 'missing-hash', message: 'The Hardware Hash is empty.' });
  } else if (hashText.length > MAX_HARDWARE_HASH_LENGTH) {
    errors.push({
      code: 'invalid-hash',
      message: `The Hardware Hash is ${hashText.length} characters long; a hardware hash is about 4,000 and at most ${MAX_HARDWARE_HASH_LENGTH} are accepted.`,
    });
  } else {
    hash = parseHardwareHash(hashText);
    if (!hash.ok) {
      errors.push({ code: 'invalid-hash', message: hash.message });
    } else if (serialUsable && hash.hash.serialNumber !== undefined && serialKey(hash.hash.serialNumber) !== serialKey(serial)) {
      errors.push({
        code: 'hash-serial-mismatch',
        message: `The hardware hash was captured on the device with serial number "${hash.hash.serialNumber}", not "${serial}".`,
      });
    }
  }

  const rowTag = cell('groupTag');
  const tagIssue = rowTag === '' ? undefined : groupTagProblem(rowTag);
  let groupTag: string | undefined;
  if (tagIssue !== undefined) {
    errors.push({ code: 'invalid-group-tag', message: tagIssue });
  } else {
    const decision = resolveGroupTag(context.supplier, rowTag === '' ? undefined : rowTag);
    if (decision.ok) groupTag = decision.groupTag;
    else errors.push({ code: decision.code, message: decision.message });
  }

  const user = cell('assignedUser');
  const userIssue = user === '' ? undefined : userPrincipalNameProblem(user);
  if (userIssue !== undefined) errors.push({ code: 'invalid-user', message: userIssue });

  if (serialUsable) {
    const key = serialKey(serial);
    if (context.seenSerials.has(key)) {
      errors.push({ code: 'duplicate-in-file', message: `The serial number "${serial}" already appears on an earlier row of this file.` });
    } else {
      context.seenSerials.add(key);
    }
  }

  const decoded = hash?.ok === true ? hash.hash : undefined;
  const informational = (value: string | undefined): string | undefined => {
    if (value === undefined || value.length <= MAX_INFORMATIONAL_LENGTH) return value;
    if (!warnings.some((w) => w.code === 'value-dropped')) warnings.push({ code: 'value-dropped', message: warningText('value-dropped') });
    return undefined;
  };
  const manufacturer = informational(decoded?.manufacturer ?? nonEmpty(cell('manufacturer')));
  const model = informational(decoded?.model ?? nonEmpty(cell('model')));
  if (decoded !== undefined) {
    if (looksLikeVirtualMachine(manufacturer, model)) warnings.push({ code: 'virtual-machine', message: warningText('virtual-machine') });
    if (decoded.tpmVersion === undefined) warnings.push({ code: 'no-tpm', message: warningText('no-tpm') });
  }

  const serialNumber = serial === '' ? undefined : serial;
  if (errors.length > 0 || hash?.ok !== true) return { line, serialNumber, status: 'rejected', errors, warnings };

  const device: AcceptedDevice = { serialNumber: serial, hardwareHash: hash.base64 };
  if (productKey !== '') device.productKey = productKey;
  if (groupTag !== undefined) device.groupTag = groupTag;
  if (user !== '') device.assignedUser = user;
  if (manufacturer !== undefined) device.manufacturer = manufacturer;
  if (model !== undefined) device.model = model;
  if (hash.hash.tpmVersion !== undefined) device.tpmVersion = hash.hash.tpmVersion;
  if (hash.hash.serialNumber !== undefined) device.hashSerial = hash.hash.serialNumber;
  return { line, serialNumber, status: 'accepted', errors, warnings, device };
}

/** Non-empty values in cells the header gives no (known) column. */
function extraValues(fields: readonly string[], columns: readonly (HashFileField | undefined)[]): number {
  let extra = 0;
  for (let i = 0; i < fields.length; i += 1) {
    if (columns[i] === undefined && fields[i] !== '') extra += 1;
  }
  return extra;
}

function nonEmpty(value: string): string | undefined {
  return value === '' ? undefined : value;
}
