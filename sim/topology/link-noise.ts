import type { LinkNoise } from './topology.js';

/**
 * The capacity fraction of a noisy link direction during its k-th period: uniform in
 * [min_fraction, 1], drawn from a counter-based hash of (seed, resource, k), so runs are
 * reproducible and no global randomness is used.
 */
export function noiseFraction(noise: LinkNoise, resource: number, period: number): number {
  const u = hash32(noise.seed, resource, period) / 4294967296;
  return noise.min_fraction + (1 - noise.min_fraction) * u;
}

/** A 32-bit mix of three integers (murmur3-style finaliser rounds). */
function hash32(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ c, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
