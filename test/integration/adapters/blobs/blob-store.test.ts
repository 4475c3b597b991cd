import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { BlobStore } from '../../../../shared/adapters/blobs/blob-store.js';

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('BlobStore against Azurite', () => {
  const store = BlobStore.connect(inject('storageConnectionString'));
  const container = `c${randomUUID().replace(/-/g, '')}`;

  it('writes bytes and streams them back unchanged', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024, 7);
    data.write('\ufeffheader', 'utf16le');
    await store.writeBytes(container, 'supplier/file.csv', data);
    const info = await store.info(container, 'supplier/file.csv');
    expect(info?.size).toBe(data.length);
    const back = await readAll(await store.openRead(container, 'supplier/file.csv', info!.etag));
    expect(back.equals(data)).toBe(true);
  });

  it('refuses a read pinned to an ETag after the blob changed', async () => {
    await store.writeText(container, 'a.txt', 'one');
    const info = await store.info(container, 'a.txt');
    await store.writeText(container, 'a.txt', 'two');
    await expect(store.openRead(container, 'a.txt', info!.etag)).rejects.toMatchObject({ statusCode: 412 });
  });

  it('reads text, lists by prefix, and answers undefined for missing blobs', async () => {
    await store.writeText(container, 'x/1.txt', 'hello');
    await store.writeText(container, 'y/2.txt', 'world');
    expect(await store.readText(container, 'x/1.txt')).toBe('hello');
    expect(await store.readText(container, 'nope.txt')).toBeUndefined();
    expect(await store.info(container, 'nope.txt')).toBeUndefined();
    const names = [];
    for await (const name of store.list(container, 'x/')) names.push(name);
    expect(names).toEqual(['x/1.txt']);
  });
});
