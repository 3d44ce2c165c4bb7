import type { QuantityKind } from './quantity.js';

/**
 * The common quantity strings ("300 GB/s", "2 us", "80 GiB", "312 TFLOP/s": a plain number, a
 * prefix and the kind's base unit) converted without mathjs, so that a command whose inputs are all
 * plain never loads it (loading and building the mathjs unit instance costs ~0.2 s of start-up).
 * The arithmetic is mathjs's own, step by step (Unit._normalize, then _denormalize into the base
 * unit: value * (unit * prefix), then / unit), with its unit and prefix values (mathjs
 * lib/esm/type/unit/Unit.js: a byte is 8 bits; prefixes 1e3..1e15, 1e-3..1e-9, 2^10..2^50), so the
 * result is the same double; test/sim/units/plain-quantity.test.ts checks that against mathjs.
 * Anything else (other units, signs, spaces inside the unit) returns undefined and goes to mathjs.
 */
const DECIMAL_UP: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };
const DECIMAL_DOWN: Record<string, number> = { '': 1, m: 1e-3, u: 1e-6, n: 1e-9 };
const BINARY: Record<string, number> = { Ki: 1024, Mi: 1048576, Gi: 1073741824, Ti: 1099511627776, Pi: 1125899906842624 };

/** For each kind: unit text -> [prefix value, value of the unit in mathjs's base (bit, s, FLOP)]. */
const PLAIN_UNITS: Record<QuantityKind, Map<string, readonly [number, number]>> = {
  bandwidth: unitTable({ ...DECIMAL_UP, ...BINARY }, 'B/s', 8),
  bytes: unitTable({ ...DECIMAL_UP, ...BINARY }, 'B', 8),
  time: unitTable(DECIMAL_DOWN, 's', 1),
  'flop-rate': unitTable(DECIMAL_UP, 'FLOP/s', 1),
};

function unitTable(prefixes: Record<string, number>, unit: string, unitValue: number): Map<string, readonly [number, number]> {
  return new Map(Object.entries(prefixes).map(([prefix, value]) => [`${prefix}${unit}`, [value, unitValue] as const]));
}

/** mathjs's number syntax (digits, optional fraction, optional exponent), unsigned, then the unit. */
const PLAIN = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*([A-Za-z/]+)$/;

/** The value in base units of a plain quantity string (already trimmed), or undefined if not plain. */
export function parsePlainQuantity(text: string, kind: QuantityKind): number | undefined {
  const match = PLAIN.exec(text);
  if (match === null) return undefined;
  const unit = PLAIN_UNITS[kind].get(match[3]!);
  if (unit === undefined) return undefined;
  const [prefixValue, unitValue] = unit;
  const value = parseFloat(match[1]! + (match[2] ?? ''));
  const result = (value * (unitValue * prefixValue)) / unitValue;
  return Number.isFinite(result) ? result : undefined;
}
