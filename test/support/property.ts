import fc from 'fast-check';

/**
 * Seeded fast-check runs: the seed comes from FC_SEED when set (to replay a failure) or a fixed
 * default, and is printed so any failing property can be replayed exactly.
 */
export const PROPERTY_SEED = Number(process.env.FC_SEED ?? 20261126);

let announced = false;

export function propertyOptions(numRuns: number): fc.Parameters<unknown> {
  if (!announced) {
    console.log(`fast-check seed ${PROPERTY_SEED} (replay with FC_SEED=${PROPERTY_SEED})`);
    announced = true;
  }
  return { seed: PROPERTY_SEED, numRuns };
}
