import { dedicatedChannels, transferEvents } from '../../engine/layer-recurrence.js';
import { addPriced, sumPriced, type ComputePricer, type PricedShape } from '../../hardware/compute-pricer.js';
import { kvBytesPerToken } from '../../model/model-size.js';
import type { ModelSpec } from '../../model/model-spec.js';
import type { ComputeShape } from '../../work/compute-op.js';
import type { Router } from '../../topology/routing.js';
import { PlanBuilder } from '../plan-builder.js';
import type { PlanRecurrence, RecurrenceTotals } from '../plan-recurrence.js';
import { ringStepShape, zigZag } from './ring-kv.js';

/**
 * ring-kv (no tensor parallelism) as a layer recurrence (sim/engine/layer-recurrence.ts): the ops
 * of ringKvPlan, in its order and with its dependencies, timed as the engine's static schedule
 * times them, without building them. Undefined when the ring's channels (rank i-1 to rank i) share
 * a link, or the topology has background traffic or noise.
 *
 * Per layer, as ringKvPlan lists them: qkv on every rank; for step s = 0..p-1 the transfers of
 * step s+1 (rank i-1 sends rank i the block of rank i-s-1, after the sender holds it and both
 * ranks finished step s-1), then the attention of step s on every rank (after its block arrived);
 * then o and mlp. State between layers: each rank's compute stream and each channel's free time.
 */
export function ringKvRecurrence(model: ModelSpec, context: number, p: number, router: Router, pricer: ComputePricer): PlanRecurrence | undefined {
  const from = (i: number): number => (i - 1 + p) % p;
  const pairs = p > 1 ? Array.from({ length: p }, (_, i) => [from(i), i] as const) : [];
  const links = dedicatedChannels(router, pairs);
  if (links === undefined) return undefined;
  const { latency, narrowest } = links;
  const { chunks, tokens, blocks, late } = zigZag(context, p);
  const kvBytes = kvBytesPerToken(model);
  // Bytes of position j's block: its two chunks' K,V, summed as PlanBuilder.transferRanges sums them.
  const blockBytes = blocks.map((ranges) => {
    let n = 0;
    for (const [a, b] of ranges) n += b - a;
    return n * kvBytes;
  });
  const own = (i: number) => ({ tokens: tokens[i]!, prefix: 0, keys: tokens[i]!, causal: true });
  const qkv = tokens.map((_, i) => pricer.price({ name: 'qkv', ...own(i) }));
  const o = tokens.map((_, i) => pricer.price({ name: 'o', ...own(i) }));
  const mlp = tokens.map((_, i) => pricer.price({ name: 'mlp', ...own(i) }));
  // attentionSeconds[s * p + i]: rank i's step s (step-major, as a step runs over the ranks); and
  // each rank's attention of a layer summed (FLOPs, seconds, band shares) for the totals.
  const attentionSeconds = new Float64Array(p * p);
  const attentionSum = Array.from({ length: p }, () => sumPriced([]));
  // A step's ranks mostly repeat the rank before (every j < i alike, then every j > i): the shape
  // (ringStepShape's, whose query tokens and keys are read here without building it for each of
  // the p^2 pairs) is priced only when it changes.
  let lastTokens = -1;
  let lastKeys = -1;
  let lastPriced: PricedShape | undefined;
  for (let s = 0; s < p; s++) {
    for (let i = 0; i < p; i++) {
      const j = (i - s + p) % p;
      const queries = s === 0 || j < i ? tokens[i]! : chunks[late(i)]!;
      const keys = s === 0 ? tokens[i]! : j < i ? chunks[j]! : chunks[j]! + chunks[late(j)]!;
      // A step's ranks are all causal (step 0) or all merged partials: within a step the query
      // tokens and keys tell shapes apart.
      if (i === 0 || queries !== lastTokens || keys !== lastKeys) {
        const step = ringStepShape(chunks, tokens, i, s, p, late) as ComputeShape;
        step.name = 'attn';
        lastPriced = pricer.price(step);
        lastTokens = queries;
        lastKeys = keys;
      }
      attentionSeconds[s * p + i] = lastPriced!.seconds;
      addPriced(attentionSum[i]!, lastPriced!);
    }
  }
  const lmHead = pricer.price({ name: 'lm_head', tokens: 1, prefix: context - 1, keys: context, causal: true });

  let eventsPerLayer = p * (p + 3);
  for (let i = 0; i < p && p > 1; i++) for (let s = 1; s < p; s++) eventsPerLayer += transferEvents(latency[i]!, blockBytes[(i - s + p) % p]!);

  // state: compute streams 0..p-1, then the channel into rank i at p + i.
  const state = new Float64Array(p > 1 ? 2 * p : p);
  const seconds = { qkv: Float64Array.from(qkv, (op) => op.seconds), o: Float64Array.from(o, (op) => op.seconds), mlp: Float64Array.from(mlp, (op) => op.seconds), attention: attentionSeconds, halves: stepHalves(attentionSeconds, p) };
  const scratch = { received: new Float64Array(p), receiving: new Float64Array(p) };
  const drains = drainTable(blockBytes, narrowest);
  const runLayer = (): void => ringKvLayer(p, state, seconds, latency, drains, scratch);

  const addTotals = (totals: RecurrenceTotals, layers: number): void => {
    for (let i = 0; i < p; i++) {
      const layer = sumPriced([qkv[i]!, attentionSum[i]!, o[i]!, mlp[i]!]);
      totals.compute(i, layers * layer.flops, layers * layer.seconds, layers * layer.error, layers * layer.memory);
      // Rank i receives every block but its own, from rank i-1.
      for (let s = 1; s < p; s++) totals.transfer(from(i), i, layers * blockBytes[(i - s + p) % p]!);
    }
    totals.compute(0, lmHead.flops, lmHead.seconds, lmHead.error, lmHead.memory);
  };

  const header = new PlanBuilder(model).build({ strategy: 'ring-kv', context, partition: tokens, kvTokens: [...tokens], lastRank: 0 });
  return {
    gpus: p,
    state,
    eventsPerLayer,
    runLayer,
    close: () => {
      // lm_head on rank 0 after its last mlp.
      state[0] = state[0]! + lmHead.seconds;
      return { ttft: state[0]!, events: 1 };
    },
    header,
    addTotals,
    collectives: () => [],
  };
}

