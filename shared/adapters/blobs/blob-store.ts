import { RestError, type BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { StorageAccess } from '../storage-access.js';
import type { Readable } from 'node:stream';
import type { BlobFiles, BlobInfo, BlobStreams, OpenedBlob } from '../../services/ports.js';

/** Blob access for intake files and supplier reports: streamed reads, whole-text and streamed writes. */

/**
 * A streamed write stages blocks of this size, this many at once, so an upload of any size
 * holds about their product in memory (4 MiB blocks reach Azure's 50,000-block limit only at
 * 195 GiB).
 */
const STREAM_BLOCK_BYTES = 4 * 1024 * 1024;
const STREAM_CONCURRENCY = 2;

export class BlobStore implements BlobFiles, BlobStreams {
  private readonly ensured = new Map<string, Promise<void>>();

  constructor(private readonly service: BlobServiceClient) {}

  /** The product's storage account; a string is a connection string (local tools and tests). */
  static connect(storage: StorageAccess | string): BlobStore {
    return new BlobStore(StorageAccess.of(storage).blobService());
  }

  container(name: string): ContainerClient {
    return this.service.getContainerClient(name);
  }

  ensureContainer(name: string): Promise<void> {
    let pending = this.ensured.get(name);
    if (!pending) {
      pending = this.container(name)
        .createIfNotExists()
        .then(() => undefined)
        .catch((error: unknown) => {
          this.ensured.delete(name);
          throw error;
        });
      this.ensured.set(name, pending);
    }
    return pending;
  }

  async info(container: string, name: string): Promise<BlobInfo | undefined> {
    try {
      const props = await this.container(container).getBlobClient(name).getProperties();
      return {
        container,
        name,
        size: props.contentLength ?? 0,
        etag: props.etag ?? '',
        ...(props.contentMD5 ? { contentMd5: Buffer.from(props.contentMD5).toString('base64') } : {}),
      };
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  /**
   * Opens a blob as a byte stream. With an ETag, the read fails (412) if the blob changed
   * since, so one logical read never mixes two versions of a file.
   */
  async openRead(container: string, name: string, etag?: string): Promise<Readable> {
    const response = await this.container(container)
      .getBlobClient(name)
      .download(0, undefined, etag ? { conditions: { ifMatch: etag } } : {});
    const body = response.readableStreamBody;
    if (!body) throw new Error(`Blob ${container}/${name} has no body`);
    return body as Readable;
  }

  async writeText(container: string, name: string, text: string, contentType = 'text/plain; charset=utf-8'): Promise<void> {
    await this.ensureContainer(container);
    const data = Buffer.from(text, 'utf8');
    await this.container(container)
      .getBlockBlobClient(name)
      .upload(data, data.length, { blobHTTPHeaders: { blobContentType: contentType } });
  }

  async writeBytes(container: string, name: string, data: Buffer, contentType = 'application/octet-stream'): Promise<void> {
    await this.ensureContainer(container);
    await this.container(container)
      .getBlockBlobClient(name)
      .upload(data, data.length, { blobHTTPHeaders: { blobContentType: contentType } });
  }

  /**
   * Blocks are staged as the bytes arrive and committed in one go once `source` ends: until
   * then the blob (or the earlier one under its name) is untouched, and blocks never committed
   * are discarded by the service.
   */
  async writeStream(
    container: string,
    name: string,
    source: Readable,
    options: { readonly contentType: string; readonly abortSignal: AbortSignal },
  ): Promise<void> {
    await this.ensureContainer(container);
    await this.container(container)
      .getBlockBlobClient(name)
      .uploadStream(source, STREAM_BLOCK_BYTES, STREAM_CONCURRENCY, {
        blobHTTPHeaders: { blobContentType: options.contentType },
        abortSignal: options.abortSignal,
      });
  }

  async openIfPresent(container: string, name: string): Promise<OpenedBlob | undefined> {
    try {
      const response = await this.container(container).getBlobClient(name).download();
      const body = response.readableStreamBody;
      if (!body) throw new Error(`Blob ${container}/${name} has no body`);
      return { body: body as Readable, size: response.contentLength ?? 0, contentType: response.contentType };
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  async readText(container: string, name: string): Promise<string | undefined> {
    try {
      const buffer = await this.container(container).getBlobClient(name).downloadToBuffer();
      return buffer.toString('utf8');
    } catch (error) {
      if (error instanceof RestError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  async *list(container: string, prefix?: string): AsyncGenerator<string> {
    for await (const blob of this.container(container).listBlobsFlat(prefix ? { prefix } : {})) yield blob.name;
  }

  /** Health probe: can the account be reached at all. */
  async ping(): Promise<void> {
    await this.service.getProperties();
  }
}
