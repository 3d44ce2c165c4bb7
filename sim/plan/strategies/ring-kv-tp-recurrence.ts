import { compilePlan, executeProgram } from '../../engine/engine.js';
import { bundledChannels } from '../../engine/bundled-channels.js';
import { transferEvents } from '../../engine/layer-recurrence.js';
import { addPriced, sumPriced, type ComputePricer, type PricedShape } from '../../hardware/compute-pricer.js';
import type { ModelSpec } from '../../model/model-spec.js';
import type { CollectiveUse } from '../../result/result.js';
import type { Router } from '../../topology/routing.js';
import type { ComputeShape } from '../../work/compute-op.js';
import { opSchedule, scheduleTokens } from '../collectives.js';
import type { CollectiveAlgorithm, CollectiveOp, Plan } from '../plan.js';
import { PlanBuilder, type BuilderSetup } from '../plan-builder.js';
import type { PlanRecurrence, RecurrenceTotals } from '../plan-recurrence.js';
import { opShard, tensorShards } from '../tensor-shard.js';
import { rowBlocks } from './kvr-tp.js';
import { ringStepShape, zigZag } from './ring-kv.js';

/**
 * ring-kv with tensor parallelism (`--tp t`: g = p/t ring positions of t GPUs, Yang et al.'s layout
 * for Llama 3 405B) as a layer recurrence (sim/engine/layer-recurrence.ts), without building its
 * plan. The ring part is ring-kv's recurrence run on t rings side by side (rank (k, j) receives
 * from (k-1, j)). Each position's all-reduces (after o and after mlp, one per zig-zag chunk) are
 * timed by one representative engine run per kind of position, shifted to when they start.
 *
 * Why the shift is the engine's answer (to rounding): a position's all-reduces start together,
 * once all its members' ops they wait for are done (time T); if every queue they use is free by T
 * (checked each time: the position's previous all-reduces ended by then) and no other transfer
 * ever uses their links (checked once: the ring's channels share no link with each other or with
 * any all-reduce), nothing but T distinguishes one run of them from the representative one started
 * at 0, and each member has its share at T + its offset. Positions whose members' routes have the
 * same latencies, capacities and link sharing, and whose rows are the same sizes, share one
 * representative run (every node of a uniform cluster).
 *
 * Undefined when the ring's channels share a link with an all-reduce or with the channels into
 * another position (the t channels into one position may share links as a bundle whose members get
 * equal fair shares: bundledChannels), two positions' all-reduces share a link, or the topology
 * has background traffic or noise. runLayer returns false when an all-reduce would start before
 * its position's previous one ended, or a bundle's transfers would not leave together (simulate
 * then runs the plan another way).
 */
