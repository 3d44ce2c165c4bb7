import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PartitionMap } from '../../../sim/partition/partition-map.js';
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
            map.set(partition, value);
            reference.set(key, value);
          } else if (op === 'delete') {
            map.delete([...partition]);
            reference.delete(key);
          }
          expect(map.get([...partition])).toBe(reference.get(key));
          expect(map.size).toBe(reference.size);
        }
      }),
      propertyOptions(200),
    );
  });

  test('keeps its own copy: changing the array it was given changes nothing', () => {
    const map = new PartitionMap<string>();
    const partition = [1, 2, 3];
    map.set(partition, 'a');
    partition[0] = 9;
    expect(map.get([1, 2, 3])).toBe('a');
    expect(map.get([9, 2, 3])).toBeUndefined();
    // Same chunks, other lengths: other keys.
    expect(map.get([1, 2, 3, 0])).toBeUndefined();
  });
});
