import { encodeHardwareHashBase64 } from '../shared/domain/hardware-hash.js';
import type { HardwareHashSpec } from '../shared/domain/hardware-hash.js';
import { COLUMN_NAMES, encodeText } from '../shared/domain/hash-file/index.js';
import type { HashFileEncoding, HashFileField } from '../shared/domain/hash-file/index.js';
import type { RowReasonCode, WarningCode } from '../shared/domain/reason-codes.js';

/**
 * Realistic supplier hash files for tests, benchmarks and the demo: Dell/HP/Lenovo/Surface
 * devices with ~4 KB hardware hashes that decode like real ones (serial, manufacturer,
 * model, TPM 2.0 inside), optional group tags and users, and bad rows on request.
 * Deterministic for a given seed.
 */

export type BadRowKind =
  | 'missing-serial'
  | 'invalid-serial'
  | 'excel-serial'
  | 'missing-hash'
  | 'invalid-hash'
  | 'truncated-hash'
  | 'hash-serial-mismatch'
  | 'invalid-product-key'
  | 'invalid-group-tag'
  | 'group-tag-not-allowed'
  | 'invalid-user'
  | 'duplicate-in-file'
  | 'too-many-columns'
  | 'virtual-machine'
  | 'no-tpm';

export interface SampleFileOptions {
  rows: number;
  seed?: number;
  /** 'oem' writes the Partner Center columns; default 'intune'. */
  format?: 'intune' | 'oem';
  /** Intune format only: 3 (no tag, no user), 4 (+ Group Tag) or 5 (+ Assigned User); default 5. */
  columns?: 3 | 4 | 5;
  /** Tags drawn for rows that carry one; default ['MPS-STD', 'MPS-KIOSK']. */
  groupTags?: readonly string[];
  /** Share of rows with a group tag (0..1); default 0.8. */
  groupTagShare?: number;
  /** Share of rows with an assigned user (0..1); default 0.3. */
  userShare?: number;
  /** 'all' quotes every field like Export-Csv; default 'none' (Get-WindowsAutopilotInfo / Out-File). */
  quoting?: 'none' | 'all';
  /** Start with PowerShell 5.1's `#TYPE System.Management.Automation.PSCustomObject` line. */
  typeLine?: boolean;
  lineEnding?: '\r\n' | '\n';
  /** How many rows of each bad kind to mix in, at seeded random positions (never the first row). */
  bad?: Partial<Record<BadRowKind, number>>;
  /** Bytes of the decoded hash; default 3,000 (about 4,000 base64 characters). */
  hashBytes?: number;
}

export interface SampleDevice {
  serialNumber: string;
  productKey?: string;
  manufacturer: string;
  model: string;
  tpmVersion?: string;
  groupTag?: string;
  assignedUser?: string;
  hardwareHash: string;
}

export interface SampleRow {
  /** Physical line in the file. */
  line: number;
  /** The CSV text of the row, line ending included. */
  text: string;
  device: SampleDevice;
  bad?: BadRowKind;
  expectedStatus: 'accepted' | 'rejected';
  /** Row error codes a validator must report (supplier-dependent ones only with a supplier policy). */
  expectedErrors: RowReasonCode[];
  expectedWarnings: WarningCode[];
}

const EXPECTATIONS: Readonly<Record<BadRowKind, { errors: RowReasonCode[]; warnings: WarningCode[] }>> = {
  'missing-serial': { errors: ['missing-serial'], warnings: [] },
  'invalid-serial': { errors: ['invalid-serial'], warnings: [] },
  'excel-serial': { errors: ['invalid-serial'], warnings: [] },
  'missing-hash': { errors: ['missing-hash'], warnings: [] },
  'invalid-hash': { errors: ['invalid-hash'], warnings: [] },
  'truncated-hash': { errors: ['invalid-hash'], warnings: [] },
  'hash-serial-mismatch': { errors: ['hash-serial-mismatch'], warnings: [] },
  'invalid-product-key': { errors: ['invalid-product-key'], warnings: [] },
  'invalid-group-tag': { errors: ['invalid-group-tag'], warnings: [] },
  'group-tag-not-allowed': { errors: ['group-tag-not-allowed'], warnings: [] },
  'invalid-user': { errors: ['invalid-user'], warnings: [] },
  'duplicate-in-file': { errors: ['duplicate-in-file'], warnings: [] },
  'too-many-columns': { errors: ['too-many-columns'], warnings: [] },
  'virtual-machine': { errors: [], warnings: ['virtual-machine'] },
  'no-tpm': { errors: [], warnings: ['no-tpm'] },
};

