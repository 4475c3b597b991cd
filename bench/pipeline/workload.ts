import { sampleHashFileBytes, sampleHeaderLines, type SampleFileOptions } from '../../local/sample-data.js';

/** The supplier deliveries both the product and the baseline are given. */

export const BENCH_SUPPLIER = {
  id: 'contoso',
  name: 'Contoso Ltd',
  allowedGroupTags: ['MPS-STD', 'MPS-KIOSK'],
  defaultGroupTag: 'MPS-STD',
};

/** Every tag the files carry matches this simulator profile rule, so every device can enrol. */
export const PROFILE_RULE = { groupTag: '/^MPS-/', profileName: 'MPS standard' };

export interface WorkloadDevice {
  readonly serialNumber: string;
  readonly hardwareHash: string;
  readonly productKey?: string;
  readonly groupTag?: string;
  readonly assignedUser?: string;
}

export interface Workload {
  readonly files: readonly { readonly blobName: string; readonly bytes: Buffer }[];
  readonly devices: readonly WorkloadDevice[];
}

/**
 * `fileCount` clean files of `rowsPerFile` rows, each row tagged MPS-STD or MPS-KIOSK.
 * Seeds differ per file; a serial drawn twice across files is dropped from the later file,
 * so the workload has exactly one row per device (a repeat would be a re-tag, not a device).
 */
export function buildWorkload(fileCount: number, rowsPerFile: number, seed = 2026): Workload {
  const files: { blobName: string; bytes: Buffer }[] = [];
  const devices: WorkloadDevice[] = [];
  const seen = new Set<string>();
  for (let index = 0; index < fileCount; index++) {
    const options: SampleFileOptions = {
      rows: rowsPerFile,
      seed: seed + index,
      groupTags: BENCH_SUPPLIER.allowedGroupTags,
      groupTagShare: 1,
      columns: 5,
    };
    const { rows } = sampleHashFileBytes(options);
    const kept = rows.filter((row) => {
      const key = row.device.serialNumber.toUpperCase();
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    const text = sampleHeaderLines(options).join('') + kept.map((row) => row.text).join('');
    files.push({ blobName: `${BENCH_SUPPLIER.id}/file-${String(index + 1).padStart(2, '0')}.csv`, bytes: Buffer.from(text, 'utf8') });
    for (const { device } of kept) {
      devices.push({
        serialNumber: device.serialNumber,
        hardwareHash: device.hardwareHash,
        ...(device.productKey ? { productKey: device.productKey } : {}),
        ...(device.groupTag ? { groupTag: device.groupTag } : {}),
        ...(device.assignedUser ? { assignedUser: device.assignedUser } : {}),
      });
    }
  }
  return { files, devices };
}

/** The simulator's fixed bearer token, for the product and the baseline alike. */
export const SIMULATOR_TOKEN = 'bench-pipeline-token';
