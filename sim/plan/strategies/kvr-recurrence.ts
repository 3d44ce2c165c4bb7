import { dedicatedChannels, transferEvents } from '../../engine/layer-recurrence.js';
import { sumPriced, type ComputePricer, type PricedShape } from '../../hardware/compute-pricer.js';
import { kvBytesPerToken } from '../../model/model-size.js';
import type { ModelSpec } from '../../model/model-spec.js';
import type { Router } from '../../topology/routing.js';
import type { OpShard } from '../../work/compute-op.js';
import { prefixes } from '../partition.js';
import type { Plan } from '../plan.js';
import { PlanBuilder } from '../plan-builder.js';
import type { PlanRecurrence, RecurrenceTotals } from '../plan-recurrence.js';

/** The KV-Runahead strategies a recurrence runs: kvrPlan's, but for the one-rank `single`. */
export type KvrRecurrenceStrategy = 'kvr' | 'kvr-e' | 'kvr-s' | 'kvr-p';

/** The chain's hops (rank i to rank i+1): each one's route latency and narrowest capacity. */
export interface KvrHops {
  latency: Float64Array;
  narrowest: Float64Array;
}

/**
 * The hops of a chain of `p` ranks, or undefined when two of them share a link or the topology has
 * background traffic or noise (the engine would then share bandwidth, and no recurrence holds).
 */
export function kvrHops(router: Router, p: number): KvrHops | undefined {
  return dedicatedChannels(router, Array.from({ length: Math.max(0, p - 1) }, (_, i) => [i, i + 1] as const));
}

/**
 * A rank's four ops of a layer (qkv, attn, o, mlp) priced once per chunk and prefix: a partition
 * search's candidates share most ranks' chunks and prefixes with the partitions before them.
 * `shard`: the rank's tensor-parallel shard (kvr-tp), if any.
 */
export class KvrStagePricer {
  /** By chunk x 2^26 + prefix (exact below 2^26 tokens each). */
  private readonly stages = new Map<number, readonly PricedShape[]>();

  constructor(
    readonly pricer: ComputePricer,
    private readonly shard?: OpShard,
  ) {}

  stage(c: number, P: number): readonly PricedShape[] {
    const key = c < 2 ** 26 && P < 2 ** 26 ? c * 2 ** 26 + P : undefined;
    let stage = key === undefined ? undefined : this.stages.get(key);
    if (stage === undefined) {
      const shape = { tokens: c, prefix: P, keys: P + c, causal: true, ...(this.shard === undefined ? {} : { shard: this.shard }) };
      stage = (['qkv', 'attn', 'o', 'mlp'] as const).map((name) => this.pricer.price({ name, ...shape }));
      if (key !== undefined) this.stages.set(key, stage);
    }
    return stage;
  }
}

/**
 * KV-Runahead (kvrPlan) as a layer recurrence (sim/engine/layer-recurrence.ts) over the chain's
 * dedicated hops (kvrHops): its ops in plan order, timed as the engine's static schedule times
 * them, without building them.
 *
 * Per layer, rank by rank as kvrPlan lists them: qkv after the rank's previous mlp; the send of
 * K,V of tokens [0, P_i + c_i) to rank i+1 once qkv and the receive from rank i-1 are done and the
 * hop is free; attn once qkv and the receive are done; o; mlp. The last rank then runs lm_head.
 * State between layers: each rank's stream and each hop's free time. A partition search runs one
 * per partition it simulates (TtftEvaluator), so building one costs a few arrays of p, and the
 * plan header is built only when read.
 */
