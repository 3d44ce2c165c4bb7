import { describe, expect, test } from 'vitest';
import { checkPartition, evenPartition, prefixes } from '../../../sim/plan/partition.js';

describe('partitions', () => {
  test('even split gives the first C mod p ranks one extra token', () => {
    expect(evenPartition(10, 4)).toEqual([3, 3, 2, 2]);
    expect(evenPartition(16384, 8)).toEqual(new Array(8).fill(2048));
    expect(evenPartition(5, 5)).toEqual([1, 1, 1, 1, 1]);
  });

  test('prefixes are running sums', () => {
    expect(prefixes([3, 3, 2, 2])).toEqual([0, 3, 6, 8]);
  });

  test.each([
    [[5, 5], 10, 3, /needs one chunk per GPU: 3 values \(got 2\)/],
    [[5, 4], 10, 2, /must sum to the context 10 \(they sum to 9\)/],
    [[10, 0], 10, 2, /chunk 1 must be a positive integer/],
    [[11, -1], 10, 2, /chunk 1 must be a positive integer/],
    [[5.5, 4.5], 10, 2, /chunk 0 must be a positive integer/],
  ])('rejects %j for context %i on %i GPUs', (partition, context, gpus, message) => {
    expect(() => checkPartition(partition, context, gpus)).toThrow(message);
  });
});
