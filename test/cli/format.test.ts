import { describe, expect, test } from 'vitest';
import { formatTtft } from '../../cli/format.js';

describe('formatTtft: five significant digits, trailing zeros kept, so TTFTs compare with a target', () => {
  test.each([
    [2.0004, '2.0004 s'],
    [2, '2.0000 s'],
    [15.347, '15.347 s'],
    [0.3287094359927, '328.71 ms'],
    [0.0012, '1.2000 ms'],
    [0.99999995, '1.0000 s'],
    [0.00099999995, '1.0000 ms'],
    [4.2e-6, '4.2000 us'],
    [0, '0.0000 s'],
  ])('%d s -> %s', (seconds, text) => {
    expect(formatTtft(seconds)).toBe(text);
  });
});
