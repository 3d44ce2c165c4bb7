import type { ModelSpec } from '../model/model-spec.js';
import { wholeMoeWork, type MoeWork } from '../model/moe.js';
import { COMPUTE_OP_NAMES, computeOpFlops, type ComputeOpName, type ComputeShape, type OpShard } from '../work/compute-op.js';
import { COLLECTIVE_PROTOCOLS, type CollectiveProtocol } from './collective-tuner.js';
import type { CollectiveOp, ComputeOp, PlanOp, TransferOp } from './plan.js';

export const OP_COMPUTE = 0;
export const OP_TRANSFER = 1;
export const OP_COLLECTIVE = 2;

/** Transfer names by code (the `name` column of a transfer). */
const TRANSFER_OP_NAMES = ['send', 'allgather', 'reducescatter'] as const;
/** Transfer payloads by code; 0 is K,V (no `payload` field). */
const PAYLOADS = [undefined, 'hidden', 'query', 'attn-out'] as const;
type Payload = NonNullable<TransferOp['payload']>;

const CAUSAL = 1;
const MERGE = 2;
const HAS_STEP = 4;

/** A name's code is its index in the list of names (a compute op's: COMPUTE_OP_NAMES). */
const COMPUTE_CODE = codes(COMPUTE_OP_NAMES);
const TRANSFER_CODE = codes(TRANSFER_OP_NAMES);
const PAYLOAD_CODE: Record<Payload, number> = { hidden: 1, query: 2, 'attn-out': 3 };

/**
 * A plan's ops as columns (struct of arrays): one slot per op in each typed array, dependencies as
 * one flat list with offsets, and the few fields most ops lack aside (MoE work and whole collectives
 * in maps by op id; shards, zig-zag range lists and protocol latencies in short lists the columns
 * index). Building a plan allocates no object per op, and an op takes about 90 bytes, against
 * about 200-370 held by op objects. Fields of one column mean different
 * things by kind: `rank` is a compute op's rank or a transfer's src; `tokens`/`prefix` a compute
 * op's c and P or a transfer's token_start/token_end; `amount` FLOPs or bytes.
 *
 * Op objects (PlanOp) are written out on request (`op`, `ops`), with the keys in the order the plan
 * JSON has always had; `fromOps` reads them back, so a plan from a file runs through the same code.
 */
export class OpTable {
  count = 0;
  /** Bumped by every change after an op was added (a reshape), so op snapshots know they are stale. */
  version = 0;
  kind = new Uint8Array(0);
  /** Compute: COMPUTE_OP_NAMES index; transfer: TRANSFER_OP_NAMES index; collective: 0. */
  name = new Uint8Array(0);
  flags = new Uint8Array(0);
  payload = new Uint8Array(0);
  /** 0: none, else 1 + COLLECTIVE_PROTOCOLS index. */
  protocol = new Uint8Array(0);
  /** Compute: rank; transfer: src; collective: its first member. */
  rank = new Int32Array(0);
  /** Transfer: dst; else -1. */
  dst = new Int32Array(0);
  /** Decoder layer; -1 for lm_head (layer null). */
  layer = new Int32Array(0);
  /** Transfer: ring step, valid where flags has HAS_STEP. */
  step = new Int32Array(0);
  /** Transfer heads and KV heads; -1: absent. */
  heads = new Int32Array(0);
  kvHeads = new Int32Array(0);
  /** Index into `shards`; -1: none. */
  shard = new Int32Array(0);
  /** Compute: tokens (c); transfer: token_start. */
  tokens = new Float64Array(0);
  /** Compute: prefix (P); transfer: token_end. */
  prefix = new Float64Array(0);
  /** Compute: keys (K). */
  keys = new Float64Array(0);
  /** Compute: FLOPs; transfer, collective: bytes. */
  amount = new Float64Array(0);
  /**
   * Transfer: index into `hopScales` and `baseSeconds` of its protocol_hop_scale and
   * protocol_base_s (NaN: absent); -1: neither (only collective steps under a protocol have them).
   */
  latency = new Int32Array(0);
  readonly hopScales: number[] = [];
  readonly baseSeconds: number[] = [];
  /** Deps of op i: deps[depOffset[i] .. depOffset[i + 1]). */
  depOffset = new Int32Array(1);
  deps = new Int32Array(0);
  /** Distinct tensor-parallel shards (a plan has a handful). */
  readonly shards: OpShard[] = [];
  readonly moe = new Map<number, MoeWork>();
  /** Index into `rangeLists` of a transfer's ranges; -1: none. */
  rangeList = new Int32Array(0);
  private readonly rangeLists: [number, number][][] = [];
  private readonly rangeIndex = new Map<[number, number][], number>();
  readonly collectives = new Map<number, CollectiveOp>();
  private readonly shardIndex = new Map<string, number>();
  private lastShard: OpShard | undefined;
  private lastShardIndex = -1;

