import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
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

describe('BlobStore streamed writes against Azurite', () => {
  const store = BlobStore.connect(inject('storageConnectionString'));
  const container = `s${randomUUID().replace(/-/g, '')}`;

  function chunks(count: number, size: number, fail?: Error): Readable {
    return Readable.from(
      (async function* () {
        for (let index = 0; index < count; index++) yield Buffer.alloc(size, index % 251);
        if (fail) throw fail;
      })(),
    );
  }

  it('writes a stream larger than a block as one blob, and opens it again', async () => {
    await store.writeStream(container, 'contoso/big.csv', chunks(9, 1024 * 1024), {
      contentType: 'text/csv',
      abortSignal: new AbortController().signal,
    });
    const opened = await store.openIfPresent(container, 'contoso/big.csv');
    expect(opened).toMatchObject({ size: 9 * 1024 * 1024, contentType: 'text/csv' });
    const back = await readAll(opened!.body);
    expect(back.length).toBe(9 * 1024 * 1024);
    expect(back[8 * 1024 * 1024]).toBe(8);
    expect(await store.openIfPresent(container, 'contoso/none.csv')).toBeUndefined();
  });

  it('leaves the blob under the name as it was when the stream fails after blocks were staged, and writes none where there was none', async () => {
    await store.writeText(container, 'contoso/kept.csv', 'the earlier file');
    await expect(
      store.writeStream(container, 'contoso/kept.csv', chunks(6, 1024 * 1024, new Error('the client went away')), {
        contentType: 'text/csv',
        abortSignal: new AbortController().signal,
      }),
    ).rejects.toThrow('the client went away');
    expect(await store.readText(container, 'contoso/kept.csv')).toBe('the earlier file');
    await expect(
      store.writeStream(container, 'contoso/never.csv', chunks(5, 1024 * 1024, new Error('cut off')), {
        contentType: 'text/csv',
        abortSignal: new AbortController().signal,
      }),
    ).rejects.toThrow('cut off');
    expect(await store.info(container, 'contoso/never.csv')).toBeUndefined();
  });
});
