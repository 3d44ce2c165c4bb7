import { bundledChannels } from '../engine/bundled-channels.js';
import { opSeconds } from '../hardware/op-durations.js';
import { kvDtypeBytes } from '../model/precision.js';
import { kvBytesPerToken, kvBytesPerTokenOfHeads } from '../model/model-size.js';
import { opShard, tensorShards } from '../plan/tensor-shard.js';
import type { Scenario } from '../simulate.js';
import type { Router } from '../topology/routing.js';
import type { OpShard } from '../work/compute-op.js';
import { kvrChainHops, type ChainHop } from './kvr-chain.js';
import { snapToLattice, type Lattice } from './lattice.js';

/**
 * A closed-form starting point for partition search, from the cost model alone (no simulation).
 *
 * KV-Runahead is a pipeline over ranks: in steady state every layer, rank i computes its chunk
 * (time tau(c_i, P_i): qkv, causal attention over prefix P_i, o, mlp) and the hop i-1 -> i carries
 * K,V of the P_i tokens before it. The slowest stage paces all layers, so we pick the partition
 * minimising the largest stage time T, found by bisection on T (feasibility is monotone in T).
 * Without links this is the attention-balanced split (c_i ~ C(sqrt(i+1) - sqrt(i))/sqrt(p) for
 * attention alone); slow links push tokens towards later ranks, since early chunks are forwarded
 * by every later hop.
 *
 * kvr-tp: the stages are groups of t GPUs. A group's stage time is its slowest position's sharded
 * compute plus its all-reduces of c rows (closed form on the route of the group's first two
 * ranks: ring 2(t-1) steps of c/t rows, direct t-1 blocks sharing the sender's link), and a hop
 * is the slowest of the t parallel K,V shard transfers between matching positions.
 */
export class PipelineBalance {
  private readonly scenario: Scenario;
  private readonly kvBytes: number;
  /** Per hop i -> i+1: route latency and narrowest per-direction bandwidth. */
  private readonly hops: ChainHop[];
  /** Chunks of the partition: GPUs, or groups for kvr-tp. */
  private readonly parts: number;
  private readonly group: GroupStages | undefined;
  /** Cost-model evaluations so far (reported; not simulations). */
  evaluations = 0;

  constructor(scenario: Scenario, router: Router) {
    this.scenario = scenario;
    this.kvBytes = kvBytesPerToken(scenario.model);
    if (scenario.strategy === 'kvr-tp') {
      this.group = new GroupStages(scenario, router);
      this.parts = this.group.groups;
      this.hops = [];
    } else {
      this.group = undefined;
      this.parts = scenario.gpus;
      this.hops = kvrChainHops(scenario, router);
    }
  }

  /** Per-layer compute seconds of a chunk of c tokens after a prefix of P tokens. */
  stageCompute(c: number, P: number): number {
    this.evaluations += 1;
    if (c <= 0) return 0;
    if (this.group !== undefined) return this.group.compute(c, P);
    const model = this.scenario.model;
    const gpu = this.scenario.gpu;
    let seconds = 0;
    for (const name of ['qkv', 'attn', 'o', 'mlp'] as const) {
      seconds += opSeconds(model, { name, tokens: c, prefix: P, keys: P + c, causal: true }, gpu, this.scenario.attention);
    }
    return seconds;
  }

  /** Seconds to move K,V of `tokens` tokens of one layer over hop i -> i+1. */
  hopTransfer(hop: number, tokens: number): number {
    if (this.group !== undefined) return this.group.hop(hop, tokens);
    const h = this.hops[hop]!;
    return h.latency_s + (tokens * this.kvBytes) / h.bandwidth;
  }

