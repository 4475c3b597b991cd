/**
 * Field rules of a hash-file row. Lenient where Autopilot is lenient (real serials hold
 * hyphens, dots, spaces), strict where a wrong value would register the wrong device.
 * Every pattern is a single character class or anchored literal run: linear time on any input.
 */

import { MAX_GROUP_TAG_LENGTH, MAX_PRODUCT_KEY_LENGTH, MAX_SERIAL_LENGTH, MAX_UPN_LENGTH } from '../value-limits.js';

export { MAX_GROUP_TAG_LENGTH, MAX_PRODUCT_KEY_LENGTH, MAX_SERIAL_LENGTH, MAX_UPN_LENGTH };

// Control characters (C0, DEL, C1), quotes, commas, U+FFFD (bytes that could not be
// decoded) and unpaired surrogates.
const FORBIDDEN_IN_SERIAL = /[\p{Cc}"',\ufffd\p{Cs}]/u;
// What a spreadsheet leaves of a long numeric serial, e.g. 1.23457E+11: the digits are lost.
const SCIENTIFIC_NOTATION = /^\d(?:\.\d+)?E\+\d+$/i;
const PRODUCT_KEY = /^[A-Za-z0-9-]+$/;
const GROUP_TAG = /^[\p{L}\p{Nd} _.-]+$/u;
// Characters Entra ID allows in the name part of a user principal name.
const UPN_NAME = /^[A-Za-z0-9'._!#^~+-]+$/;
const DOMAIN_LABEL = /^[A-Za-z0-9-]+$/;
const TOP_LEVEL_DOMAIN = /^[A-Za-z]{2,63}$/;

/** Returns why the (trimmed, non-empty) serial is unacceptable, or undefined when it is fine. */
export function serialProblem(serial: string): string | undefined {
  if (serial.length > MAX_SERIAL_LENGTH) {
    return `The serial number is ${serial.length} characters long; at most ${MAX_SERIAL_LENGTH} are allowed.`;
  }
  if (SCIENTIFIC_NOTATION.test(serial)) {
    return `The serial number "${serial}" looks like a spreadsheet turned it into a number in scientific notation, which loses digits. Format the column as Text and copy the serials again.`;
  }
  if (FORBIDDEN_IN_SERIAL.test(serial)) {
    return 'The serial number contains a control character, a quote, a comma or a character that could not be decoded.';
  }
  return undefined;
}

export function productKeyProblem(productKey: string): string | undefined {
  if (productKey.length > MAX_PRODUCT_KEY_LENGTH) {
    return `The Windows Product ID is ${productKey.length} characters long; at most ${MAX_PRODUCT_KEY_LENGTH} are allowed.`;
  }
  if (!PRODUCT_KEY.test(productKey)) {
    return SCIENTIFIC_NOTATION.test(productKey)
      ? 'The Windows Product ID looks like a spreadsheet turned it into a number in scientific notation. Format the column as Text.'
      : 'The Windows Product ID may only contain letters, digits and hyphens.';
  }
  return undefined;
}

export function isValidGroupTag(tag: string): boolean {
  return tag.length <= MAX_GROUP_TAG_LENGTH && GROUP_TAG.test(tag) && tag.trim() === tag;
}

export function groupTagProblem(tag: string): string | undefined {
  if (tag.length > MAX_GROUP_TAG_LENGTH) {
    return `The group tag is ${tag.length} characters long; at most ${MAX_GROUP_TAG_LENGTH} are allowed.`;
  }
  if (!GROUP_TAG.test(tag)) {
    return `The group tag "${tag}" may only contain letters, digits, spaces, '-', '_' and '.'.`;
  }
  return undefined;
}

/** name@domain.tld; the value itself is kept out of the message because a UPN is personal data. */
export function userPrincipalNameProblem(upn: string): string | undefined {
  const problem = 'The assigned user is not a user principal name of the form name@domain.tld.';
  if (upn.length > MAX_UPN_LENGTH) return problem;
  const at = upn.indexOf('@');
  if (at <= 0 || at !== upn.lastIndexOf('@')) return problem;
  const name = upn.slice(0, at);
  if (!UPN_NAME.test(name) || name.startsWith('.') || name.endsWith('.') || name.includes('..')) return problem;
  const labels = upn.slice(at + 1).split('.');
  const topLevel = labels[labels.length - 1] ?? '';
  if (labels.length < 2 || !TOP_LEVEL_DOMAIN.test(topLevel)) return problem;
  const labelsOk = labels.every(
    (label) => label.length > 0 && label.length <= 63 && DOMAIN_LABEL.test(label) && !label.startsWith('-') && !label.endsWith('-'),
  );
  return labelsOk ? undefined : problem;
}