interface Make {
  manufacturer: string;
  firmwareVendor: string;
  models: readonly { model: string; family: string; sku: string }[];
  serial: (random: Random) => string;
  productKeyShare: number;
}

const MAKES: readonly Make[] = [
  {
    manufacturer: 'Dell Inc.',
    firmwareVendor: 'Dell Inc.',
    models: [
      { model: 'Latitude 7440', family: 'Latitude', sku: '0C0B' },
      { model: 'Latitude 5540', family: 'Latitude', sku: '0BE9' },
      { model: 'OptiPlex Micro 7010', family: 'OptiPlex', sku: '0B3E' },
      { model: 'Precision 3581', family: 'Precision', sku: '0C10' },
    ],
    serial: (random) => random.chars('0123456789BCDFGHJKLMNPQRSTVWXZ', 7),
    productKeyShare: 0.6,
  },
  {
    manufacturer: 'HP',
    firmwareVendor: 'HP',
    models: [
      { model: 'HP EliteBook 840 14 inch G10 Notebook PC', family: '103C_5336AN HP EliteBook', sku: '8A3E0EA#ABU' },
      { model: 'HP ProBook 450 15.6 inch G10 Notebook PC', family: '103C_5336AN HP ProBook', sku: '85B25EA#ABU' },
      { model: 'HP Elite Mini 800 G9 Desktop PC', family: '103C_53307F HP EliteDesk', sku: '5V8R6EA#ABU' },
    ],
    serial: (random) =>
      random.pick(['5CG', 'CND', '8CC']) + random.chars('0123456789', 4) + random.chars('0123456789ABCDEFGHJKLMNPQRSTUVWXYZ', 3),
    productKeyShare: 0.5,
  },
  {
    manufacturer: 'LENOVO',
    firmwareVendor: 'LENOVO',
    models: [
      { model: '21HD003MUK', family: 'ThinkPad T14 Gen 4', sku: 'LENOVO_MT_21HD_BU_Think_FM_ThinkPad T14 Gen 4' },
      { model: '21K3000WUK', family: 'ThinkPad X1 Carbon Gen 11', sku: 'LENOVO_MT_21K3_BU_Think_FM_ThinkPad X1 Carbon' },
      { model: '12E30024UK', family: 'ThinkCentre M70q Gen 3', sku: 'LENOVO_MT_12E3_BU_Think_FM_ThinkCentre M70q' },
    ],
    serial: (random) => random.pick(['PF', 'PC', 'MJ']) + random.chars('0123456789ABCDEFGHJKLMNPQRSTUVWXYZ', 6),
    productKeyShare: 0.4,
  },
  {
    manufacturer: 'Microsoft Corporation',
    firmwareVendor: 'Microsoft Corporation',
    models: [{ model: 'Surface Laptop 5', family: 'Surface', sku: 'Surface_Laptop_5_1950' }],
    serial: (random) => random.chars('0123456789', 12),
    productKeyShare: 0.9,
  },
];

const FIRST_NAMES = ['amira', 'ben', 'chloe', 'dev', 'emma', 'femi', 'grace', 'harry', 'isla', 'jay', 'kofi', 'lena'];
const LAST_NAMES = ['ahmed', 'brown', 'clarke', 'davies', 'evans', 'fraser', 'green', 'hughes', 'iqbal', 'jones', 'khan', 'lewis'];

