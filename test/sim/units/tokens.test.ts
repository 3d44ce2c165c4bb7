import { describe, expect, test } from 'vitest';
import { parseTokens } from '../../../sim/units/tokens.js';

describe('token counts: k = 1024, M = 1024^2', () => {
  test.each([
    ['16384', 16384],
    ['128k', 131072],
    ['128K', 131072],
    ['1M', 1048576],
    ['1.5k', 1536],
    [' 4k ', 4096],
  ])('%s is %i tokens', (text, tokens) => expect(parseTokens(text, '--context')).toBe(tokens));
  test.each(['1.5', '0.1k', 'k', '12kb', '1e3', '', '08', '-4k'])('%j is refused in one line naming the flag', (text) => {
    expect(() => parseTokens(text, '--context')).toThrow(/^--context: expected a token count >= 0 such as 16384, 128k or 1M \(k = 1024, M = 1048576\)/);
  });
  test('bounds apply after the suffix', () => {
    expect(() => parseTokens('32M', '--context', { min: 1, max: 1 << 24 })).toThrow(/^--context: expected an integer in 1\.\.16777216 \(got 33554432\)/);
  });
});
