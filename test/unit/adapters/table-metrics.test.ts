import { describe, expect, it } from 'vitest';
import { isPartitionFilter } from '../../../shared/adapters/tables/table-metrics.js';

describe('isPartitionFilter', () => {
  it.each([
    [`PartitionKey eq 'p'`, true],
    [`PartitionKey eq 'it''s' and RowKey ge 'event-'`, true],
    [`(PartitionKey eq 'p') and state eq 'x'`, true],
    [`RowKey eq 'device' and (state eq 'importing')`, false],
    [`PartitionKey eq 'a' or PartitionKey eq 'b'`, false],
    [`state eq 'x' and PartitionKey eq 'p'`, false],
    [undefined, false],
  ])('%s → %s', (filter, expected) => {
    expect(isPartitionFilter(filter)).toBe(expected);
  });
});