/** mulberry32: small, fast, and the same sequence on every platform. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  chars(alphabet: string, length: number): string {
    let text = '';
    for (let i = 0; i < length; i += 1) text += alphabet.charAt(this.int(alphabet.length));
    return text;
  }
  bytes(length: number): Buffer {
    const bytes = Buffer.alloc(length);
    for (let i = 0; i < length; i += 4) bytes.writeUInt32LE((this.next() * 4294967296) >>> 0, Math.min(i, length - 4));
    return bytes;
  }
}

export interface DeviceOptions {
  serialNumber?: string;
  manufacturer?: string;
  model?: string;
  /** null: the hash carries no TPM record. */
  tpmVersion?: string | null;
  /** The serial written inside the hash; default the device's own. */
  hashSerial?: string;
  hashBytes?: number;
  groupTag?: string;
  assignedUser?: string;
}

/** One realistic device and its hash. */
export function sampleDevice(random: Random, options: DeviceOptions = {}): SampleDevice {
  const make = random.pick(MAKES);
  const variant = random.pick(make.models);
  const serialNumber = options.serialNumber ?? make.serial(random);
  const manufacturer = options.manufacturer ?? make.manufacturer;
  const model = options.model ?? variant.model;
  const tpmVersion = options.tpmVersion === null ? undefined : (options.tpmVersion ?? '2.0');
  const productKey = random.next() < make.productKeyShare ? `33${random.chars('0123456789', 11)}` : undefined;
  const pool = fillerPool(random);
  const spec: HardwareHashSpec = {
    serialNumber: options.hashSerial ?? serialNumber,
    manufacturer,
    model,
    firmwareVendor: make.firmwareVendor,
    systemFamily: variant.family,
    skuNumber: variant.sku,
    systemVersion: '1.0',
    macAddresses: [random.bytes(6).toString('hex'), random.bytes(6).toString('hex')],
    smbiosUuid: random.bytes(16).toString('hex'),
    targetBytes: options.hashBytes ?? 3000,
    fillerBytes: (length) => pool.subarray(0, length),
  };
  if (tpmVersion !== undefined) spec.tpmVersion = tpmVersion;
  if (productKey !== undefined) spec.productKeyId = productKey;
  const device: SampleDevice = { serialNumber, manufacturer, model, hardwareHash: encodeHardwareHashBase64(spec) };
  if (productKey !== undefined) device.productKey = productKey;
  if (tpmVersion !== undefined) device.tpmVersion = tpmVersion;
  if (options.groupTag !== undefined) device.groupTag = options.groupTag;
  if (options.assignedUser !== undefined) device.assignedUser = options.assignedUser;
  return device;
}

// Random filler is the expensive part of a hash; one shared pool sliced at random offsets
// keeps 50,000-row files quick to build while every hash still differs.
let sharedPool: Buffer | undefined;
function fillerPool(random: Random): Buffer {
  sharedPool ??= new Random(0x5eed).bytes(96 * 1024);
  const offset = random.int(sharedPool.length - 32 * 1024);
  return sharedPool.subarray(offset);
}

export function sampleColumns(options: Pick<SampleFileOptions, 'format' | 'columns'>): HashFileField[] {
  if (options.format === 'oem') return ['serialNumber', 'productKey', 'hardwareHash', 'manufacturer', 'model'];
  const all: HashFileField[] = ['serialNumber', 'productKey', 'hardwareHash', 'groupTag', 'assignedUser'];
  return all.slice(0, options.columns ?? 5);
}

/** The lines before the first data row, line endings included. */
export function sampleHeaderLines(options: SampleFileOptions): string[] {
  const ending = options.lineEnding ?? '\r\n';
  const lines = options.typeLine === true ? [`#TYPE System.Management.Automation.PSCustomObject${ending}`] : [];
  const names = sampleColumns(options).map((field) => COLUMN_NAMES[field]);
  lines.push(formatCsvLine(names, options.quoting ?? 'none') + ending);
  return lines;
}