  /** Columns with room for `capacity` ops (more are added by regrowing them). */
  constructor(capacity = 0) {
    if (capacity > 0) {
      this.resize(capacity);
      // Most ops wait for one to three others.
      this.deps = new Int32Array(2 * capacity);
    }
  }

  get capacity(): number {
    return this.kind.length;
  }

  /** Room for one more op (doubling the columns), and for `deps` more dependencies. */
  private reserve(deps: number): void {
    if (this.count === this.kind.length) this.resize(Math.max(1024, 2 * this.count));
    const used = this.depOffset[this.count]!;
    if (used + deps > this.deps.length) this.deps = resized(this.deps, Math.max(2048, 2 * (used + deps)));
  }

  /** Columns of `size` slots (more, or exactly the ops held), the ops' values kept. */
  private resize(size: number): void {
    this.kind = resized(this.kind, size);
    this.name = resized(this.name, size);
    this.flags = resized(this.flags, size);
    this.payload = resized(this.payload, size);
    this.protocol = resized(this.protocol, size);
    this.rank = resized(this.rank, size);
    this.dst = resized(this.dst, size);
    this.layer = resized(this.layer, size);
    this.step = resized(this.step, size);
    this.heads = resized(this.heads, size);
    this.kvHeads = resized(this.kvHeads, size);
    this.shard = resized(this.shard, size);
    this.rangeList = resized(this.rangeList, size);
    this.latency = resized(this.latency, size);
    this.tokens = resized(this.tokens, size);
    this.prefix = resized(this.prefix, size);
    this.keys = resized(this.keys, size);
    this.amount = resized(this.amount, size);
    this.depOffset = resized(this.depOffset, size + 1);
  }

  /** Gives back the room grown past the ops held (a built plan takes no more ops). */
  trim(): void {
    if (this.kind.length > this.count) this.resize(this.count);
    const used = this.depOffset[this.count]!;
    if (this.deps.length > used) this.deps = resized(this.deps, used);
  }

  /** Appends the deps of the op being added (id this.count) and closes its range. */
  private pushDeps(deps: readonly number[]): void {
    let at = this.depOffset[this.count]!;
    for (let k = 0; k < deps.length; k++) this.deps[at++] = deps[k]!;
    this.depOffset[this.count + 1] = at;
  }

  private begin(kind: number, name: number, deps: readonly number[]): number {
    this.reserve(deps.length);
    const i = this.count;
    this.kind[i] = kind;
    this.name[i] = name;
    this.flags[i] = 0;
    this.payload[i] = 0;
    this.protocol[i] = 0;
    this.dst[i] = -1;
    this.step[i] = 0;
    this.heads[i] = -1;
    this.kvHeads[i] = -1;
    this.shard[i] = -1;
    this.rangeList[i] = -1;
    this.keys[i] = 0;
    this.latency[i] = -1;
    this.pushDeps(deps);
    this.count = i + 1;
    return i;
  }

