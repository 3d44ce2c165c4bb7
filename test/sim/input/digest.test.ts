import { describe, expect, test } from 'vitest';
import { canonicalJson, digest, fnv1a64 } from '../../../sim/input/digest.js';

describe('digest: 64-bit FNV-1a of canonical JSON', () => {
  test('the published FNV-1a 64 test vectors', () => {
    expect(fnv1a64('')).toBe('cbf29ce484222325');
    expect(fnv1a64('a')).toBe('af63dc4c8601ec8c');
    expect(fnv1a64('foobar')).toBe('85944171f73967e8');
    expect(digest('a')).toBe(fnv1a64('"a"'));
    expect(digest(undefined)).toBe(fnv1a64('null'));
  });

  test('key order does not matter; values and nesting do', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 2], c: null } })).toBe('{"a":{"c":null,"d":[1,2]},"b":1}');
    expect(digest({ b: 1, a: 2 })).toBe(digest({ a: 2, b: 1 }));
    expect(digest({ a: 1, b: 2 })).not.toBe(digest({ a: 2, b: 1 }));
    expect(digest({ a: 1, b: undefined })).toBe(digest({ a: 1 }));
    expect(digest({ a: 1 })).toMatch(/^[0-9a-f]{16}$/);
  });
});
