/** One supplier file: identified by its content, so the same bytes are never imported twice. */
export interface BatchRecord {
  readonly batchId: string;
  readonly supplierId: string;
  readonly fileName: string;
  readonly blobName: string;
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
