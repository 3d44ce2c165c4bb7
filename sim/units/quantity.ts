import { createRequire } from 'node:module';
import type mathjs from 'mathjs/lib/browser/math.js';
import { KvrInputError, describeValue } from '../errors.js';
import { parsePlainQuantity } from './plain-quantity.js';

/**
 * Physical quantities the simulator reads. Strings carry units and are parsed by mathjs
 * ("300 GB/s", "2 us", "80 GiB", "312 TFLOP/s"); GB/s means 1e9 bytes/s as NCCL prints it and
 * GiB/s means 2^30 bytes/s. A bare number is taken in base units (bytes, seconds, bytes/s,
 * FLOP/s) only where it comes from a JSON file; on the command line only a bare 0 is accepted,
 * since "300" alone is ambiguous.
 */
export type QuantityKind = 'bandwidth' | 'time' | 'bytes' | 'flop-rate';

const BASE_UNIT: Record<QuantityKind, string> = {
  bandwidth: 'B/s',
  time: 's',
  bytes: 'B',
  'flop-rate': 'FLOP/s',
};

const EXAMPLE: Record<QuantityKind, string> = {
  bandwidth: '"300 GB/s"',
  time: '"2 us"',
  bytes: '"80 GiB"',
  'flop-rate': '"312 TFLOP/s"',
};

type UnitMath = ReturnType<typeof mathjs.create>;
let unitMath: UnitMath | undefined;

/**
 * A mathjs instance with only units, plus FLOP so that "312 TFLOP/s" parses. mathjs is loaded on
 * the first string that is not plain (see plain-quantity.ts), synchronously through require (its
 * bundle is CommonJS), so commands whose quantities are all plain never pay its ~0.2 s load.
 */
function units(): UnitMath {
  if (unitMath === undefined) {
    const math = createRequire(import.meta.url)('mathjs/lib/browser/math.js') as typeof mathjs;
    unitMath = math.create({
      unitDependencies: math.unitDependencies!,
      createUnitDependencies: math.createUnitDependencies!,
    });
    unitMath.createUnit('FLOP', { prefixes: 'short' });
  }
  return unitMath;
}

const BARE_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

export interface QuantityOptions {
  /** Accept bare numbers (in base units) — true for JSON files, false for command-line strings. */
  bareNumbers?: boolean;
}

/** Parses a non-negative, finite quantity; the caller adds stricter bounds (e.g. > 0). */
export function parseQuantity(
  value: unknown,
  kind: QuantityKind,
  field: string,
  options: QuantityOptions = {},
): number {
  const allowed = `a ${kind} such as ${EXAMPLE[kind]}`;
  if (typeof value === 'number') {
    if (!options.bareNumbers && value !== 0) {
      throw new KvrInputError(field, `needs a unit, e.g. ${EXAMPLE[kind]} (got ${describeValue(value)})`);
    }
    return checkFinite(value, field, allowed);
  }
  if (typeof value !== 'string') {
    throw new KvrInputError(field, `expected ${allowed} (got ${describeValue(value)})`);
  }
  const text = value.trim();
  if (BARE_NUMBER.test(text)) {
    const bare = Number(text);
    if (bare !== 0 && !options.bareNumbers) {
      throw new KvrInputError(field, `needs a unit, e.g. ${EXAMPLE[kind]} (got ${describeValue(value)})`);
    }
    return checkFinite(bare, field, allowed);
  }
  const plain = parsePlainQuantity(text, kind);
  if (plain !== undefined) return checkFinite(plain, field, allowed);
  let parsed: number;
  try {
    parsed = parseWithMathjs(text, kind);
  } catch {
    throw new KvrInputError(field, `expected ${allowed} (got ${describeValue(value)})`);
  }
  return checkFinite(parsed, field, allowed);
}

/** The value of a unit string in the kind's base unit, by mathjs; throws if it is not of that kind. */
export function parseWithMathjs(text: string, kind: QuantityKind): number {
  const unit = units().unit(text);
  if (!unit.equalBase(units().unit(`1 ${BASE_UNIT[kind]}`))) {
    throw new Error('wrong dimension');
  }
  return unit.toNumber(BASE_UNIT[kind]);
}

function checkFinite(value: number, field: string, allowed: string): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new KvrInputError(field, `expected ${allowed}, finite and >= 0 (got ${describeValue(value)})`);
  }
  return value;
}

/** Formats a base-unit value for tables: 3.2e11 B/s -> "320 GB/s". Decimal prefixes throughout. */
export function formatQuantity(value: number, kind: QuantityKind): string {
  const unit = BASE_UNIT[kind];
  if (kind === 'time') {
    if (value === 0) return '0 s';
    if (value >= 1) return `${trim(value)} s`;
    if (value >= 1e-3) return `${trim(value * 1e3)} ms`;
    if (value >= 1e-6) return `${trim(value * 1e6)} us`;
    return `${trim(value * 1e9)} ns`;
  }
  const prefixes = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
  let scaled = value;
  let index = 0;
  while (Math.abs(scaled) >= 1000 && index < prefixes.length - 1) {
    scaled /= 1000;
    index += 1;
  }
  return `${trim(scaled)} ${prefixes[index]}${unit}`;
}

function trim(value: number): string {
  return Number(value.toPrecision(4)).toString();
}