export function ringKvTpRecurrence(
  model: ModelSpec,
  context: number,
  p: number,
  t: number,
  algorithm: CollectiveAlgorithm | 'auto',
  setup: BuilderSetup,
  router: Router,
  pricer: ComputePricer,
): PlanRecurrence | undefined {
  if (router.backgroundFlows().length > 0 || router.noisyResources().length > 0) return undefined;
  const g = p / t;
  const { chunks, starts, tokens, blocks, late } = zigZag(context, g);
  const shards = tensorShards(model, t);
  const shapes = shards.map((shard) => opShard(shard));
  const rank = (k: number, j: number): number => k * t + j;
  const builder = new PlanBuilder(model, setup);

  // The all-reduces of each position (built as the plan builds them), and every pair they use.
  const reduceBlocks = Array.from({ length: g }, (_, k) => [rowBlocks(chunks[k]!, starts[k]!, t), rowBlocks(chunks[late(k)]!, starts[late(k)]!, t)]);
  const reduces: CollectiveOp[][] = [];
  for (let k = 0; k < g; k++) {
    const ranks = shards.map((_, j) => rank(k, j));
    reduces.push(reduceBlocks[k]!.map((rows) => builder.table.collective(builder.collective('allreduce', algorithm, 0, ranks, rows, 'together', []))));
  }

  // Links: ring channel (k-1, j) -> (k, j) into each rank; none may share a link with another
  // channel or with an all-reduce's pairs (those may share among themselves: the engine runs them).
  // Nor may two positions' all-reduces share a link (they may run at the same time).
  const capacities = router.capacities();
  const reduceUse = new Uint8Array(capacities.length);
  const reducePosition = new Int32Array(capacities.length).fill(-1);
  for (let k = 0; k < g; k++) {
    for (const op of reduces[k]!) {
      const schedule = opSchedule(op);
      for (let x = 0; x < schedule.count; x++) {
        for (const r of router.route(op.ranks[schedule.src[x]!]!, op.ranks[schedule.dst[x]!]!).resources) {
          if (reducePosition[r]! >= 0 && reducePosition[r] !== k) return undefined;
          reducePosition[r] = k;
          reduceUse[r] = 1;
        }
      }
    }
  }
  // The t channels into one position are a bundle: they may share links among themselves (an
  // oversubscribed uplink, a NIC of two GPUs) and then must leave together with equal bytes.
  const channels = g > 1 ? bundledChannels(router, Array.from({ length: p }, (_, r) => [(r - t + p) % p, r] as const), (r) => Math.floor(r / t), reduceUse) : undefined;
  if (g > 1 && channels === undefined) return undefined;
  const latency = channels?.latency ?? new Float64Array(p);
  const narrowest = channels?.narrowest ?? new Float64Array(p);
  const together = channels?.together ?? new Uint8Array(p);
  // Members of a position receive blocks of equal bytes only if their shards hold as many KV heads.
  if (channels?.anyTogether === true && shards.some((shard) => shard.kv_heads !== shards[0]!.kv_heads)) return undefined;

  // Compute ops: rank (k, j) works on position k's tokens with shard j.
  const own = (k: number, j: number): ComputeShape => ({ name: 'qkv', tokens: tokens[k]!, prefix: 0, keys: tokens[k]!, causal: true, shard: shapes[j]! });
  const price = (name: ComputeShape['name'], r: number): PricedShape => pricer.price({ ...own(Math.floor(r / t), r % t), name });
  const qkv = Array.from({ length: p }, (_, r) => price('qkv', r));
  const o = Array.from({ length: p }, (_, r) => price('o', r));
  const mlp = Array.from({ length: p }, (_, r) => price('mlp', r));
  const attentionSeconds = new Float64Array(g * p);
  const attentionSum = Array.from({ length: p }, () => sumPriced([]));
  for (let s = 0; s < g; s++) {
    for (let r = 0; r < p; r++) {
      const step = ringStepShape(chunks, tokens, Math.floor(r / t), s, g, late, shapes[r % t]!) as ComputeShape;
      step.name = 'attn';
      const priced = pricer.price(step);
      attentionSeconds[s * p + r] = priced.seconds;
      addPriced(attentionSum[r]!, priced);
    }
  }
  const lmHead = pricer.price({ name: 'lm_head', tokens: 1, prefix: context - 1, keys: context, causal: true });
  // Ring bytes: rank (k, j) receives position owner's block, K,V of shard j's KV heads.
  const blockBytes = (owner: number, j: number): number => {
    let n = 0;
    for (const [a, b] of blocks[owner]!) n += b - a;
    return n * builder.bytesPerToken({ kvHeads: shards[j]!.kv_heads });
  };
  const ringBytes = new Float64Array(g * t);
  for (let owner = 0; owner < g; owner++) for (let j = 0; j < t; j++) ringBytes[owner * t + j] = blockBytes(owner, j);

  // One representative run of each kind of position's all-reduce pair.
  const representative = representativeReduces(reduces, router);
  const reducesPerLayer = model.block === 'sequential' ? 2 : 1;

  let eventsPerLayer = p * (g + 3);
  for (let r = 0; r < p && g > 1; r++) {
    for (let s = 1; s < g; s++) eventsPerLayer += transferEvents(latency[r]!, ringBytes[((Math.floor(r / t) - s + g) % g) * t + (r % t)]!);
  }
  for (let k = 0; k < g; k++) eventsPerLayer += reducesPerLayer * representative[k]!.events;

  // state: compute streams 0..p-1; ring channels into each rank at p + r; each member's share of
  // its position's last all-reduce at 2p + r; each position's last all-reduce end at 3p + k.
  const state = new Float64Array(3 * p + g);
  const received = new Float64Array(p);
  const receiving = new Float64Array(p);
  /** The all-reduces of every position once its members' `ready` ops are done; false if one overlaps its previous. */
  const reduce = (): boolean => {
    for (let k = 0; k < g; k++) {
      let start = 0;
      for (let j = 0; j < t; j++) start = Math.max(start, state[rank(k, j)]!);
      if (state[3 * p + k]! > start) return false;
      const run = representative[k]!;
      for (let j = 0; j < t; j++) state[2 * p + rank(k, j)] = start + run.memberDone[j]!;
      state[3 * p + k] = start + run.end;
    }
    return true;
  };
  const runLayer = (): boolean => {
    // qkv after the previous layer's mlp and its all-reduce share.
    for (let r = 0; r < p; r++) {
      const ready = state[2 * p + r]! > state[r]! ? state[2 * p + r]! : state[r]!;
      state[r] = ready + qkv[r]!.seconds;
    }
    received.set(state.subarray(p, 2 * p));
    for (let s = 0; s < g; s++) {
      const next = s + 1;
      if (next < g) {
        let firstLeaves = 0;
        for (let r = 0; r < p; r++) {
          const f = r >= t ? r - t : r - t + p;
          // The sender holds the block (its qkv, or its receive of step s) and both finished step s-1.
          let ready = state[f]! > state[r]! ? state[f]! : state[r]!;
          if (next > 1 && received[f]! > ready) ready = received[f]!;
          const free = received[r]!;
          const leaves = ready > free ? ready : free;
          // A bundle's transfers share links at one fair rate only if they leave together.
          if (r % t === 0) firstLeaves = leaves;
          else if (together[r] === 1 && leaves !== firstLeaves) return false;
          const flowAt = leaves + latency[r]!;
          const k = Math.floor(r / t);
          const bytes = ringBytes[(k >= next ? k - next : k - next + g) * t + (r % t)]!;
          receiving[r] = bytes === 0 ? flowAt : flowAt + bytes / narrowest[r]!;
        }
      }
      for (let r = 0; r < p; r++) {
        const ready = s === 0 ? state[r]! : received[r]! > state[r]! ? received[r]! : state[r]!;
        state[r] = ready + attentionSeconds[s * p + r]!;
      }
      if (next < g) received.set(receiving);
    }
    state.set(received, p);
    for (let r = 0; r < p; r++) state[r] = state[r]! + o[r]!.seconds;
    if (reducesPerLayer === 2) {
      if (!reduce()) return false;
      for (let r = 0; r < p; r++) {
        const ready = state[2 * p + r]! > state[r]! ? state[2 * p + r]! : state[r]!;
        state[r] = ready + mlp[r]!.seconds;
      }
    } else {
      for (let r = 0; r < p; r++) state[r] = state[r]! + mlp[r]!.seconds;
    }
    return reduce();
  };

  const addTotals = (totals: RecurrenceTotals, layers: number): void => {
    for (let r = 0; r < p; r++) {
      const layer = sumPriced([qkv[r]!, attentionSum[r]!, o[r]!, mlp[r]!]);
      totals.compute(r, layers * layer.flops, layers * layer.seconds, layers * layer.error, layers * layer.memory);
      const k = Math.floor(r / t);
      for (let s = 1; s < g; s++) totals.transfer((r - t + p) % p, r, layers * ringBytes[((k - s + g) % g) * t + (r % t)]!);
    }
    for (const pair of reduces) {
      for (const op of pair) {
        const schedule = opSchedule(op);
        const tokens = scheduleTokens(schedule, op.blocks);
        for (let x = 0; x < schedule.count; x++) totals.transfer(op.ranks[schedule.src[x]!]!, op.ranks[schedule.dst[x]!]!, layers * reducesPerLayer * tokens[x]! * op.bytes_per_token);
      }
    }
    totals.compute(0, lmHead.flops, lmHead.seconds, lmHead.error, lmHead.memory);
  };

  const perRank = Array.from({ length: p }, (_, r) => tokens[Math.floor(r / t)]!);
  const header: Plan = new PlanBuilder(model).build({ strategy: 'ring-kv', context, partition: perRank, kvTokens: [...perRank], lastRank: 0, tp: t, collective: algorithm });
  return {
    gpus: p,
    state,
    eventsPerLayer,
    runLayer,
    close: () => {
      // lm_head on rank 0 after its last mlp and its share of the all-reduce.
      const ready = state[2 * p]! > state[0]! ? state[2 * p]! : state[0]!;
      state[0] = ready + lmHead.seconds;
      return { ttft: state[0]!, events: 1 };
    },
    header,
    addTotals,
    collectives: (layers) => {
      const uses = new Map<string, CollectiveUse>();
      for (const pair of reduces) {
        for (const op of pair) {
          const use: CollectiveUse = { name: 'allreduce', algorithm: op.algorithm, protocol: op.protocol ?? 'none', channels: op.channels ?? 1, count: 0 };
          const key = `${use.algorithm}/${use.protocol}/${use.channels}`;
          if (!uses.has(key)) uses.set(key, use);
          uses.get(key)!.count += layers * reducesPerLayer;
        }
      }
      return [...uses.values()];
    },
  };
}

