import { inject, describe, it, expect } from 'vitest';
import { TableClient } from '@azure/data-tables';

describe('Azurite harness', () => {
  it('hands tests a working table endpoint', async () => {
    const client = TableClient.fromConnectionString(inject('storageConnectionString'), 'harnesscheck', { allowInsecureConnection: true });
    await client.createTable();
    await client.createEntity({ partitionKey: 'p', rowKey: 'r', value: 42 });
    const entity = await client.getEntity<{ value: number }>('p', 'r');
    expect(entity.value).toBe(42);
  });
});