  /**
   * The split for stage time T, or undefined when T is infeasible. Works backwards from the last
   * rank, placing every boundary Q_i as early as rank i's compute allows: an earlier boundary
   * leaves less for the hop into rank i to carry and less prefix for the ranks before it, so the
   * earliest choice is the most feasible one. Rank 0 takes what is left and must fit in T too.
   */
  splitFor(T: number): number[] | undefined {
    const { context: C } = this.scenario;
    const p = this.parts;
    const boundaries = new Array<number>(p + 1);
    boundaries[p] = C;
    for (let i = p - 1; i >= 1; i--) {
      const end = boundaries[i + 1]!;
      // Smallest Q in [i, end - 1] with compute(end - Q, Q) <= T (it falls as Q grows).
      if (this.stageCompute(end - (end - 1), end - 1) > T) return undefined;
      let lo = i;
      let hi = end - 1;
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2);
        if (this.stageCompute(end - mid, mid) <= T) hi = mid;
        else lo = mid + 1;
      }
      if (this.hopTransfer(i - 1, lo) > T) return undefined;
      boundaries[i] = lo;
    }
    boundaries[0] = 0;
    if (this.stageCompute(boundaries[1]!, 0) > T) return undefined;
    return boundaries.slice(1).map((b, i) => b - boundaries[i]!);
  }

  /** Largest stage time (compute of each rank, transfer into each rank) of a partition. */
  slowestStage(partition: readonly number[]): number {
    let P = 0;
    let slowest = 0;
    partition.forEach((c, i) => {
      slowest = Math.max(slowest, this.stageCompute(c, P));
      if (i > 0) slowest = Math.max(slowest, this.hopTransfer(i - 1, P));
      P += c;
    });
    return slowest;
  }

  /**
   * Rounds a partition's boundaries to the lattice, each down or up, choosing the combination
   * whose slowest stage is fastest. Rounding every boundary to its nearest point instead can
   * cost more than a percent when a chunk is only a few granules long. Dynamic programming over
   * boundaries: stage i depends only on the roundings of boundaries i and i+1.
   */
  roundToLattice(partition: readonly number[], lattice: Lattice): number[] {
    const g = lattice.granularity;
    const r = partition.length - 1;
    if (r === 0) return [];
    const exact: number[] = [];
    let sum = 0;
    for (let i = 0; i < r; i++) exact.push((sum += partition[i]!) / g);
    const options = exact.map((b, i) => {
      const lo = Math.min(lattice.maxIndex - (r - 1 - i), Math.max(i + 1, Math.floor(b)));
      const hi = Math.min(lattice.maxIndex - (r - 1 - i), Math.max(i + 1, Math.ceil(b)));
      return lo === hi ? [lo] : [lo, hi];
    });
    // best[i][k]: slowest stage of ranks 0..i when boundary i takes options[i][k], and the choice path.
    const stage = (rank: number, from: number, to: number): number =>
      Math.max(this.stageCompute((to - from) * g, from * g), rank > 0 ? this.hopTransfer(rank - 1, from * g) : 0);
    let best = options[0]!.map((b) => ({ cost: stage(0, 0, b), path: [b] }));
    for (let i = 1; i < r; i++) {
      best = options[i]!.map((b) => {
        let chosen = { cost: Infinity, path: [] as number[] };
        for (const previous of best) {
          const from = previous.path[previous.path.length - 1]!;
          if (from >= b) continue;
          const cost = Math.max(previous.cost, stage(i, from, b));
          if (cost < chosen.cost) chosen = { cost, path: [...previous.path, b] };
        }
        return chosen;
      });
    }
    const last = (b: number): number => {
      const from = b * g;
      return Math.max(this.stageCompute(lattice.context - from, from), this.hopTransfer(r - 1, from));
    };
    let answer = { cost: Infinity, path: [] as number[] };
    for (const candidate of best) {
      if (candidate.path.length !== r) continue;
      const cost = Math.max(candidate.cost, last(candidate.path[r - 1]!));
      if (cost < answer.cost) answer = { cost, path: candidate.path };
    }
    return answer.path.length === r ? answer.path : snapToLattice(lattice, partition);
  }

  /** The partition with the smallest feasible largest stage time. */
  balancedPartition(): number[] {
    const { context: C } = this.scenario;
    const p = this.parts;
    if (p === 1) return [C];
    let lo = 0;
    let hi = this.stageCompute(C, 0) + this.hopTransfer(p - 2, C) + 1e-9;
    while (this.splitFor(hi) === undefined) hi *= 2;
    for (let k = 0; k < 60 && hi - lo > hi * 1e-12; k++) {
      const mid = (lo + hi) / 2;
      if (this.splitFor(mid) === undefined) lo = mid;
      else hi = mid;
    }
    return this.splitFor(hi)!;
  }
}