/**
 * Each step's attention seconds as two values, ranks i < s and i >= s (with even zig-zag chunks
 * every rank of a step prices one of two shapes: against an earlier or a later position's block),
 * or undefined when some step has more. Two arrays of p replace the p x p table in the hot loop:
 * on 1024 GPUs that table is 8 MB, read once a layer from beyond the caches.
 */
function stepHalves(attention: Float64Array, p: number): { before: Float64Array; after: Float64Array } | undefined {
  const before = new Float64Array(p);
  const after = new Float64Array(p);
  for (let s = 0; s < p; s++) {
    const base = s * p;
    before[s] = attention[base]!;
    after[s] = attention[base + Math.min(s, p - 1)]!;
    for (let i = 0; i < p; i++) if (attention[base + i] !== (i < s ? before[s] : after[s])) return undefined;
  }
  return { before, after };
}

/**
 * One layer of ringKvRecurrence from `state` (a plain function over typed arrays: it runs a million
 * times a layer on 1024 GPUs). Each op as the static schedule times it: a compute op starts at the
 * later of its stream's free time and its dependencies' ends; a transfer leaves at the later of
 * its channel's free time and its dependencies' ends, waits its latency, then drains.
 *
 * A stream's free time is its last op's end, so the ends a step's ops wait for are read from
 * `state`: qkv's (step 0) and step s-1's attention's. The transfers of step s+1 and the attention
 * of step s (listed in that order) do not wait for each other, so one pass over the ranks runs
 * both (anyStep).
 */
function ringKvLayer(
  p: number,
  state: Float64Array,
  seconds: { qkv: Float64Array; o: Float64Array; mlp: Float64Array; attention: Float64Array; halves: { before: Float64Array; after: Float64Array } | undefined },
  latency: Float64Array,
  drains: DrainTable,
  scratch: { received: Float64Array; receiving: Float64Array },
): void {
  const attention = seconds.attention;
  const halves = seconds.halves;
  const drainOf = drains.drainOf;
  // received[i]: end of the transfer that brought rank i its block of the current step; the
  // channel into rank i carries only these, so it is also that channel's free time (at step 0,
  // the previous layer's last receive, as `state` holds it between layers).
  let received = scratch.received;
  let receiving = scratch.receiving;
  received.set(state.subarray(p, 2 * p));
  // qkv, after the previous layer's mlp (the stream's last op).
  for (let i = 0; i < p; i++) state[i] = state[i]! + seconds.qkv[i]!;
  for (let s = 0; s < p; s++) {
    const next = s + 1;
    const base = s * p;
    if (next > 1 && next < p && drainOf !== undefined) {
      // A middle step with blocks of one size (most of the work): anyStep without its branches.
      if (halves !== undefined) middleStepHalves(p, s, state, received, receiving, latency, drainOf, halves.before[s]!, halves.after[s]!);
      else middleStep(p, base, state, received, receiving, latency, drainOf, attention);
    } else {
      anyStep(p, s, state, received, receiving, latency, drains, attention);
    }
    if (next < p) {
      const swap = received;
      received = receiving;
      receiving = swap;
    }
  }
  for (let i = 0; i < p; i++) {
    state[i] = state[i]! + seconds.o[i]!;
    state[i] = state[i]! + seconds.mlp[i]!;
  }
  if (p > 1) state.set(received, p);
  scratch.received = received;
  scratch.receiving = receiving;
}

