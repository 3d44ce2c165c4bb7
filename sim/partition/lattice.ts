import { KvrInputError } from '../errors.js';

/**
 * The search lattice of context partitions: p-1 boundaries b_1 < ... < b_{p-1}, each a multiple
 * of the token granularity g, with b_{p-1} < C, so every chunk but the last is a multiple of g and
 * the last rank takes the remainder. Chunk i is b_{i+1} - b_i with b_0 = 0 and b_p = C.
 */
export interface Lattice {
  context: number;
  gpus: number;
  granularity: number;
  /** Largest boundary index: boundaries are k * g for k in 1..maxIndex. */
  maxIndex: number;
}

export const DEFAULT_GRANULARITY = 64;

export function makeLattice(context: number, gpus: number, granularity: number): Lattice {
  if (!Number.isInteger(granularity) || granularity < 1) {
    throw new KvrInputError('granularity', `expected an integer >= 1 (got ${granularity})`);
  }
  const maxIndex = Math.floor((context - 1) / granularity);
  if (maxIndex < gpus - 1) {
    throw new KvrInputError(
      'granularity',
      `${granularity} tokens is too coarse for ${context} tokens on ${gpus} GPUs: needs context >= ${(gpus - 1) * granularity + 1}`,
    );
  }
  return { context, gpus, granularity, maxIndex };
}

/** Boundary indices (units of g) -> chunk sizes. */
export function partitionFromIndices(lattice: Lattice, indices: readonly number[]): number[] {
  const chunks: number[] = [];
  let previous = 0;
  for (const index of indices) {
    const boundary = index * lattice.granularity;
    chunks.push(boundary - previous);
    previous = boundary;
  }
  chunks.push(lattice.context - previous);
  return chunks;
}

/** Whether boundary indices are strictly increasing within 1..maxIndex. */
export function validIndices(lattice: Lattice, indices: readonly number[]): boolean {
  let previous = 0;
  for (const index of indices) {
    if (index <= previous || index > lattice.maxIndex) return false;
    previous = index;
  }
  return true;
}

/** Nearest lattice boundaries to arbitrary chunk sizes, kept strictly increasing and in range. */
export function snapToLattice(lattice: Lattice, chunks: readonly number[]): number[] {
  const indices: number[] = [];
  let boundary = 0;
  for (let i = 0; i + 1 < chunks.length; i++) {
    boundary += chunks[i]!;
    const lowest = (indices[i - 1] ?? 0) + 1;
    const highest = lattice.maxIndex - (chunks.length - 2 - i);
    indices.push(Math.min(highest, Math.max(lowest, Math.round(boundary / lattice.granularity))));
  }
  return indices;
}
