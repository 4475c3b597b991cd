export { validateHashFile, collectHashFile, DEFAULT_HASH_FILE_LIMITS, MAX_RECORD_CHARS } from './validate-file.js';
export type { HashFileValidation } from './validate-file.js';
export { encodeText } from './encoding.js';
export { summaryRow, validationSummary } from './summary.js';
export type { SummaryProblem, SummaryRow, ValidationSummary } from './summary.js';
export { COLUMN_NAMES } from './header.js';
export type { HashFileField } from './header.js';
export { isValidGroupTag, MAX_SERIAL_LENGTH, MAX_PRODUCT_KEY_LENGTH, MAX_GROUP_TAG_LENGTH } from './fields.js';
export type {
  AcceptedDevice,
  FileOutcome,
  FileRejection,
  HashFileCounts,
  HashFileEncoding,
  HashFileFormat,
  HashFileLimits,
  HashFileOptions,
  RowError,
  RowWarning,
  ValidatedRow,
} from './types.js';
