import { KvrInputError, describeValue } from '../errors.js';

/** Even split: the first C mod p ranks get one extra token (DESIGN §2). */
export function evenPartition(context: number, gpus: number): number[] {
  const base = Math.floor(context / gpus);
  const extra = context % gpus;
  return Array.from({ length: gpus }, (_, rank) => base + (rank < extra ? 1 : 0));
}

/** P_i = c_0 + ... + c_{i-1}. */
export function prefixes(partition: readonly number[]): number[] {
  const result: number[] = [];
  let sum = 0;
  for (const chunk of partition) {
    result.push(sum);
    sum += chunk;
  }
  return result;
}

/** A partition must give every rank a positive whole number of tokens and sum to the context. */
export function checkPartition(partition: readonly number[], context: number, gpus: number, field = 'partition', unit = 'GPU'): void {
  if (partition.length !== gpus) {
    throw new KvrInputError(field, `needs one chunk per ${unit}: ${gpus} values (got ${partition.length})`);
  }
  partition.forEach((chunk, i) => {
    if (!Number.isSafeInteger(chunk) || chunk < 1) {
      throw new KvrInputError(field, `chunk ${i} must be a positive integer (got ${describeValue(chunk)})`);
    }
  });
  const sum = partition.reduce((a, b) => a + b, 0);
  if (sum !== context) {
    throw new KvrInputError(field, `chunks must sum to the context ${context} (they sum to ${sum})`);
  }
}
