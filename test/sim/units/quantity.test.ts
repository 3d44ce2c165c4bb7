import { describe, expect, test } from 'vitest';
import { KvrInputError } from '../../../sim/errors.js';
import { formatQuantity, parseQuantity } from '../../../sim/units/quantity.js';

describe('parseQuantity', () => {
  test.each([
    ['300 GB/s', 'bandwidth', 300e9],
    ['10 GB/s', 'bandwidth', 10e9],
    ['1.5 TB/s', 'bandwidth', 1.5e12],
    ['400 Gb/s', 'bandwidth', 50e9],
    ['1 GiB/s', 'bandwidth', 2 ** 30],
    ['2 us', 'time', 2e-6],
    ['5 ms', 'time', 5e-3],
    ['80 GiB', 'bytes', 80 * 2 ** 30],
    ['141 GB', 'bytes', 141e9],
    ['312 TFLOP/s', 'flop-rate', 312e12],
    ['0', 'bandwidth', 0],
    ['0', 'time', 0],
    [' 0.0 ', 'bytes', 0],
  ] as const)('%s is %d base units', (text, kind, expected) => {
    expect(parseQuantity(text, kind, 'f')).toBeCloseTo(expected, 6);
  });

  test('a bare non-zero number needs a unit on the command line', () => {
    expect(() => parseQuantity('300', 'bandwidth', '--bandwidth')).toThrow(/--bandwidth: needs a unit, e.g. "300 GB\/s"/);
  });

  test('JSON numbers are base units', () => {
    expect(parseQuantity(3e11, 'bandwidth', 'f', { bareNumbers: true })).toBe(3e11);
    expect(parseQuantity('2e-6', 'time', 'f', { bareNumbers: true })).toBe(2e-6);
  });

  test.each([
    ['300 GB', 'bandwidth'],
    ['2 parsecs', 'time'],
    ['fast', 'bandwidth'],
    ['-5 GB/s', 'bandwidth'],
    ['', 'time'],
    ['1e999 GB/s', 'bandwidth'],
  ] as const)('%s is not a %s', (text, kind) => {
    const attempt = () => parseQuantity(text, kind, '--x');
    expect(attempt).toThrow(KvrInputError);
    expect(attempt).toThrow(/^--x: /);
  });

  test('non-strings and non-numbers are rejected with the field name', () => {
    expect(() => parseQuantity({}, 'time', 'gpu.launch_overhead')).toThrow(/^gpu.launch_overhead: expected a time/);
    expect(() => parseQuantity(NaN, 'time', 'x', { bareNumbers: true })).toThrow(/finite/);
  });
});

describe('formatQuantity', () => {
  test('uses decimal prefixes and readable time units', () => {
    expect(formatQuantity(3e11, 'bandwidth')).toBe('300 GB/s');
    expect(formatQuantity(1.0737e9, 'bytes')).toBe('1.074 GB');
    expect(formatQuantity(0.2059, 'time')).toBe('205.9 ms');
    expect(formatQuantity(2.5e-6, 'time')).toBe('2.5 us');
    expect(formatQuantity(1.5, 'time')).toBe('1.5 s');
  });
});