/** Group-level stage costs of kvr-tp for PipelineBalance. */
class GroupStages {
  readonly groups: number;
  private readonly scenario: Scenario;
  private readonly t: number;
  private readonly shards: OpShard[];
  private readonly reductions: number;
  /** Per hop, per position: latency, narrowest bandwidth, K,V bytes per token of the shard. */
  private readonly hopRoutes: { latency_s: number; bandwidth: number; kvBytes: number }[][];
  private readonly intra: { latency_s: number; bandwidth: number };

  constructor(scenario: Scenario, router: Router) {
    this.scenario = scenario;
    this.t = scenario.tp ?? 1;
    this.groups = scenario.gpus / this.t;
    const shards = tensorShards(scenario.model, this.t);
    this.shards = shards.map((s) => opShard(s));
    this.reductions = scenario.model.block === 'parallel' ? 1 : 2;
    const capacity = router.capacities();
    const link = (src: number, dst: number): { latency_s: number; bandwidth: number } => {
      const route = router.route(src, dst);
      let narrowest = Infinity;
      for (const resource of route.resources) narrowest = Math.min(narrowest, capacity[resource]!);
      return { latency_s: route.latency_s, bandwidth: narrowest };
    };
    const m = scenario.model;
    this.hopRoutes = Array.from({ length: this.groups - 1 }, (_, k) => {
      // A hop's t sends leave together: where they share a NIC or an oversubscribed uplink, each
      // drains at its fair share of it (the engine's rate), not at its route's narrowest link.
      const pairs = shards.map((_, j) => [k * this.t + j, (k + 1) * this.t + j] as const);
      const bundle = bundledChannels(router, pairs, () => 0);
      return shards.map((s, j) => {
        const route = link(pairs[j]![0], pairs[j]![1]);
        return { latency_s: route.latency_s, bandwidth: bundle === undefined ? route.bandwidth : bundle.narrowest[j]!, kvBytes: kvBytesPerTokenOfHeads(m, s.kv_heads) };
      });
    });
    this.intra = this.t > 1 ? link(0, 1) : { latency_s: 0, bandwidth: Infinity };
  }

  compute(c: number, P: number): number {
    const { model, gpu, attention } = this.scenario;
    let slowest = 0;
    for (const shard of this.shards) {
      let seconds = 0;
      for (const name of ['qkv', 'attn', 'o', 'mlp'] as const) {
        seconds += opSeconds(model, { name, tokens: c, prefix: P, keys: P + c, causal: true, shard }, gpu, attention);
      }
      slowest = Math.max(slowest, seconds);
    }
    return slowest + this.reductions * this.allReduce(c);
  }

  private allReduce(rows: number): number {
    const t = this.t;
    if (t === 1) return 0;
    const block = ((rows / t) * this.scenario.model.hidden * this.scenario.model.dtype_bytes) / this.intra.bandwidth;
    return this.scenario.collective === 'direct'
      ? 2 * (this.intra.latency_s + (t - 1) * block)
      : 2 * (t - 1) * (this.intra.latency_s + block);
  }

  hop(hop: number, tokens: number): number {
    let slowest = 0;
    for (const route of this.hopRoutes[hop]!) slowest = Math.max(slowest, route.latency_s + (tokens * route.kvBytes) / route.bandwidth);
    return slowest;
  }
}
