import { bundledChannels, type BundledChannels } from '../../engine/bundled-channels.js';
import { transferEvents, type LayerRecurrence } from '../../engine/layer-recurrence.js';
import { sumPriced, type ComputePricer, type PricedShape } from '../../hardware/compute-pricer.js';
import { kvBytesPerTokenOfHeads } from '../../model/model-size.js';
import type { ModelSpec } from '../../model/model-spec.js';
import type { CollectiveUse } from '../../result/result.js';
import type { Router } from '../../topology/routing.js';
import { opSchedule, scheduleTokens } from '../collectives.js';
import { prefixes } from '../partition.js';
import type { CollectiveAlgorithm, CollectiveOp, Plan } from '../plan.js';
import { PlanBuilder, type BuilderSetup } from '../plan-builder.js';
import type { PlanRecurrence, RecurrenceTotals } from '../plan-recurrence.js';
import { opShard, tensorShards } from '../tensor-shard.js';
import { KvrStagePricer } from './kvr-recurrence.js';
import { rowBlocks } from './kvr-tp.js';
import { membersRouteKey, reducesKey, runTogetherReduces, type ReduceRun } from './ring-kv-tp-recurrence.js';

/** A group's all-reduce for a chunk (as kvrTpPlan builds it) and its representative run from 0. */
interface GroupReduce {
  op: CollectiveOp;
  run: ReduceRun;
}

/**
 * What a kvr-tp recurrence needs besides the partition, found once for a scenario: the chains'
 * hops, each group's kind of member routes, and memos of stage prices and of all-reduce runs (a
 * partition search changes a few groups' chunks per candidate and reuses the rest).
 *
 * Undefined (no recurrence) when two groups' hops share a link (one group's t hops may, as a
 * bundle whose members get equal fair shares: bundledChannels; its sends must then leave together,
 * which kvrTpLayer checks), a hop shares a link with any route between two members of a group,
 * two groups' member routes share a link, or the topology has background traffic or noise.
 * Checking every member route, not only those an all-reduce's algorithm uses, keeps the answer
 * the same for every partition.
 */
export class KvrTpLinks {
  readonly g: number;
  /** Hop r (rank r to rank r + t, r < p - t): route latency and the rate it drains at (bundledChannels). */
  readonly latency: Float64Array;
  readonly narrowest: Float64Array;
  /** 1 for a hop that shares a link with its group's other hops: its group's sends must leave together. */
  readonly together: Uint8Array;
  /** Stage prices of position j's shard (positions with equal shards share one). */
  readonly stages: KvrStagePricer[];
  /** K,V bytes per token of position j's KV heads. */
  readonly kvBytes: Float64Array;
  /** Each group's kind of member routes (groups of one kind run an all-reduce alike). */
  private readonly routeKind: Int32Array;
  private readonly builder: PlanBuilder;
  /** By group x 2^27 + chunk (exact below 2^27 tokens). */
  private readonly reduces = new Map<number, GroupReduce>();
  /** By kind of op and member routes. */
  private readonly runs = new Map<string, ReduceRun>();

  private constructor(
    readonly model: ModelSpec,
    readonly p: number,
    readonly t: number,
    readonly algorithm: CollectiveAlgorithm | 'auto',
    private readonly router: Router,
    pricer: ComputePricer,
    setup: BuilderSetup,
    hops: BundledChannels,
    routeKind: Int32Array,
  ) {
    this.g = p / t;
    this.latency = hops.latency;
    this.narrowest = hops.narrowest;
    this.together = hops.together;
    this.routeKind = routeKind;
    this.builder = new PlanBuilder(model, setup);
    const shards = tensorShards(model, t);
    const byShard = new Map<string, KvrStagePricer>();
    this.stages = shards.map((shard) => {
      const op = opShard(shard);
      const key = `${op.heads}/${op.kv_heads}/${op.ffn}`;
      let stages = byShard.get(key);
      if (stages === undefined) {
        stages = new KvrStagePricer(pricer, op);
        byShard.set(key, stages);
      }
      return stages;
    });
    this.kvBytes = Float64Array.from(shards, (shard) => kvBytesPerTokenOfHeads(model, shard.kv_heads));
  }