/** Data rows one at a time: a 50,000-row file never has to sit in memory. */
export function* sampleRows(options: SampleFileOptions): Generator<SampleRow, void, undefined> {
  const random = new Random(options.seed ?? 1);
  const columns = sampleColumns(options);
  const badAt = placeBadRows(options, random);
  const tags = options.groupTags ?? ['MPS-STD', 'MPS-KIOSK'];
  const ending = options.lineEnding ?? '\r\n';
  let line = sampleHeaderLines(options).length;
  let first: SampleDevice | undefined;

  for (let index = 0; index < options.rows; index += 1) {
    line += 1;
    const bad = badAt.get(index);
    const groupTag = tags.length > 0 && random.next() < (options.groupTagShare ?? 0.8) ? random.pick(tags) : undefined;
    const assignedUser =
      random.next() < (options.userShare ?? 0.3)
        ? `${random.pick(FIRST_NAMES)}.${random.pick(LAST_NAMES)}@met-police.example.org`
        : undefined;
    let device: SampleDevice;
    if (bad === 'duplicate-in-file' && first !== undefined) device = { ...first };
    else device = sampleDevice(random, deviceOptionsFor(bad, options, random, { groupTag, assignedUser }));
    first ??= device;

    const cells = columns.map((field) => cellValue(device, field));
    const row = applyCellDamage(bad, cells, columns, device);
    const expectation = bad === undefined ? { errors: [], warnings: [] } : EXPECTATIONS[bad];
    yield {
      line,
      text: formatCsvLine(row, options.quoting ?? 'none') + ending,
      device,
      ...(bad === undefined ? {} : { bad }),
      expectedStatus: expectation.errors.length > 0 ? 'rejected' : 'accepted',
      expectedErrors: expectation.errors,
      expectedWarnings: expectation.warnings,
    };
  }
}

export interface SampleFile {
  text: string;
  rows: SampleRow[];
}

export function sampleHashFile(options: SampleFileOptions): SampleFile {
  const rows = [...sampleRows(options)];
  return { text: sampleHeaderLines(options).join('') + rows.map((row) => row.text).join(''), rows };
}

/** The file as bytes in `encoding` (UTF-16 and utf-8-bom with their BOM, as Windows tools write them). */
export function sampleHashFileBytes(
  options: SampleFileOptions,
  encoding: HashFileEncoding = 'utf-8',
): { bytes: Buffer; rows: SampleRow[] } {
  const file = sampleHashFile(options);
  return { bytes: encodeText(file.text, encoding), rows: file.rows };
}

const BOM_LENGTH: Readonly<Record<HashFileEncoding, number>> = {
  'utf-8': 0,
  'utf-8-bom': 3,
  'utf-16le': 2,
  'utf-16be': 2,
  'windows-1252': 0,
};

/** The file as encoded chunks of about `chunkChars` characters: for benchmark files too big to build in memory. */
export function* sampleHashFileChunks(
  options: SampleFileOptions,
  encoding: HashFileEncoding = 'utf-8',
  chunkChars = 1024 * 1024,
): Generator<Buffer, void, undefined> {
  let first = true;
  const encode = (text: string): Buffer => {
    const bytes = encodeText(text, encoding);
    const body = first ? bytes : bytes.subarray(BOM_LENGTH[encoding]);
    first = false;
    return body;
  };
  let pending = sampleHeaderLines(options).join('');
  for (const row of sampleRows(options)) {
    pending += row.text;
    if (pending.length >= chunkChars) {
      yield encode(pending);
      pending = '';
    }
  }
  yield encode(pending);
}

