import { describe, expect, test } from 'vitest';
import { makeLattice, partitionFromIndices, snapToLattice, validIndices } from '../../../sim/partition/lattice.js';

describe('partition lattice', () => {
  const lattice = makeLattice(1000, 3, 64);

  test('boundaries are multiples of the granularity; the last rank takes the remainder', () => {
    expect(lattice.maxIndex).toBe(15);
    expect(partitionFromIndices(lattice, [5, 10])).toEqual([320, 320, 360]);
  });

  test('valid boundaries increase strictly and stay below the context', () => {
    expect(validIndices(lattice, [1, 15])).toBe(true);
    expect(validIndices(lattice, [5, 5])).toBe(false);
    expect(validIndices(lattice, [0, 5])).toBe(false);
    expect(validIndices(lattice, [5, 16])).toBe(false);
  });

  test('snapping rounds each boundary and keeps room for every rank', () => {
    expect(snapToLattice(lattice, [333, 333, 334])).toEqual([5, 10]);
    expect(snapToLattice(lattice, [1, 1, 998])).toEqual([1, 2]);
    expect(snapToLattice(lattice, [998, 1, 1])).toEqual([14, 15]);
  });

  test('a granularity too coarse for the context is a clear error', () => {
    expect(() => makeLattice(100, 4, 64)).toThrow(/^granularity: 64 tokens is too coarse for 100 tokens on 4 GPUs: needs context >= 193/);
    expect(() => makeLattice(100, 2, 0)).toThrow(/^granularity: expected an integer >= 1/);
  });
});