  static create(model: ModelSpec, p: number, t: number, algorithm: CollectiveAlgorithm | 'auto', setup: BuilderSetup, router: Router, pricer: ComputePricer): KvrTpLinks | undefined {
    if (model.moe !== undefined || t < 1 || p % t !== 0) return undefined;
    const g = p / t;
    const capacities = router.capacities();
    // The group whose member routes use each link.
    const group = new Int32Array(capacities.length).fill(-1);
    const kinds = new Map<string, number>();
    const routeKind = new Int32Array(g);
    for (let k = 0; k < g && t > 1; k++) {
      const ranks = Array.from({ length: t }, (_, j) => k * t + j);
      for (const src of ranks) {
        for (const dst of ranks) {
          if (src === dst) continue;
          for (const resource of router.route(src, dst).resources) {
            if (group[resource]! >= 0 && group[resource] !== k) return undefined;
            group[resource] = k;
          }
        }
      }
      const key = membersRouteKey(ranks, router, capacities);
      if (!kinds.has(key)) kinds.set(key, kinds.size);
      routeKind[k] = kinds.get(key)!;
    }
    // A group's t hops to the next group are a bundle: they may share links among themselves (an
    // oversubscribed uplink, a NIC of two GPUs), and then leave together when the members are alike.
    const reserved = Uint8Array.from(group, (k) => (k >= 0 ? 1 : 0));
    const hops = bundledChannels(router, Array.from({ length: p - t }, (_, r) => [r, r + t] as const), (r) => Math.floor(r / t), reserved);
    if (hops === undefined) return undefined;
    return new KvrTpLinks(model, p, t, algorithm, router, pricer, setup, hops, routeKind);
  }

  /** Engine runs of representative all-reduces so far (one per kind met). */
  get representativeRuns(): number {
    return this.runs.size;
  }

  /** Group k's all-reduce over chunk c after prefix P, and its run (timing depends on c, not P). */
  reduce(k: number, c: number, P: number): GroupReduce {
    const key = c < 2 ** 27 ? k * 2 ** 27 + c : undefined;
    let reduce = key === undefined ? undefined : this.reduces.get(key);
    if (reduce === undefined) {
      const t = this.t;
      const ranks = Array.from({ length: t }, (_, j) => k * t + j);
      // The op as kvrTpPlan builds it (the tuner picks its algorithm, protocol and channels by c).
      const op = this.builder.table.collective(this.builder.collective('allreduce', this.algorithm, 0, ranks, rowBlocks(c, P, t), 'together', []));
      // The builder only shapes ops here: no plan keeps its table.
      this.builder.table.clear();
      const kind = `${this.routeKind[k]}|${reducesKey([op])}`;
      let run = this.runs.get(kind);
      if (run === undefined) {
        run = runTogetherReduces([op], this.router);
        this.runs.set(kind, run);
      }
      reduce = { op, run };
      if (key !== undefined) this.reduces.set(key, reduce);
    }
    return reduce;
  }
}

