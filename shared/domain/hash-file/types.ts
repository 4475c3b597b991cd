import type { FileReasonCode, RowReasonCode, WarningCode } from '../reason-codes.js';
import type { SupplierPolicy } from '../suppliers.js';

export type HashFileFormat = 'intune' | 'oem';

export type HashFileEncoding = 'utf-8' | 'utf-8-bom' | 'utf-16le' | 'utf-16be' | 'windows-1252';

export interface RowError {
  code: RowReasonCode;
  message: string;
}

export interface RowWarning {
  code: WarningCode;
  message: string;
}

/** A row fit to be registered with Autopilot, in the shape the import needs. */
export interface AcceptedDevice {
  serialNumber: string;
  productKey?: string;
  /** Base64 as in the file, with any whitespace inside removed: send it to Graph unchanged. */
  hardwareHash: string;
  /** After the supplier default was applied; undefined when the row has none and there is no default. */
  groupTag?: string;
  assignedUser?: string;
  /** Decoded from the hash; the OEM columns are only used when the hash carries none. */
  manufacturer?: string;
  model?: string;
  tpmVersion?: string;
  /** The serial number recorded inside the hash, when it carries one. */
  hashSerial?: string;
}

export interface ValidatedRow {
  /** 1-based physical line where the row starts (the header is line 1 unless a #TYPE line precedes it). */
  line: number;
  /** Trimmed; present whenever the cell is non-empty, even on a rejected row. */
  serialNumber?: string;
  status: 'accepted' | 'rejected';
  errors: RowError[];
  warnings: RowWarning[];
  /** Present exactly when status is 'accepted'. */
  device?: AcceptedDevice;
}

export interface FileRejection {
  code: FileReasonCode;
  message: string;
  /** The physical line the problem was found on, when there is one. */
  line?: number;
}

export interface HashFileCounts {
  /** Data rows seen (blank lines are not rows). */
  total: number;
  accepted: number;
  rejected: number;
}

export interface FileOutcome {
  /** Undefined only when the file was rejected before a header was recognised. */
  format?: HashFileFormat;
  /** Undefined only when not a single byte could be read. */
  encoding?: HashFileEncoding;
  /** Present when the file is rejected as a whole: then none of its rows may be acted on. */
  rejected?: FileRejection;
  counts: HashFileCounts;
  bytesRead: number;
}

export interface HashFileLimits {
  maxBytes: number;
  maxRows: number;
}

export interface HashFileOptions extends HashFileLimits {
  /** Undefined means supplier rules are not checked (the CLI without --supplier). */
  supplier?: SupplierPolicy;
}