  addCompute(rank: number, name: ComputeOpName, layer: number | null, tokens: number, prefix: number, keys: number, causal: boolean, flops: number, deps: readonly number[], shard?: OpShard, merge?: boolean, moe?: MoeWork): number {
    const i = this.begin(OP_COMPUTE, COMPUTE_CODE[name], deps);
    this.rank[i] = rank;
    this.layer[i] = layer === null ? -1 : layer;
    this.tokens[i] = tokens;
    this.prefix[i] = prefix;
    this.keys[i] = keys;
    this.amount[i] = flops;
    this.flags[i] = (causal ? CAUSAL : 0) | (merge === true ? MERGE : 0);
    if (shard !== undefined) this.shard[i] = this.internShard(shard);
    if (moe !== undefined) this.moe.set(i, moe);
    return i;
  }

  addTransfer(name: TransferOp['name'], src: number, dst: number, layer: number, tokenStart: number, tokenEnd: number, bytes: number, deps: readonly number[]): number {
    const i = this.begin(OP_TRANSFER, TRANSFER_CODE[name], deps);
    this.rank[i] = src;
    this.dst[i] = dst;
    this.layer[i] = layer;
    this.tokens[i] = tokenStart;
    this.prefix[i] = tokenEnd;
    this.amount[i] = bytes;
    return i;
  }

  /** A transfer's ring step (a collective's). */
  setStep(i: number, step: number): void {
    this.step[i] = step;
    this.flags[i]! |= HAS_STEP;
  }

  /**
   * The token ranges a transfer carries when they are not one (ring-kv's zig-zag chunks); the
   * array is kept as given, and shared by the transfers given the same array.
   */
  setRanges(i: number, ranges: [number, number][]): void {
    let index = this.rangeIndex.get(ranges);
    if (index === undefined) {
      index = this.rangeLists.length;
      this.rangeLists.push(ranges);
      this.rangeIndex.set(ranges, index);
    }
    this.rangeList[i] = index;
  }

  /** What a transfer carries when not K,V of all KV heads: a payload, and the heads of a shard. */
  setPayload(i: number, payload: Payload | undefined, kvHeads: number | undefined, heads: number | undefined): void {
    if (payload !== undefined) this.payload[i] = PAYLOAD_CODE[payload];
    if (kvHeads !== undefined) this.kvHeads[i] = kvHeads;
    if (heads !== undefined) this.heads[i] = heads;
  }

  /** A collective step's NCCL protocol, and its latency's scale and extra base (each optional). */
  setProtocol(i: number, protocol: CollectiveProtocol, hopScale: number | undefined, baseSeconds: number | undefined): void {
    this.protocol[i] = 1 + COLLECTIVE_PROTOCOLS.indexOf(protocol);
    if (hopScale === undefined && baseSeconds === undefined) return;
    this.latency[i] = this.hopScales.length;
    this.hopScales.push(hopScale ?? NaN);
    this.baseSeconds.push(baseSeconds ?? NaN);
  }

  /** A transfer's protocol_hop_scale; undefined: absent. */
  hopScaleOf(i: number): number | undefined {
    const at = this.latency[i]!;
    return at < 0 || Number.isNaN(this.hopScales[at]!) ? undefined : this.hopScales[at]!;
  }

  /** A transfer's protocol_base_s; undefined: absent. */
  baseSecondsOf(i: number): number | undefined {
    const at = this.latency[i]!;
    return at < 0 || Number.isNaN(this.baseSeconds[at]!) ? undefined : this.baseSeconds[at]!;
  }

  /** A transfer's ranges (setRanges); undefined: one range, token_start to token_end. */
  rangesOf(i: number): [number, number][] | undefined {
    const index = this.rangeList[i]!;
    return index < 0 ? undefined : this.rangeLists[index];
  }