/**
 * Step s of ringKvLayer: the transfers of step s+1 (if any) and the attention of step s, in one
 * pass over the ranks (a small function of its own: the hot loop of a million-op layer compiles
 * better alone). Rank i's transfer reads rank i-1's stream time and receive from before rank i-1's
 * step-s attention, carried from the previous iteration.
 */
function anyStep(p: number, s: number, state: Float64Array, received: Float64Array, receiving: Float64Array, latency: Float64Array, drains: DrainTable, attention: Float64Array): void {
  const next = s + 1;
  const base = s * p;
  const { table: drainTable, blockClass, linkClass } = drains;
  let senderStream = state[p - 1]!;
  let senderReceived = received[p - 1]!;
  for (let i = 0; i < p; i++) {
    const stream = state[i]!;
    const got = received[i]!;
    if (next < p) {
      // Step s+1's block leaves rank i-1 once it holds it (its qkv, or its receive of step s)
      // and both ranks finished step s-1, and once the channel is free (after `got`).
      let ready = stream > senderStream ? stream : senderStream;
      if (next > 1 && senderReceived > ready) ready = senderReceived;
      const flowAt = (ready > got ? ready : got) + latency[i]!;
      // Seconds of the block of rank i - next over the channel into rank i.
      receiving[i] = flowAt + drainTable[blockClass[i >= next ? i - next : i - next + p]! + linkClass[i]!]!;
    }
    // Step s's attention, once its block is here (step 0: its own, after qkv).
    const ready = s === 0 ? stream : got > stream ? got : stream;
    state[i] = ready + attention[base + i]!;
    senderStream = stream;
    senderReceived = got;
  }
}

/** anyStep for a middle step (1 <= s < p-1) when every block has the same size: no branches but the maxima. */
function middleStep(p: number, base: number, state: Float64Array, received: Float64Array, receiving: Float64Array, latency: Float64Array, drainOf: Float64Array, attention: Float64Array): void {
  let senderStream = state[p - 1]!;
  let senderReceived = received[p - 1]!;
  for (let i = 0; i < p; i++) {
    const stream = state[i]!;
    const got = received[i]!;
    let ready = stream > senderStream ? stream : senderStream;
    if (senderReceived > ready) ready = senderReceived;
    receiving[i] = (ready > got ? ready : got) + latency[i]! + drainOf[i]!;
    state[i] = (got > stream ? got : stream) + attention[base + i]!;
    senderStream = stream;
    senderReceived = got;
  }
}

/** middleStep with the step's attention as two values: `early` for ranks i < s, `late` for the rest. */
function middleStepHalves(p: number, s: number, state: Float64Array, received: Float64Array, receiving: Float64Array, latency: Float64Array, drainOf: Float64Array, early: number, late: number): void {
  let senderStream = state[p - 1]!;
  let senderReceived = received[p - 1]!;
  for (let i = 0; i < p; i++) {
    const stream = state[i]!;
    const got = received[i]!;
    let ready = stream > senderStream ? stream : senderStream;
    if (senderReceived > ready) ready = senderReceived;
    receiving[i] = (ready > got ? ready : got) + latency[i]! + drainOf[i]!;
    state[i] = (got > stream ? got : stream) + (i < s ? early : late);
    senderStream = stream;
    senderReceived = got;
  }
}

/**
 * Drain seconds (bytes / narrowest capacity; 0 for no bytes, as the static schedule adds none) of
 * every block over every channel,
 * tabled by distinct values: a ring has few block sizes and link kinds, and a lookup is cheaper
 * than the division it stands for (the same division, so the same bits).
 */
interface DrainTable {
  table: Float64Array;
  /** Row of each block (its class x the link classes), and column of each channel. */
  blockClass: Int32Array;
  linkClass: Int32Array;
  /** With blocks of one size: each channel's drain. */
  drainOf?: Float64Array;
}

function drainTable(blockBytes: readonly number[], narrowest: Float64Array): DrainTable {
  const classes = (values: ArrayLike<number>): { of: Int32Array; distinct: number[] } => {
    const index = new Map<number, number>();
    const distinct: number[] = [];
    const of = new Int32Array(values.length);
    for (let k = 0; k < values.length; k++) {
      let c = index.get(values[k]!);
      if (c === undefined) {
        c = distinct.length;
        index.set(values[k]!, c);
        distinct.push(values[k]!);
      }
      of[k] = c;
    }
    return { of, distinct };
  };
  const blocks = classes(blockBytes);
  const links = classes(narrowest);
  const width = links.distinct.length;
  const table = new Float64Array(blocks.distinct.length * width);
  blocks.distinct.forEach((bytes, b) => links.distinct.forEach((rate, l) => (table[b * width + l] = bytes === 0 ? 0 : bytes / rate)));
  const drains: DrainTable = { table, blockClass: blocks.of.map((c) => c * width), linkClass: links.of };
  if (blocks.distinct.length === 1) drains.drainOf = Float64Array.from(links.of, (l) => table[l]!);
  return drains;
}
