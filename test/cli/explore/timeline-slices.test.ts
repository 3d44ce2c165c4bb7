import { describe, expect, test } from 'vitest';
import { compactSlices, type TimelineSlice } from '../../../cli/explore/timeline-slices.js';

describe('compactSlices', () => {
  test('slices of one name on one track join when the gap is at most gapUs; the count adds up', () => {
    const slices: TimelineSlice[] = [
      [0, 1, 'allreduce', 10, 5, 1], // 10..15
      [0, 1, 'allreduce', 15.5, 2, 1], // gap 0.5: joins, 10..17.5
      [0, 1, 'allreduce', 20, 1, 1], // gap 2.5 > 1: new bar
      [0, 0, 'mlp', 0, 4, 1],
      [0, 0, 'attn', 4, 4, 1], // another name: never joined
      [1, 1, 'allreduce', 16, 1, 1], // another rank
    ];
    expect(compactSlices(slices, 1)).toEqual([
      [0, 0, 'mlp', 0, 4, 1],
      [0, 0, 'attn', 4, 4, 1],
      [0, 1, 'allreduce', 10, 7.5, 2],
      [0, 1, 'allreduce', 20, 1, 1],
      [1, 1, 'allreduce', 16, 1, 1],
    ]);
  });

  test('overlapping slices (concurrent sends) join into their union; the input is left as it was', () => {
    const slices: TimelineSlice[] = [
      [2, 1, 'send', 0, 10, 1],
      [2, 1, 'send', 3, 4, 1],
      [2, 1, 'send', 8, 6, 1],
    ];
    const copy = structuredClone(slices);
    expect(compactSlices(slices, 0)).toEqual([[2, 1, 'send', 0, 14, 3]]);
    expect(slices).toEqual(copy);
  });
});