  /** A whole collective, kept as its object (a plan has a few per layer); `op.id` must be the next id. */
  addCollective(op: CollectiveOp): number {
    const i = this.begin(OP_COLLECTIVE, 0, op.deps);
    if (op.id !== i) throw new Error(`collective op ${op.id} added as op ${i}`);
    this.rank[i] = op.ranks[0] ?? -1;
    this.layer[i] = op.layer;
    this.amount[i] = op.bytes;
    this.collectives.set(i, op);
    return i;
  }

  /** Forgets every op (a builder reused for scratch collectives). */
  clear(): void {
    this.count = 0;
    this.depOffset[0] = 0;
    this.moe.clear();
    this.collectives.clear();
    this.hopScales.length = 0;
    this.baseSeconds.length = 0;
    this.shards.length = 0;
    this.shardIndex.clear();
    this.lastShard = undefined;
    this.lastShardIndex = -1;
    this.rangeLists.length = 0;
    this.rangeIndex.clear();
    this.version++;
  }

  /** The index of a shard equal to `shard`, kept in opShard's key order (sim/plan/tensor-shard.ts). */
  private internShard(shard: OpShard): number {
    const last = this.lastShard;
    if (last !== undefined && sameShard(last, shard)) return this.lastShardIndex;
    const key = `${shard.heads},${shard.kv_heads},${shard.ffn},${shard.expert_ffn},${shard.seq_tokens}`;
    let index = this.shardIndex.get(key);
    if (index === undefined) {
      index = this.shards.length;
      const kept: OpShard = { heads: shard.heads, kv_heads: shard.kv_heads, ffn: shard.ffn };
      if (shard.expert_ffn !== undefined) kept.expert_ffn = shard.expert_ffn;
      if (shard.seq_tokens !== undefined) kept.seq_tokens = shard.seq_tokens;
      this.shards.push(kept);
      this.shardIndex.set(key, index);
    }
    this.lastShard = this.shards[index];
    this.lastShardIndex = index;
    return index;
  }

  isCausal(i: number): boolean {
    return (this.flags[i]! & CAUSAL) !== 0;
  }

  isMerge(i: number): boolean {
    return (this.flags[i]! & MERGE) !== 0;
  }

  computeName(i: number): ComputeOpName {
    return COMPUTE_OP_NAMES[this.name[i]!]!;
  }

  transferName(i: number): TransferOp['name'] {
    return TRANSFER_OP_NAMES[this.name[i]!]!;
  }

  /** The layer of op i as the plan has it: null for lm_head. */
  layerOf(i: number): number | null {
    const layer = this.layer[i]!;
    return layer < 0 ? null : layer;
  }

  shardOf(i: number): OpShard | undefined {
    const s = this.shard[i]!;
    return s < 0 ? undefined : this.shards[s];
  }

  /** A transfer's NCCL protocol; undefined: none. */
  protocolOf(i: number): CollectiveProtocol | undefined {
    const code = this.protocol[i]!;
    return code === 0 ? undefined : COLLECTIVE_PROTOCOLS[code - 1];
  }

  collective(i: number): CollectiveOp {
    const op = this.collectives.get(i);
    if (op === undefined) throw new Error(`plan op ${i} is not a collective`);
    return op;
  }

  /** Rewrites a compute op's shape (a partition search reshaping a plan). */
  reshapeCompute(i: number, tokens: number, prefix: number, keys: number, flops: number, moe?: MoeWork): void {
    this.tokens[i] = tokens;
    this.prefix[i] = prefix;
    this.keys[i] = keys;
    this.amount[i] = flops;
    if (moe !== undefined) this.moe.set(i, moe);
    this.version++;
  }

  /** Rewrites a transfer's token range and bytes. */
  reshapeTransfer(i: number, tokenStart: number, tokenEnd: number, bytes: number): void {
    this.tokens[i] = tokenStart;
    this.prefix[i] = tokenEnd;
    this.amount[i] = bytes;
    this.version++;
  }

