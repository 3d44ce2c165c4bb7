import { describe, expect, test } from 'vitest';
import { DEFAULT_PROPERTY_SEED, propertySeed } from './property.js';

describe('propertySeed', () => {
  test('FC_SEED replays a seed, negative ones included', () => {
    expect(propertySeed({ FC_SEED: '12345' })).toBe(12345);
    expect(propertySeed({ FC_SEED: '-7', CI: 'true' })).toBe(-7);
    expect(propertySeed({ FC_SEED: ' 2147483647 ' })).toBe(2147483647);
  });

  test.each(['abc', '12abc', '1.5', '1e3', '0x10', '2147483648', '-2147483649', 'NaN'])('FC_SEED=%s is refused, naming the variable', (value) => {
    expect(() => propertySeed({ FC_SEED: value })).toThrow(`FC_SEED must be an integer in [-2147483648, 2147483647] (a seed printed by an earlier run), got "${value}"`);
  });

  test('locally (CI unset, empty, false or 0) the seed is the fixed default', () => {
    for (const env of [{}, { CI: '' }, { CI: 'false' }, { CI: '0' }, { FC_SEED: '' }]) expect(propertySeed(env)).toBe(DEFAULT_PROPERTY_SEED);
  });

  test('under CI without FC_SEED each run draws a fresh 32-bit seed', () => {
    const seeds = new Set(Array.from({ length: 20 }, () => propertySeed({ CI: 'true' })));
    expect(seeds.size).toBeGreaterThan(1);
    for (const seed of seeds) {
      expect(Number.isInteger(seed)).toBe(true);
      expect(seed).toBeGreaterThanOrEqual(-(2 ** 31));
      expect(seed).toBeLessThan(2 ** 31);
    }
  });
});
