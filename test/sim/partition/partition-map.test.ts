import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PartitionMap, partitionKey } from '../../../sim/partition/partition-map.js';
import { propertyOptions } from '../../support/property.js';

describe('PartitionMap (sim/partition/partition-map.ts)', () => {
  test('behaves as a map keyed by the chunks written out, over random sets, gets and deletes', () => {
    // Few short partitions of small chunks, so operations often meet the same partition.
    const partitionArb = fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 });
    const opArb = fc.tuple(fc.constantFrom('set', 'get', 'delete'), partitionArb, fc.integer());
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const map = new PartitionMap<number>();
        const reference = new Map<string, number>();
        for (const [op, partition, value] of ops) {
          const key = partition.join(',');
          if (op === 'set') {
            map.set(partitionKey(partition), value);
            reference.set(key, value);
          } else if (op === 'delete') {
            map.delete(partitionKey([...partition]));
            reference.delete(key);
          }
          expect(map.get(partitionKey([...partition]))).toBe(reference.get(key));
          expect(map.size).toBe(reference.size);
        }
      }),
      propertyOptions(200),
    );
  });

  test('a key is of the chunks, not of the array: equal chunks, equal keys; other chunks or lengths, other keys', () => {
    expect(partitionKey([1, 2, 3])).toEqual(partitionKey([1, 2, 3]));
    expect(partitionKey([1, 2, 3])).not.toEqual(partitionKey([3, 2, 1]));
    expect(partitionKey([1, 2, 3])).not.toEqual(partitionKey([1, 2, 3, 0]));
    // Chunks past 2^32 tokens still count.
    expect(partitionKey([2 ** 32 + 5, 1])).not.toEqual(partitionKey([5, 1]));
  });
});