/** A position's all-reduces run alone from time 0: each member's share, the last transfer's end, the events. */
export interface ReduceRun {
  memberDone: Float64Array;
  end: number;
  events: number;
}

/**
 * The representative run of each position's all-reduces (reduces[k]: its pair), one engine run per
 * kind: positions whose pairs have the same schedules, sizes, and member routes (latencies,
 * capacities, and which pairs share which links) behave alike.
 */
function representativeReduces(reduces: CollectiveOp[][], router: Router): ReduceRun[] {
  const capacities = router.capacities();
  const runs = new Map<string, ReduceRun>();
  const of = reduces.map((pair) => {
    // The kind: each op's fields but its ranks, and its members' routes.
    const key = reducesKey(pair) + membersRouteKey(pair[0]!.ranks, router, capacities);
    let run = runs.get(key);
    if (run === undefined) {
      run = runTogetherReduces(pair, router);
      runs.set(key, run);
    }
    return run;
  });
  return of;
}

/** Collective ops' fields but their ranks, ids and deps, and their blocks' sizes but not where they lie. */
export function reducesKey(reduces: readonly CollectiveOp[]): string {
  return JSON.stringify(reduces.map((op) => ({ ...op, ranks: undefined, blocks: op.blocks.map(([a, b]) => b - a), id: undefined, deps: undefined })));
}

