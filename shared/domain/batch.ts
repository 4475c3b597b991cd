import { createHash } from 'node:crypto';

/**
 * A supplier file's batch id: its supplier and its content together (the first 32 hex digits
 * of the SHA-256 of both), so the same bytes from one supplier are one batch, never imported
 * twice, while the same bytes from another supplier are a file of that supplier's own, with its
 * own rows and report: another supplier's outcomes are never copied to it.
 */
export function batchIdOf(supplierId: string, contentSha256: string): string {
  return createHash('sha256').update(`${supplierId}\n${contentSha256}`).digest('hex').slice(0, 32);
}

/** One supplier file: identified by its supplier and content (`batchIdOf`), so the same bytes are never imported twice. */
export interface BatchRecord {
  readonly batchId: string;
  readonly supplierId: string;
  readonly fileName: string;
  readonly blobName: string;
  /** The SHA-256 of the file's bytes. */
  readonly contentSha256: string;
  readonly sizeBytes: number;
  /** `settled` once every accepted device has an Autopilot outcome and the report shows it. */
  readonly status: 'processing' | 'complete' | 'rejected' | 'settled';
  readonly receivedAt: string;
  readonly completedAt: string | undefined;
  readonly settledAt?: string | undefined;
  /** How often the sweeper ran the intake again because the batch stayed `processing` past its deadline. */
  readonly intakeRedrives?: number | undefined;
  /** When it last did; the next deadline counts from here. */
  readonly redrivenAt?: string | undefined;
  readonly format: string | undefined;
  readonly encoding: string | undefined;
  readonly fileRejection: { readonly code: string; readonly message: string } | undefined;
  readonly counts: Readonly<Record<string, number>>;
  readonly reportBlob: string | undefined;
  readonly correlationId: string;
}