function deviceOptionsFor(
  bad: BadRowKind | undefined,
  options: SampleFileOptions,
  random: Random,
  extras: { groupTag: string | undefined; assignedUser: string | undefined },
): DeviceOptions {
  const device: DeviceOptions = { hashBytes: options.hashBytes ?? 3000 };
  if (extras.groupTag !== undefined) device.groupTag = extras.groupTag;
  if (extras.assignedUser !== undefined) device.assignedUser = extras.assignedUser;
  switch (bad) {
    case 'hash-serial-mismatch':
      device.hashSerial = `X${random.chars('0123456789ABCDEFGHJKLMNPQRSTUVWXYZ', 9)}`;
      break;
    case 'virtual-machine':
      device.manufacturer = 'Microsoft Corporation';
      device.model = 'Virtual Machine';
      break;
    case 'no-tpm':
      device.tpmVersion = null;
      break;
    case 'invalid-group-tag':
      device.groupTag = 'MPS/STD*';
      break;
    case 'group-tag-not-allowed':
      device.groupTag = 'NOT-AGREED';
      break;
    case 'invalid-user':
      device.assignedUser = 'not a user name';
      break;
    default:
      break;
  }
  return device;
}

function cellValue(device: SampleDevice, field: HashFileField): string {
  switch (field) {
    case 'serialNumber':
      return device.serialNumber;
    case 'productKey':
      return device.productKey ?? '';
    case 'hardwareHash':
      return device.hardwareHash;
    case 'groupTag':
      return device.groupTag ?? '';
    case 'assignedUser':
      return device.assignedUser ?? '';
    case 'manufacturer':
      return device.manufacturer;
    case 'model':
      return device.model;
  }
}

function applyCellDamage(bad: BadRowKind | undefined, cells: string[], columns: readonly HashFileField[], device: SampleDevice): string[] {
  const set = (field: HashFileField, value: string): void => {
    const position = columns.indexOf(field);
    if (position === -1) throw new RangeError(`a "${bad}" row needs the ${COLUMN_NAMES[field]} column`);
    cells[position] = value;
  };
  switch (bad) {
    case 'missing-serial':
      set('serialNumber', '');
      break;
    case 'invalid-serial':
      set('serialNumber', `${device.serialNumber}${'0'.repeat(130)}`);
      break;
    case 'excel-serial':
      set('serialNumber', '1.23457E+11');
      break;
    case 'missing-hash':
      set('hardwareHash', '');
      break;
    case 'invalid-hash':
      set('hardwareHash', `${device.hardwareHash.slice(0, 100)}!!not-base64!!`);
      break;
    case 'truncated-hash':
      set('hardwareHash', Buffer.from(device.hardwareHash, 'base64').subarray(0, 1200).toString('base64'));
      break;
    case 'invalid-product-key':
      set('productKey', 'KEY_WITH_UNDERSCORES');
      break;
    case 'invalid-group-tag':
    case 'group-tag-not-allowed':
      set('groupTag', device.groupTag ?? '');
      break;
    case 'invalid-user':
      set('assignedUser', device.assignedUser ?? '');
      break;
    case 'too-many-columns':
      cells.push('Latitude 7440', '14 inch');
      break;
    default:
      break;
  }
  return cells;
}

function placeBadRows(options: SampleFileOptions, random: Random): Map<number, BadRowKind> {
  const kinds = Object.entries(options.bad ?? {}).flatMap(([kind, count]) => Array<BadRowKind>(count ?? 0).fill(kind as BadRowKind));
  if (kinds.length > Math.max(0, options.rows - 1)) throw new RangeError(`${kinds.length} bad rows do not fit in ${options.rows} rows`);
  const placed = new Map<number, BadRowKind>();
  for (const kind of kinds) {
    let index = 1 + random.int(options.rows - 1);
    while (placed.has(index)) index = 1 + ((index - 1 + 1) % (options.rows - 1));
    placed.set(index, kind);
  }
  return placed;
}

/** One CSV line (no ending): 'all' quotes every cell as Export-Csv does, 'none' quotes only where needed. */
export function formatCsvLine(cells: readonly string[], quoting: 'none' | 'all'): string {
  return cells.map((cell) => (quoting === 'all' || /[",\r\n]/.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell)).join(',');
}