  /** Marks a change made through a collective's object (its blocks and bytes). */
  touched(i: number): void {
    if (this.kind[i] === OP_COLLECTIVE) this.amount[i] = this.collective(i).bytes;
    this.version++;
  }

  /** Op i as the plan's object (keys in the plan JSON's order). */
  op(i: number): PlanOp {
    const deps = Array.from(this.deps.subarray(this.depOffset[i]!, this.depOffset[i + 1]!));
    const kind = this.kind[i]!;
    if (kind === OP_COLLECTIVE) {
      const c = this.collective(i);
      return { ...c, ranks: [...c.ranks], blocks: c.blocks.map(([a, b]) => [a, b]), deps };
    }
    if (kind === OP_COMPUTE) {
      const op: ComputeOp = {
        id: i,
        kind: 'compute',
        name: this.computeName(i),
        rank: this.rank[i]!,
        layer: this.layerOf(i),
        tokens: this.tokens[i]!,
        prefix: this.prefix[i]!,
        keys: this.keys[i]!,
        causal: this.isCausal(i),
        flops: this.amount[i]!,
        deps,
      };
      const shard = this.shardOf(i);
      if (shard !== undefined) op.shard = { ...shard };
      if (this.isMerge(i)) op.merge = true;
      const moe = this.moe.get(i);
      if (moe !== undefined) op.moe = { ...moe };
      return op;
    }
    const op: TransferOp = {
      id: i,
      kind: 'transfer',
      name: this.transferName(i),
      src: this.rank[i]!,
      dst: this.dst[i]!,
      layer: this.layer[i]!,
      token_start: this.tokens[i]!,
      token_end: this.prefix[i]!,
      bytes: this.amount[i]!,
      deps,
    };
    if ((this.flags[i]! & HAS_STEP) !== 0) op.step = this.step[i]!;
    const ranges = this.rangesOf(i);
    if (ranges !== undefined) op.ranges = ranges;
    const payload = PAYLOADS[this.payload[i]!];
    if (payload !== undefined) op.payload = payload;
    if (this.kvHeads[i]! >= 0) op.kv_heads = this.kvHeads[i]!;
    if (this.heads[i]! >= 0) op.heads = this.heads[i]!;
    const protocol = this.protocolOf(i);
    if (protocol !== undefined) op.protocol = protocol;
    const hopScale = this.hopScaleOf(i);
    if (hopScale !== undefined) op.protocol_hop_scale = hopScale;
    const baseSeconds = this.baseSecondsOf(i);
    if (baseSeconds !== undefined) op.protocol_base_s = baseSeconds;
    return op;
  }

  /** Every op as an object, in id order. */
  ops(): PlanOp[] {
    const ops: PlanOp[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) ops[i] = this.op(i);
    return ops;
  }

  /** Columns of plan op objects (a plan read from a file, or written out by hand). */
  static fromOps(ops: readonly PlanOp[]): OpTable {
    const table = new OpTable();
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.id !== i) throw new Error(`plan op ${i} has id ${op.id}`);
      if (op.kind === 'compute') {
        table.addCompute(op.rank, op.name, op.layer, op.tokens, op.prefix, op.keys, op.causal, op.flops, op.deps, op.shard, op.merge, op.moe);
      } else if (op.kind === 'transfer') {
        const id = table.addTransfer(op.name, op.src, op.dst, op.layer, op.token_start, op.token_end, op.bytes, op.deps);
        if (op.step !== undefined) table.setStep(id, op.step);
        if (op.ranges !== undefined) table.setRanges(id, op.ranges);
        table.setPayload(id, op.payload, op.kv_heads, op.heads);
        if (op.protocol !== undefined) table.setProtocol(id, op.protocol, op.protocol_hop_scale, op.protocol_base_s);
      } else {
        table.addCollective(op);
      }
    }
    return table;
  }

  /** Bytes the columns and lists hold (capacity, not just count): the memory guard's per-op cost. */
  bytes(): number {
    const columns = [this.kind, this.name, this.flags, this.payload, this.protocol, this.rank, this.dst, this.layer, this.step, this.heads, this.kvHeads, this.shard, this.rangeList, this.tokens, this.prefix, this.keys, this.amount, this.latency, this.depOffset, this.deps];
    return columns.reduce((sum, column) => sum + column.byteLength, 0) + 16 * this.hopScales.length;
  }
}