/**
 * kvr-tp (kvrTpPlan: KV-Runahead over g groups of t GPUs, tensor parallelism inside each) as a
 * layer recurrence (sim/engine/layer-recurrence.ts), without building its plan.
 *
 * The chain part is kvr's recurrence (kvr-recurrence.ts) run on t chains side by side: rank (k, j)
 * sends K,V of tokens [0, P_k + c_k) of shard j's KV heads to (k+1, j) once its qkv and its
 * receive from (k-1, j) are done and the hop is free. Each group's all-reduces (after o and after
 * mlp; after mlp only for a parallel block) are timed as ring-kv --tp's are
 * (ring-kv-tp-recurrence.ts): one representative engine run per kind (the op's rows, algorithm,
 * protocol, channels, and the members' routes), shifted to the time T its members' ops are done.
 * That is the engine's answer to rounding when every queue the all-reduce uses is free by T (its
 * group's previous all-reduce ended by then: checked each time; runLayer returns false if not)
 * and no other transfer uses its links (KvrTpLinks checks that once).
 *
 * Per layer, group by group as kvrTpPlan lists the ops, on rank (k, j): qkv after its previous mlp
 * and its share of the group's last all-reduce; the send; attn after qkv and the receive; o; the
 * all-reduce over the group's o's; mlp after o and its share; the all-reduce over the mlp's.
 * The last rank then runs lm_head after its mlp and its share.
 */
export function kvrTpRecurrence(partition: readonly number[], links: KvrTpLinks): PlanRecurrence {
  const { model, p, t, algorithm } = links;
  const { prefix, context, stage, hopBytes, reduces, reducesPerLayer, eventsPerLayer, lmHead, inputs } = kvrTpLayers(partition, links);
  const state = inputs.state;
  const runLayer = (): boolean => kvrTpLayer(inputs);

  const addTotals = (totals: RecurrenceTotals, layers: number): void => {
    for (let r = 0; r < p; r++) {
      const layer = sumPriced(stage[r]!);
      totals.compute(r, layers * layer.flops, layers * layer.seconds, layers * layer.error, layers * layer.memory);
      if (r + t < p) totals.transfer(r, r + t, layers * hopBytes[r]!);
    }
    for (const { op } of reduces) {
      const schedule = opSchedule(op);
      const tokens = scheduleTokens(schedule, op.blocks);
      for (let x = 0; x < schedule.count; x++) totals.transfer(op.ranks[schedule.src[x]!]!, op.ranks[schedule.dst[x]!]!, layers * reducesPerLayer * tokens[x]! * op.bytes_per_token);
    }
    totals.compute(p - 1, lmHead.flops, lmHead.seconds, lmHead.error, lmHead.memory);
  };

  let header: Plan | undefined;
  return {
    gpus: p,
    state,
    eventsPerLayer,
    runLayer,
    close: () => ({ ttft: closeLayers(inputs, lmHead.seconds), events: 1 }),
    get header(): Plan {
      header ??= new PlanBuilder(model).build({
        strategy: 'kvr-tp',
        context,
        partition: Array.from({ length: p }, (_, r) => partition[Math.floor(r / t)]!),
        kvTokens: Array.from({ length: p }, (_, r) => prefix[Math.floor(r / t)]! + partition[Math.floor(r / t)]!),
        lastRank: p - 1,
        tp: t,
        collective: algorithm,
      });
      return header;
    },
    addTotals,
    collectives: (layers: number): CollectiveUse[] => {
      const uses = new Map<string, CollectiveUse>();
      for (const { op } of reduces) {
        const key = `${op.algorithm}/${op.protocol ?? 'none'}/${op.channels ?? 1}`;
        let use = uses.get(key);
        if (use === undefined) {
          use = { name: 'allreduce', algorithm: op.algorithm, protocol: op.protocol ?? 'none', channels: op.channels ?? 1, count: 0 };
          uses.set(key, use);
        }
        use.count += layers * reducesPerLayer;
      }
      return [...uses.values()];
    },
  };
}

/** A partition's layers, priced, ready to run from 0, and what the result sums. */
interface KvrTpLayers {
  prefix: number[];
  context: number;
  /** Each rank's four priced ops of a layer. */
  stage: (readonly PricedShape[])[];
  /** Hop r's bytes a layer (rank r to r + t). */
  hopBytes: Float64Array;
  reduces: GroupReduce[];
  reducesPerLayer: number;
  eventsPerLayer: number;
  lmHead: PricedShape;
  inputs: KvrTpLayerInputs;
}

