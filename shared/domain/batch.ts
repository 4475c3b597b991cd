/** One supplier file: identified by its content, so the same bytes are never imported twice. */
export interface BatchRecord {
  readonly batchId: string;
  readonly supplierId: string;
  readonly fileName: string;
  readonly blobName: string;
  readonly contentSha256: string;
  readonly sizeBytes: number;
  readonly status: 'processing' | 'complete' | 'rejected';
  readonly receivedAt: string;
  readonly completedAt: string | undefined;
  readonly format: string | undefined;
  readonly encoding: string | undefined;
  readonly fileRejection: { readonly code: string; readonly message: string } | undefined;
  readonly counts: Readonly<Record<string, number>>;
  readonly reportBlob: string | undefined;
  readonly correlationId: string;
}
