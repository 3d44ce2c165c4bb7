import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parsePlainQuantity } from '../../../sim/units/plain-quantity.js';
import { parseWithMathjs, type QuantityKind } from '../../../sim/units/quantity.js';
import { propertyOptions } from '../../support/property.js';

const UNITS: Record<QuantityKind, string[]> = {
  bandwidth: ['B/s', 'kB/s', 'MB/s', 'GB/s', 'TB/s', 'PB/s', 'KiB/s', 'MiB/s', 'GiB/s', 'TiB/s', 'PiB/s'],
  bytes: ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'],
  time: ['s', 'ms', 'us', 'ns'],
  'flop-rate': ['FLOP/s', 'kFLOP/s', 'MFLOP/s', 'GFLOP/s', 'TFLOP/s', 'PFLOP/s'],
};
const KINDS = Object.keys(UNITS) as QuantityKind[];

describe('parsePlainQuantity (mathjs arithmetic without mathjs)', () => {
  test.each(KINDS.flatMap((kind) => UNITS[kind].map((unit) => [kind, unit] as const)))('%s in %s: the same double as mathjs for numbers of every shape', (kind, unit) => {
    for (const number of ['0', '1', '2', '300', '1.5', '0.1', '.3', '7.', '3e2', '2.5E-3', '123456789.123', '1e-7', '0.0001']) {
      for (const space of [' ', '', '  ']) {
        const text = `${number}${space}${unit}`;
        expect(Object.is(parsePlainQuantity(text, kind), parseWithMathjs(text, kind)), text).toBe(true);
      }
    }
  });

  test('random plain numbers: bit-identical to mathjs', () => {
    const plain = fc.record({
      kind: fc.constantFrom(...KINDS),
      mantissa: fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }),
      digits: fc.integer({ min: 0, max: 17 }),
      exponent: fc.option(fc.integer({ min: -20, max: 20 })),
      unitIndex: fc.nat(),
    });
    fc.assert(
      fc.property(plain, ({ kind, mantissa, digits, exponent, unitIndex }) => {
        const unit = UNITS[kind][unitIndex % UNITS[kind].length]!;
        const text = `${mantissa.toFixed(digits)}${exponent === null ? '' : `e${exponent}`} ${unit}`;
        return Object.is(parsePlainQuantity(text, kind), parseWithMathjs(text, kind));
      }),
      propertyOptions(2000),
    );
  });

  test.each([
    ['400 Gb/s', 'bandwidth'], // bits: mathjs's job
    ['-5 GB/s', 'bandwidth'],
    ['+2 us', 'time'],
    ['2 microseconds', 'time'],
    ['300 GB', 'bandwidth'],
    ['1 GB / s', 'bandwidth'],
    ['1e999 GB/s', 'bandwidth'],
    ['fast', 'bandwidth'],
  ] as const)('%s (%s) is not plain and is left to mathjs', (text, kind) => {
    expect(parsePlainQuantity(text, kind)).toBeUndefined();
  });
});