/** Compute op i's shape (what costing it reads), as its op object has it. */
export function computeShape(table: OpTable, i: number): ComputeShape {
  const shape: ComputeShape = { name: table.computeName(i), tokens: table.tokens[i]!, prefix: table.prefix[i]!, keys: table.keys[i]!, causal: table.isCausal(i) };
  const shard = table.shardOf(i);
  if (shard !== undefined) shape.shard = shard;
  if (table.isMerge(i)) shape.merge = true;
  const moe = table.moe.get(i);
  if (moe !== undefined) shape.moe = moe;
  return shape;
}

/** A compute shape filled in place, so that costing every op of a big plan allocates nothing. */
export interface ShapeScratch {
  name: ComputeOpName;
  tokens: number;
  prefix: number;
  keys: number;
  causal: boolean;
  shard: OpShard | undefined;
  merge: boolean | undefined;
  moe: MoeWork | undefined;
}

export function shapeScratch(): ShapeScratch {
  return { name: 'qkv', tokens: 0, prefix: 0, keys: 0, causal: true, shard: undefined, merge: undefined, moe: undefined };
}

/** FLOPs of a compute op of this shape (computeOpFlops), costed on `scratch`. */
export function scratchFlops(
  scratch: ShapeScratch,
  model: ModelSpec,
  name: ComputeOpName,
  tokens: number,
  prefix: number,
  keys: number,
  causal: boolean,
  shard: OpShard | undefined,
  merge: boolean | undefined,
  moe: MoeWork | undefined,
): number {
  scratch.name = name;
  scratch.tokens = tokens;
  scratch.prefix = prefix;
  scratch.keys = keys;
  scratch.causal = causal;
  scratch.shard = shard;
  scratch.merge = merge;
  scratch.moe = moe;
  return computeOpFlops(model, scratch);
}

/**
 * Rewrites compute op i for a chunk of `tokens` after `prefix` (keys = prefix + tokens, as the
 * causal strategies have them): its FLOPs, and its MoE work if it has any.
 */
export function reshapeComputeOp(table: OpTable, i: number, model: ModelSpec, tokens: number, prefix: number, scratch: ShapeScratch): void {
  const moe = table.moe.has(i) ? wholeMoeWork(model, tokens) : undefined;
  const keys = prefix + tokens;
  const flops = scratchFlops(scratch, model, table.computeName(i), tokens, prefix, keys, table.isCausal(i), table.shardOf(i), table.isMerge(i) ? true : undefined, moe);
  table.reshapeCompute(i, tokens, prefix, keys, flops, moe);
}

function sameShard(a: OpShard, b: OpShard): boolean {
  return a.heads === b.heads && a.kv_heads === b.kv_heads && a.ffn === b.ffn && a.expert_ffn === b.expert_ffn && a.seq_tokens === b.seq_tokens;
}

function codes<N extends string>(names: readonly N[]): Record<N, number> {
  return Object.fromEntries(names.map((name, code) => [name, code])) as Record<N, number>;
}

type Column = Uint8Array | Int32Array | Float64Array;

/** A column of `size` slots holding the old one's first values. */
function resized<T extends Column>(column: T, size: number): T {
  const copy = new (column.constructor as new (n: number) => T)(size);
  copy.set(column.length > size ? column.subarray(0, size) : column);
  return copy;
}
