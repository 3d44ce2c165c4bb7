import { randomInt } from 'node:crypto';
import fc from 'fast-check';

/** The seed local runs use when FC_SEED is not set, so a run can be repeated exactly. */
export const DEFAULT_PROPERTY_SEED = 20261126;

/**
 * The fast-check seed for this run:
 * - FC_SEED, when set (to replay a failure): an integer in [-2^31, 2^31), anything else is refused;
 * - else, under CI (CI set and not "false" or "0"): a fresh random seed, so every CI run explores
 *   new cases;
 * - else the fixed DEFAULT_PROPERTY_SEED, so local runs repeat.
 * An empty FC_SEED counts as unset. The seed is printed (see propertyOptions), and fast-check's
 * failure message repeats it with the failing path, so any failure can be replayed with FC_SEED.
 */
export function propertySeed(env: Record<string, string | undefined>): number {
  const given = env.FC_SEED?.trim();
  if (given !== undefined && given !== '') {
    const seed = /^[+-]?\d+$/.test(given) ? Number(given) : NaN;
    if (!Number.isSafeInteger(seed) || seed < -(2 ** 31) || seed >= 2 ** 31) {
      throw new Error(`FC_SEED must be an integer in [-2147483648, 2147483647] (a seed printed by an earlier run), got ${JSON.stringify(env.FC_SEED)}`);
    }
    return seed;
  }
  const ci = env.CI?.trim().toLowerCase();
  if (ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0') return randomInt(-(2 ** 31), 2 ** 31);
  return DEFAULT_PROPERTY_SEED;
}

export const PROPERTY_SEED = propertySeed(process.env);

let announced = false;

export function propertyOptions(numRuns: number): fc.Parameters<unknown> {
  if (!announced) {
    console.log(`fast-check seed ${PROPERTY_SEED} (replay with FC_SEED=${PROPERTY_SEED})`);
    announced = true;
  }
  return { seed: PROPERTY_SEED, numRuns };
}
