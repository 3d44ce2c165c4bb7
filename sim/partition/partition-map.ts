/**
 * A partition's key: two independent 53-bit hashes of its chunks (106 bits: a search of a million
 * partitions mistakes two of them with odds of about 1e-20). Computed once per partition and
 * used with every map that asks about it.
 */
export interface PartitionKey {
  readonly a: number;
  readonly b: number;
}

/**
 * Values by partition key. A partition search asks about hundreds of thousands of partitions of
 * up to a thousand chunks: a string key per partition (its chunks joined) cost a fifth of a
 * 1024-GPU search's time and, kept for every partition asked about, about a gigabyte. It keeps no
 * partition, so it cannot list them.
 */
export class PartitionMap<V> {
  private readonly byHash = new Map<number, Map<number, { value: V }>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: PartitionKey): V | undefined {
    return this.byHash.get(key.a)?.get(key.b)?.value;
  }

  set(key: PartitionKey, value: V): void {
    let inner = this.byHash.get(key.a);
    if (inner === undefined) {
      inner = new Map();
      this.byHash.set(key.a, inner);
    }
    const entry = inner.get(key.b);
    if (entry !== undefined) {
      entry.value = value;
      return;
    }
    inner.set(key.b, { value });
    this.count += 1;
  }

  delete(key: PartitionKey): void {
    const inner = this.byHash.get(key.a);
    if (inner === undefined || !inner.delete(key.b)) return;
    if (inner.size === 0) this.byHash.delete(key.a);
    this.count -= 1;
  }
}

/** The partition's key: two FNV-1a-style hashes with other primes and seeds, each folded to 53 bits from two 32-bit lanes. */
export function partitionKey(partition: readonly number[]): PartitionKey {
  const n = partition.length;
  let a1 = 0x811c9dc5 ^ n;
  let a2 = 0x27d4eb2f;
  let b1 = 0x9747b28c;
  let b2 = 0x165667b1 ^ n;
  for (let i = 0; i < n; i++) {
    // Chunks are whole tokens; the high word folds in chunks past 2^32.
    const c = partition[i]!;
    const high = Math.floor(c / 2 ** 32);
    a1 = Math.imul(a1 ^ c ^ high, 0x01000193);
    a2 = Math.imul(a2 ^ (c + i), 0x85ebca6b);
    a2 ^= a2 >>> 13;
    b1 = Math.imul(b1 ^ (c * 31 + high), 0x5bd1e995);
    b1 ^= b1 >>> 15;
    b2 = Math.imul(b2 ^ c ^ (i << 16), 0xc2b2ae35);
    b2 ^= b2 >>> 16;
  }
  return { a: (a1 >>> 0) * 2 ** 21 + (a2 >>> 11), b: (b1 >>> 0) * 2 ** 21 + (b2 >>> 11) };
}