/**
 * Each member pair's route: its latency, and its links' capacities with the links renumbered in
 * order of first use (so which pairs share which links shows, but not which links they are).
 */
export function membersRouteKey(ranks: readonly number[], router: Router, capacities: Float64Array): string {
  const seen = new Map<number, number>();
  let key = '';
  for (const src of ranks) {
    for (const dst of ranks) {
      if (src === dst) continue;
      const route = router.route(src, dst);
      key += `|${route.latency_s}`;
      for (const resource of route.resources) {
        if (!seen.has(resource)) seen.set(resource, seen.size);
        key += `,${seen.get(resource)}:${capacities[resource]}`;
      }
    }
  }
  return key;
}

/**
 * The engine's run of all-reduces over the same `ranks` (a position's pair, or one) that start
 * together at 0: a plan of one zero-time op per member, the all-reduces after them, and one
 * zero-time op per member after them all (whose start is that member's share's time).
 */
export function runTogetherReduces(reduces: readonly CollectiveOp[], router: Router): ReduceRun {
  const ranks = reduces[0]!.ranks;
  const t = ranks.length;
  const n = reduces.length;
  // The members ranked 0..t-1 (the engine's arrays over pairs of ranks then span the members only).
  const members = ranks.map((_, j) => j);
  const ops: Plan['ops'] = [];
  const shape = { layer: 0, tokens: 1, prefix: 0, keys: 1, causal: true, flops: 0 };
  members.forEach((j) => ops.push({ id: j, kind: 'compute', name: 'o', rank: j, ...shape, deps: [] }));
  reduces.forEach((op, c) => ops.push({ ...op, ranks: members, id: t + c, deps: members }));
  const after = reduces.map((_, c) => t + c);
  members.forEach((j) => ops.push({ id: t + n + j, kind: 'compute', name: 'mlp', rank: j, ...shape, deps: after }));
  const model = { layers: 1 } as Plan['model'];
  const plan = { schema: 'kvr-plan@1', strategy: 'ring-kv', model, context: 1, gpus: t, partition: [], kv_tokens: [], last_rank: 0, ops } as unknown as Plan;
  const program = compilePlan(plan, membersRouter(router, ranks));
  const run = executeProgram(program, new Float64Array(ops.length));
  const memberDone = Float64Array.from(ranks, (_, j) => run.start[run.indexOf[t + n + j]!]!);
  let end = 0;
  for (let i = 0; i < program.count; i++) if (program.isTransfer[i] && run.end[i]! > end) end = run.end[i]!;
  // Events of the all-reduces only (each zero-time op counts one).
  return { memberDone, end, events: run.events - 2 * t };
}

/**
 * `router` as the engine sees it from `ranks` renumbered 0..t-1: routes between members, the
 * links (same ids and capacities) and the topology's background traffic and noise.
 */
function membersRouter(router: Router, ranks: readonly number[]): Router {
  const view: Pick<Router, 'capacities' | 'route' | 'backgroundFlows' | 'noisyResources'> = {
    capacities: () => router.capacities(),
    route: (src, dst) => router.route(ranks[src]!, ranks[dst]!),
    backgroundFlows: () => router.backgroundFlows(),
    noisyResources: () => router.noisyResources(),
  };
  // The engine asks a router for no more than these (sim/engine/engine.ts).
  return view as unknown as Router;
}