/** The layers of `partition` on `links`. */
function kvrTpLayers(partition: readonly number[], links: KvrTpLinks): KvrTpLayers {
  const { model, p, t, g, latency, narrowest } = links;
  const prefix = prefixes(partition);
  const stage: (readonly PricedShape[])[] = new Array(p);
  const qkv = new Float64Array(p);
  const attn = new Float64Array(p);
  const o = new Float64Array(p);
  const mlp = new Float64Array(p);
  const hopBytes = new Float64Array(p - t);
  const drain = new Float64Array(p - t);
  const reduces = t > 1 ? partition.map((c, k) => links.reduce(k, c, prefix[k]!)) : [];
  const reducesPerLayer = t > 1 ? (model.block === 'sequential' ? 2 : 1) : 0;
  let eventsPerLayer = 4 * p;
  for (let k = 0; k < g; k++) {
    const c = partition[k]!;
    const P = prefix[k]!;
    let ops: readonly PricedShape[] = [];
    for (let j = 0; j < t; j++) {
      const r = k * t + j;
      // Positions of one shard share a pricer, and so the group's prices.
      if (j === 0 || links.stages[j] !== links.stages[j - 1]) ops = links.stages[j]!.stage(c, P);
      stage[r] = ops;
      qkv[r] = ops[0]!.seconds;
      attn[r] = ops[1]!.seconds;
      o[r] = ops[2]!.seconds;
      mlp[r] = ops[3]!.seconds;
      if (k + 1 < g) {
        const bytes = (P + c) * links.kvBytes[j]!;
        hopBytes[r] = bytes;
        drain[r] = bytes === 0 ? 0 : bytes / narrowest[r]!;
        eventsPerLayer += transferEvents(latency[r]!, bytes);
      }
    }
    if (t > 1) eventsPerLayer += reducesPerLayer * reduces[k]!.run.events;
  }
  const context = prefix[g - 1]! + partition[g - 1]!;
  const lmHead = links.stages[0]!.pricer.price({ name: 'lm_head', tokens: 1, prefix: context - 1, keys: context, causal: true });

  const shareAfter = new Float64Array(p);
  const reduceEnd = new Float64Array(g);
  for (let k = 0; k < reduces.length; k++) {
    const run = reduces[k]!.run;
    reduceEnd[k] = run.end;
    for (let j = 0; j < t; j++) shareAfter[k * t + j] = run.memberDone[j]!;
  }
  const inputs = layerInputs(t, g, reducesPerLayer, { qkv, attn, o, mlp, latency, drain, shareAfter, together: links.together }, reduceEnd);
  return { prefix, context, stage, hopBytes, reduces, reducesPerLayer, eventsPerLayer, lmHead, inputs };
}

/** A kvr-tp layer's inputs: each rank's op seconds, hop and all-reduce share (RankInputs), each group's all-reduce run, and views of the state. */
interface KvrTpLayerInputs extends RankInputs {
  t: number;
  g: number;
  /** All-reduces per layer: 2 (sequential block), 1 (parallel), 0 (groups of one GPU). */
  reducesPerLayer: number;
  /** Each group's all-reduce's last transfer end, from its start. */
  reduceEnd: Float64Array;
  /**
   * The state between layers (LayerRecurrence's): compute streams 0..p-1; hop r (rank r to r + t)
   * at p + r; then, with all-reduces, each member's share of its group's last all-reduce at
   * 2p - t + r, each group's last end at 3p - t + k.
   */
  state: Float64Array;
  /** Views of the state: compute streams, hops, members' shares (the streams without all-reduces), groups' last all-reduce ends. */
  streams: Float64Array;
  hops: Float64Array;
  shares: Float64Array;
  lastEnd: Float64Array;
  /** Scratch: the end of rank (k-1, j)'s send of this layer; each rank's o end. */
  received: Float64Array;
  ends: Float64Array;
}

