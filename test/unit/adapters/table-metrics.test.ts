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
    [`PartitionKey ge 'importing|' and PartitionKey lt 'importing|\uffff'`, true],
    [`PartitionKey ge 'a' and PartitionKey lt 'b' and state eq 'x'`, true],
    [`PartitionKey ge 'a' or PartitionKey lt 'b'`, false],
    [`PartitionKey ge 'a'`, false],
    [undefined, false],
  ])('%s → %s', (filter, expected) => {
    expect(isPartitionFilter(filter)).toBe(expected);
  });
});
