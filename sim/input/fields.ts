import { KvrInputError, describeValue } from '../errors.js';

/**
 * Readers for plain JSON-like objects (model, GPU and topology files). Every failure names the
 * full field path and what is allowed; unknown keys are errors, so a typo never becomes a silent
 * default.
 */
export type JsonObject = Record<string, unknown>;

export function expectObject(value: unknown, field: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KvrInputError(field, `expected an object (got ${describeValue(value)})`);
  }
  return value as JsonObject;
}

export function expectArray(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) {
    throw new KvrInputError(field, `expected an array (got ${describeValue(value)})`);
  }
  return value;
}

export function rejectUnknownKeys(object: JsonObject, allowed: readonly string[], field: string): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) {
      throw new KvrInputError(`${field}.${key}`, `unknown field (allowed: ${allowed.join(', ')})`);
    }
  }
}

export function requireKey(object: JsonObject, key: string, field: string): unknown {
  if (!(key in object) || object[key] === undefined) {
    throw new KvrInputError(`${field}.${key}`, 'is required');
  }
  return object[key];
}

export interface IntegerBounds {
  min?: number;
  max?: number;
}

export function checkInteger(value: unknown, field: string, bounds: IntegerBounds = {}): number {
  const min = bounds.min ?? Number.MIN_SAFE_INTEGER;
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  const range = bounds.max === undefined ? `>= ${min}` : `in ${min}..${max}`;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new KvrInputError(field, `expected an integer ${range} (got ${describeValue(value)})`);
  }
  return value;
}

export function checkString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new KvrInputError(field, `expected a non-empty string (got ${describeValue(value)})`);
  }
  return value;
}

export function checkBoolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') {
    throw new KvrInputError(field, `expected true or false (got ${describeValue(value)})`);
  }
  return value;
}

export function checkEnum<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new KvrInputError(field, `expected one of ${allowed.join(', ')} (got ${describeValue(value)})`);
  }
  return value as T;
}

/** A real number in (0, 1], such as an efficiency. */
export function checkFraction(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 1) {
    throw new KvrInputError(field, `expected a number in (0, 1] (got ${describeValue(value)})`);
  }
  return value;
}

/** Parses a command-line integer strictly ("08", "1e3", "2.0" and "" are rejected). */
export function parseIntegerText(text: string, field: string, bounds: IntegerBounds = {}): number {
  if (!/^[+-]?\d+$/.test(text.trim())) {
    const range = bounds.max === undefined ? `>= ${bounds.min ?? 0}` : `in ${bounds.min ?? 0}..${bounds.max}`;
    throw new KvrInputError(field, `expected an integer ${range} (got ${describeValue(text)})`);
  }
  return checkInteger(Number(text.trim()), field, bounds);
}