/** Per-rank inputs of a layer: op seconds, the hop to the next group (r < p - t), the share of the group's all-reduce. */
interface RankInputs {
  qkv: Float64Array;
  attn: Float64Array;
  o: Float64Array;
  mlp: Float64Array;
  latency: Float64Array;
  drain: Float64Array;
  /** Each rank's share of its group's all-reduce, from its start (the representative run's). */
  shareAfter: Float64Array;
  /** 1 for a hop whose group's sends share links: they must leave at one instant with equal bytes. */
  together: Uint8Array;
}

/** Layer inputs over g groups of t ranks, with their state at 0. */
function layerInputs(t: number, g: number, reducesPerLayer: number, ranks: RankInputs, reduceEnd: Float64Array): KvrTpLayerInputs {
  const p = g * t;
  const state = new Float64Array(reducesPerLayer > 0 ? 3 * p - t + g : 2 * p - t);
  const streams = state.subarray(0, p);
  return {
    t, g, reducesPerLayer, ...ranks, reduceEnd, state,
    streams,
    hops: state.subarray(p, 2 * p - t),
    // Without all-reduces a rank's share is its stream (the max of the two is then the stream).
    shares: reducesPerLayer > 0 ? state.subarray(2 * p - t, 3 * p - t) : streams,
    lastEnd: state.subarray(3 * p - t),
    received: new Float64Array(t),
    ends: new Float64Array(p),
  };
}

/** lm_head on the last rank after its last mlp and its share of the all-reduce: the first token's time. */
function closeLayers(inputs: KvrTpLayerInputs, lmHead: number): number {
  const { streams, shares } = inputs;
  const last = streams.length - 1;
  const ready = shares[last]! > streams[last]! ? shares[last]! : streams[last]!;
  streams[last] = ready + lmHead;
  return streams[last]!;
}

/**
 * The same layers with one rank a group, when every member of each group has the same op times,
 * hop and share of the all-reduces (a group of a node with a chunk that splits evenly into its t
 * rows: the tuner's ring then ends every member's share at once): the t chains then hold the
 * same numbers at every step, each group's all-reduce waits for the same ends, and one chain
 * stands for all of them. Undefined when some group's members differ.
 */
function oneChain(inputs: KvrTpLayerInputs): KvrTpLayerInputs | undefined {
  const { t, g, reducesPerLayer, qkv, attn, o, mlp, latency, drain, shareAfter, reduceEnd } = inputs;
  if (t === 1) return undefined;
  // One chain's sends stand for a group's t alike sends, which leave together (no check left).
  const chain: RankInputs = { qkv: new Float64Array(g), attn: new Float64Array(g), o: new Float64Array(g), mlp: new Float64Array(g), latency: new Float64Array(g - 1), drain: new Float64Array(g - 1), shareAfter: new Float64Array(g), together: new Uint8Array(g - 1) };
  for (let k = 0; k < g; k++) {
    const base = k * t;
    const sends = k + 1 < g;
    for (let r = base + 1; r < base + t; r++) {
      if (qkv[r] !== qkv[base] || attn[r] !== attn[base] || o[r] !== o[base] || mlp[r] !== mlp[base] || shareAfter[r] !== shareAfter[base]) return undefined;
      if (sends && (latency[r] !== latency[base] || drain[r] !== drain[base])) return undefined;
    }
    chain.qkv[k] = qkv[base]!;
    chain.attn[k] = attn[base]!;
    chain.o[k] = o[base]!;
    chain.mlp[k] = mlp[base]!;
    chain.shareAfter[k] = shareAfter[base]!;
    if (sends) {
      chain.latency[k] = latency[base]!;
      chain.drain[k] = drain[base]!;
    }
  }
  return layerInputs(1, g, reducesPerLayer, chain, reduceEnd);
}

/**
 * kvrTpRecurrence's layers as its first token's time needs them (a partition search's
 * TtftEvaluator): with one rank a group where all members are alike (oneChain), else all ranks.
 * Its run gives kvrTpRecurrence's first token's time bit for bit, and breaks or takes the
 * periodic shortcut at the same layer: its state holds the same values, each once instead of t
 * times (uniformShift finds the same shift or none, and the first entry is rank 0's stream in
 * both). Its `finish` is then one rank a group: read only its first token's time.
 */