export function kvrRecurrence(
  model: ModelSpec,
  partition: readonly number[],
  strategy: KvrRecurrenceStrategy,
  hops: KvrHops,
  stages: KvrStagePricer,
): PlanRecurrence {
  const p = partition.length;
  const { latency, narrowest } = hops;
  const prefix = prefixes(partition);
  const kvBytes = kvBytesPerToken(model);
  const ops: (readonly PricedShape[])[] = new Array(p);
  const seconds = { qkv: new Float64Array(p), attn: new Float64Array(p), o: new Float64Array(p), mlp: new Float64Array(p) };
  // Hop i's bytes (K,V of every token up to rank i's last), and their drain at its narrowest link.
  const bytes = new Float64Array(Math.max(0, p - 1));
  const drain = new Float64Array(Math.max(0, p - 1));
  let eventsPerLayer = 4 * p;
  for (let i = 0; i < p; i++) {
    const c = partition[i]!;
    const P = prefix[i]!;
    const rank = stages.stage(c, P);
    ops[i] = rank;
    seconds.qkv[i] = rank[0]!.seconds;
    seconds.attn[i] = rank[1]!.seconds;
    seconds.o[i] = rank[2]!.seconds;
    seconds.mlp[i] = rank[3]!.seconds;
    if (i + 1 < p) {
      bytes[i] = (P + c) * kvBytes;
      drain[i] = bytes[i] === 0 ? 0 : bytes[i]! / narrowest[i]!;
      eventsPerLayer += transferEvents(latency[i]!, bytes[i]!);
    }
  }
  const context = prefix[p - 1]! + partition[p - 1]!;
  const lmHead = stages.pricer.price({ name: 'lm_head', tokens: 1, prefix: context - 1, keys: context, causal: true });

  // state: rank streams 0..p-1, then hop i (rank i to i+1) at p + i.
  const state = new Float64Array(2 * p - 1);
  const runLayer = (): void => kvrLayer(p, state, seconds, latency, drain);

  const addTotals = (totals: RecurrenceTotals, layers: number): void => {
    for (let i = 0; i < p; i++) {
      const layer = sumPriced(ops[i]!);
      totals.compute(i, layers * layer.flops, layers * layer.seconds, layers * layer.error, layers * layer.memory);
      if (i + 1 < p) totals.transfer(i, i + 1, layers * bytes[i]!);
    }
    totals.compute(p - 1, lmHead.flops, lmHead.seconds, lmHead.error, lmHead.memory);
  };

  let header: Plan | undefined;
  return {
    gpus: p,
    state,
    eventsPerLayer,
    // Every layer: searches run the chain rank by rank (incremental-kvr-chain.ts) and must agree.
    periodic: false,
    runLayer,
    close: () => {
      // lm_head on the last rank after its last mlp.
      state[p - 1] = state[p - 1]! + lmHead.seconds;
      return { ttft: state[p - 1]!, events: 1 };
    },
    get header(): Plan {
      header ??= new PlanBuilder(model).build({ strategy, context, partition: [...partition], kvTokens: partition.map((c, i) => prefix[i]! + c), lastRank: p - 1 });
      return header;
    },
    addTotals,
    collectives: () => [],
  };
}

/**
 * One layer of kvrRecurrence from `state`, as the static schedule times its ops: a compute op
 * starts at the later of its stream's free time and its dependencies' ends, a send at the later
 * of its hop's free time and its dependencies' ends, then waits the hop's latency and drains.
 * `received` carries the end of rank i-1's send of this layer to rank i. IncrementalKvrChain
 * runs the same sums rank by rank.
 */
function kvrLayer(
  p: number,
  state: Float64Array,
  seconds: { qkv: Float64Array; attn: Float64Array; o: Float64Array; mlp: Float64Array },
  latency: Float64Array,
  drain: Float64Array,
): void {
  let received = 0;
  for (let i = 0; i < p; i++) {
    // qkv, after the previous layer's mlp (the stream's last op).
    const qkvEnd = state[i]! + seconds.qkv[i]!;
    // Rank 0 receives nothing: its send and attention wait for qkv alone.
    const ready = i > 0 && received > qkvEnd ? received : qkvEnd;
    if (i + 1 < p) {
      const hopFree = state[p + i]!;
      received = (ready > hopFree ? ready : hopFree) + latency[i]! + drain[i]!;
      state[p + i] = received;
    }
    state[i] = ready + seconds.attn[i]! + seconds.o[i]! + seconds.mlp[i]!;
  }
}