export function kvrTpFirstTokenRecurrence(partition: readonly number[], links: KvrTpLinks): LayerRecurrence {
  const layers = kvrTpLayers(partition, links);
  const inputs = oneChain(layers.inputs) ?? layers.inputs;
  const lmHead = layers.lmHead.seconds;
  return {
    gpus: inputs.g * inputs.t,
    state: inputs.state,
    eventsPerLayer: layers.eventsPerLayer,
    runLayer: () => kvrTpLayer(inputs),
    close: () => ({ ttft: closeLayers(inputs, lmHead), events: 1 }),
  };
}

/**
 * One layer of kvrTpRecurrence, as the static schedule times its ops: kvrLayer's chain on t
 * chains, each group's all-reduces a representative run shifted to their start (the time its
 * members' o's, or mlp's, are all done). One pass over a group's ranks per step. False when an
 * all-reduce would start before its group's previous one ended, or a group's sends that share
 * links (KvrTpLinks.together) would not leave together with equal bytes.
 */
function kvrTpLayer(inputs: KvrTpLayerInputs): boolean {
  const { t, g, reducesPerLayer, qkv, attn, o, mlp, latency, drain, shareAfter, together, reduceEnd, streams, hops, shares, lastEnd, received, ends } = inputs;
  for (let k = 0; k < g; k++) {
    const base = k * t;
    const end = base + t;
    const first = k === 0;
    const sends = k + 1 < g;
    // qkv after the previous mlp and the rank's share of its all-reduce; the send once qkv and the
    // receive are done (group 0 receives nothing) and the hop is free; attn; o.
    let start = 0;
    let firstLeaves = 0;
    for (let r = base; r < end; r++) {
      const qkvEnd = Math.max(streams[r]!, shares[r]!) + qkv[r]!;
      const ready = first ? qkvEnd : Math.max(received[r - base]!, qkvEnd);
      if (sends) {
        const leaves = Math.max(ready, hops[r]!);
        // A bundle's sends share links at one fair rate only if they leave together, alike.
        if (r === base) firstLeaves = leaves;
        else if (together[r] === 1 && (leaves !== firstLeaves || drain[r] !== drain[base])) return false;
        const sent = leaves + latency[r]! + drain[r]!;
        received[r - base] = sent;
        hops[r] = sent;
      }
      const oEnd = ready + attn[r]! + o[r]!;
      ends[r] = oEnd;
      start = Math.max(start, oEnd);
    }
    if (reducesPerLayer === 0) {
      for (let r = base; r < end; r++) streams[r] = ends[r]! + mlp[r]!;
      continue;
    }
    // mlp: after the all-reduce over the o's and the rank's share of it (sequential block).
    let mlpDone = 0;
    if (reducesPerLayer === 2) {
      if (lastEnd[k]! > start) return false;
      lastEnd[k] = start + reduceEnd[k]!;
      for (let r = base; r < end; r++) {
        const shared = start + shareAfter[r]!;
        shares[r] = shared;
        const mlpEnd = Math.max(shared, ends[r]!) + mlp[r]!;
        streams[r] = mlpEnd;
        mlpDone = Math.max(mlpDone, mlpEnd);
      }
    } else {
      for (let r = base; r < end; r++) {
        const mlpEnd = ends[r]! + mlp[r]!;
        streams[r] = mlpEnd;
        mlpDone = Math.max(mlpDone, mlpEnd);
      }
    }
    // The all-reduce over the mlp's.
    if (lastEnd[k]! > mlpDone) return false;
    lastEnd[k] = mlpDone + reduceEnd[k]!;
    for (let r = base; r < end; r++) shares[r] = mlpDone + shareAfter[r]!;
  }
  return true;
}
