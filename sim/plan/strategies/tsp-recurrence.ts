import { bundledChannels } from '../../engine/bundled-channels.js';
import { transferEnd, transferEvents } from '../../engine/layer-recurrence.js';
import { sumPriced, type ComputePricer } from '../../hardware/compute-pricer.js';
import type { ModelSpec } from '../../model/model-spec.js';
import type { Router } from '../../topology/routing.js';
import { baseLatency, hopLatencyScale } from '../collective-tuner.js';
import { mergedRingLayout, protocolWire, scheduleShape } from '../collectives.js';
import { prefixes } from '../partition.js';
import type { CollectiveAlgorithm } from '../plan.js';
import type { BuilderSetup } from '../plan-builder.js';
import type { PlanRecurrence, RecurrenceTotals } from '../plan-recurrence.js';
import { tspLayout } from './tsp.js';

/**
 * tsp and tsp-causal as a layer recurrence (sim/engine/layer-recurrence.ts): tspPlan's ops, in its
 * order and with its dependencies, timed as the engine's static schedule times them, without
 * building them or the all-gather's schedule (which on 1024 GPUs holds two million transfers).
 *
 * The all-gather is the ring of sim/plan/collectives.ts: one ring (step s: member m sends member
 * m+1 the block of member m-s, once it has received it), or across nodes with n > 1 channels the
 * merged rings (mergedRings: per step, member (k, y) sends (k, y+1) the pieces of the n-1 channels
 * that stay in the node, and (k+1, y+1) the piece of the channel that leaves it). Its first step
 * waits for every rank's qkv (NCCL's together start). Undefined for the direct algorithm, for
 * several channels inside one node (their lanes share links), with fewer than 2 GPUs, or when
 * the ring's channels share a link, but for the channels leaving one node, which may share its
 * uplink or NICs as a bundle (bundledChannels) whose sends runLayer checks leave together with
 * equal bytes (false if not: simulate then runs the plan another way).
 */
export function tspRecurrence(
  model: ModelSpec,
  partition: number[],
  strategy: 'tsp' | 'tsp-causal',
  algorithm: CollectiveAlgorithm | 'auto',
  setup: BuilderSetup,
  router: Router,
  pricer: ComputePricer,
): PlanRecurrence | undefined {
  const { builder, tuned, shapes, header } = tspLayout(model, partition, strategy, algorithm, setup);
  const p = partition.length;
  if (p < 2 || tuned.algorithm === 'direct') return undefined;
  const { channels: n, nodeSize: g } = scheduleShape(p, tuned);
  const nodes = p / g;
  const merged = n > 1 && nodes > 1;
  if ((n > 1 && !merged) || (merged && g < 2)) return undefined;
  const ring = merged ? mergedRing(p, g, n) : singleRing(p);
  // The merged rings' channels leaving one node are a bundle: they may share its uplink or NICs
  // (bundledChannels), and must then leave together with equal bytes. Every other channel is alone.
  const nodeOf = (q: number): number => Math.floor(ring.pairs[q]![0] / g);
  const bundleOf = (q: number): number => (merged && nodeOf(q) !== Math.floor(ring.pairs[q]![1] / g) ? nodeOf(q) : nodes + q);
  const links = bundledChannels(router, ring.pairs, bundleOf);
  if (links === undefined) return undefined;
  const together = links.together;

  // Bytes: data bytes (the result's totals) and wire bytes (the protocol's, what the link carries).
  const perToken = builder.bytesPerToken({});
  const protocol = tuned.protocol;
  const wire = protocolWire(protocol);
  const prefix = prefixes(partition);
  const blocks = partition.map((c, rank) => [prefix[rank]!, prefix[rank]! + c] as const);
  // Latency of each channel: the route's, scaled by the protocol; a first step adds its base.
  const channelCount = ring.pairs.length;
  const latency = new Float64Array(channelCount);
  const firstLatency = new Float64Array(channelCount);
  for (let q = 0; q < channelCount; q++) {
    const [src, dst] = ring.pairs[q]!;
    const inter = Math.floor(src / g) !== Math.floor(dst / g);
    latency[q] = protocol === undefined ? links.latency[q]! : links.latency[q]! * hopLatencyScale(tuned.algorithm, protocol, inter);
    const base = protocol === undefined ? 0 : baseLatency(tuned.algorithm, protocol);
    firstLatency[q] = base > 0 ? latency[q]! + base : latency[q]!;
  }
  const narrowest = links.narrowest;
  // Tokens of every transfer, by (step, sender, which of its channels).
  const tokens = ring.tokens(blocks);
  const { sends, channelOf } = ring;
  const perStep = sends.length;

  const qkv = shapes.map((shape) => pricer.price({ name: 'qkv', ...shape }));
  const attn = shapes.map((shape) => pricer.price({ name: 'attn', ...shape }));
  const o = shapes.map((shape) => pricer.price({ name: 'o', ...shape }));
  const mlp = shapes.map((shape) => pricer.price({ name: 'mlp', ...shape }));
  const lmHead = pricer.price({ name: 'lm_head', tokens: 1, prefix: header.context - 1, keys: header.context, causal: true });

  let eventsPerLayer = 4 * p;
  for (let s = 0; s + 1 < p; s++) {
    for (let k = 0; k < perStep; k++) {
      const q = channelOf[k]!;
      eventsPerLayer += transferEvents(s === 0 ? firstLatency[q]! : latency[q]!, tokens[s * perStep + k]! * perToken * wire);
    }
  }

  // state: compute streams 0..p-1, then channel q at p + q.
  const state = new Float64Array(p + channelCount);
  const qkvEnd = new Float64Array(p);
  // End of the latest transfer into each member over each of its incoming channels (ring.into).
  let lastIn = new Float64Array(2 * p);
  let nextIn = new Float64Array(2 * p);
  // Per node, the step its bundle's first send was met in, when it left and its bytes.
  const bundleStep = new Int32Array(nodes).fill(-1);
  const bundleLeaves = new Float64Array(nodes);
  const bundleBytes = new Float64Array(nodes);
  const runLayer = (): boolean => {
    bundleStep.fill(-1);
    let allQkv = 0;
    for (let r = 0; r < p; r++) {
      qkvEnd[r] = state[r]! + qkv[r]!.seconds;
      state[r] = qkvEnd[r]!;
      if (qkvEnd[r]! > allQkv) allQkv = qkvEnd[r]!;
    }
    for (let s = 0; s + 1 < p; s++) {
      for (let k = 0; k < perStep; k++) {
        const m = sends[k]!;
        const q = channelOf[k]!;
        const ready = s === 0 ? allQkv : ring.ready(k, m, lastIn);
        const bytes = tokens[s * perStep + k]! * perToken;
        if (together[q] === 1) {
          // A bundle's sends share links at one fair rate only if they leave together, alike.
          const leaves = ready > state[p + q]! ? ready : state[p + q]!;
          const b = nodeOf(q);
          if (bundleStep[b] !== s) {
            bundleStep[b] = s;
            bundleLeaves[b] = leaves;
            bundleBytes[b] = bytes;
          } else if (leaves !== bundleLeaves[b] || bytes !== bundleBytes[b]) {
            return false;
          }
        }
        const end = transferEnd(ready, state[p + q]!, s === 0 ? firstLatency[q]! : latency[q]!, protocol === undefined ? bytes : bytes * wire, narrowest[q]!);
        state[p + q] = end;
        nextIn[ring.slotOf[k]!] = end;
      }
      // A step's receives count from the next step on (the schedule adds them after the step).
      const swap = lastIn;
      lastIn = nextIn;
      nextIn = swap;
      nextIn.set(lastIn);
    }
    for (let r = 0; r < p; r++) {
      // attn after its qkv and every block it received: the last on each incoming channel.
      let ready = qkvEnd[r]!;
      for (const q of ring.into[r]!) if (state[p + q]! > ready) ready = state[p + q]!;
      const begin = ready > state[r]! ? ready : state[r]!;
      state[r] = begin + attn[r]!.seconds;
      state[r] = state[r]! + o[r]!.seconds;
      state[r] = state[r]! + mlp[r]!.seconds;
    }
    return true;
  };

  const addTotals = (totals: RecurrenceTotals, layers: number): void => {
    for (let r = 0; r < p; r++) {
      const layer = sumPriced([qkv[r]!, attn[r]!, o[r]!, mlp[r]!]);
      totals.compute(r, layers * layer.flops, layers * layer.seconds, layers * layer.error, layers * layer.memory);
    }
    // Each send's tokens over the steps (whole numbers: the sum is exact), then its bytes.
    for (let k = 0; k < perStep; k++) {
      let sent = 0;
      for (let s = 0; s + 1 < p; s++) sent += tokens[s * perStep + k]!;
      const [src, dst] = ring.pairs[channelOf[k]!]!;
      totals.transfer(src, dst, layers * sent * perToken);
    }
    totals.compute(p - 1, lmHead.flops, lmHead.seconds, lmHead.error, lmHead.memory);
  };

  return {
    gpus: p,
    state,
    eventsPerLayer,
    runLayer,
    close: () => {
      // lm_head on the last rank after its last mlp.
      state[p - 1] = state[p - 1]! + lmHead.seconds;
      return { ttft: state[p - 1]!, events: 1 };
    },
    header: builder.build(header),
    addTotals,
    collectives: (layers) => [{ name: 'allgather', algorithm: 'ring', protocol: protocol ?? 'none', channels: header.channels ?? 1, count: layers }],
  };
}

/**
 * A ring all-gather's sends per step, in the schedule's order: sender and channel of each, where
 * a receive is kept (slotOf: 2 x member + 0 within a node, + 1 across), what a send waits for
 * after the first step, and each step's tokens.
 */
interface RingSends {
  /** Channels as (src, dst) pairs. */
  pairs: [number, number][];
  /** Sender of the k-th send of a step, and its channel. */
  sends: Int32Array;
  channelOf: Int32Array;
  /** Where the k-th send's receiver keeps its end (an index into lastIn). */
  slotOf: Int32Array;
  /** Channels into each member. */
  into: number[][];
  /** Ready time of the k-th send (by member m) of a step after the first, from the ends of the receives before it. */
  ready(k: number, m: number, lastIn: Float64Array): number;
  /** Tokens of each send of each step (index s x sends + k). */
  tokens(blocks: readonly (readonly [number, number])[]): Float64Array;
}

/** One ring 0 -> 1 -> ... -> p-1 -> 0: in step s member m forwards the block of member m-s, once it has received it. */
function singleRing(p: number): RingSends {
  const pairs = Array.from({ length: p }, (_, m): [number, number] => [m, (m + 1) % p]);
  return {
    pairs,
    sends: Int32Array.from({ length: p }, (_, m) => m),
    channelOf: Int32Array.from({ length: p }, (_, m) => m),
    slotOf: Int32Array.from({ length: p }, (_, m) => 2 * ((m + 1) % p)),
    into: Array.from({ length: p }, (_, m) => [(m - 1 + p) % p]),
    ready: (_k, m, lastIn) => lastIn[2 * m]!,
    tokens: (blocks) => {
      const out = new Float64Array((p - 1) * p);
      for (let s = 0; s + 1 < p; s++) {
        for (let m = 0; m < p; m++) {
          const [lo, hi] = blocks[(((m - s) % p) + p) % p]!;
          out[s * p + m] = hi - lo;
        }
      }
      return out;
    },
  };
}

/** Merged rings over nodes of g members with n channels (sim/plan/collectives.ts mergedRings). */
function mergedRing(p: number, g: number, n: number): RingSends {
  const nodes = p / g;
  const mod = (a: number, b: number): number => ((a % b) + b) % b;
  const { at, position, crossChannel } = mergedRingLayout(p, g, n);
  const pairs: [number, number][] = [];
  const sends: number[] = [];
  const channelOf: number[] = [];
  const slotOf: number[] = [];
  const cross: boolean[] = [];
  const into: number[][] = Array.from({ length: p }, () => []);
  for (let m = 0; m < p; m++) {
    const k = Math.floor(m / g);
    const y = m % g;
    const intraDst = k * g + mod(y + 1, g);
    into[intraDst]!.push(pairs.length);
    sends.push(m);
    channelOf.push(pairs.length);
    slotOf.push(2 * intraDst);
    cross.push(false);
    pairs.push([m, intraDst]);
    if (crossChannel(y) < n) {
      const crossDst = mod(k + 1, nodes) * g + mod(y + 1, g);
      into[crossDst]!.push(pairs.length);
      sends.push(m);
      channelOf.push(pairs.length);
      slotOf.push(2 * crossDst + 1);
      cross.push(true);
      pairs.push([m, crossDst]);
    }
  }
  // Members that receive across nodes (from a member with a crossing channel).
  const receivesCross = new Uint8Array(p);
  for (let k = 0; k < sends.length; k++) if (cross[k]) receivesCross[slotOf[k]! >> 1] = 1;
  const isCross = Uint8Array.from(cross, (c) => (c ? 1 : 0));
  return {
    pairs,
    sends: Int32Array.from(sends),
    channelOf: Int32Array.from(channelOf),
    slotOf: Int32Array.from(slotOf),
    into,
    ready: (k, m, lastIn) => {
      // Within the node: both previous receives; across: the one from within the node.
      const intra = lastIn[2 * m]!;
      if (isCross[k] || !receivesCross[m]) return intra;
      const over = lastIn[2 * m + 1]!;
      return over > intra ? over : intra;
    },
    tokens: (blocks) => {
      // Tokens of piece c (of n) of each block, as pieceTokens cuts them.
      const pieces = new Float64Array(p * n);
      for (let b = 0; b < p; b++) {
        const length = blocks[b]![1] - blocks[b]![0];
        for (let c = 0; c < n; c++) pieces[b * n + c] = Math.floor(((c + 1) * length) / n) - Math.floor((c * length) / n);
      }
      const perStep = sends.length;
      const out = new Float64Array((p - 1) * perStep);
      // Blocks of one length (an even split) have the same pieces, so a send carries the same
      // tokens at every step.
      let uniform = true;
      for (let b = 1; b < p && uniform; b++) uniform = blocks[b]![1] - blocks[b]![0] === blocks[0]![1] - blocks[0]![0];
      if (uniform) {
        for (let k = 0; k < perStep; k++) {
          const leaving = crossChannel(sends[k]! % g);
          let total = 0;
          for (let c = 0; c < n; c++) if (isCross[k] ? c === leaving : c !== leaving) total += pieces[c]!;
          for (let s = 0; s + 1 < p; s++) out[s * perStep + k] = total;
        }
        return out;
      }
      for (let k = 0; k < perStep; k++) {
        const m = sends[k]!;
        const leaving = crossChannel(m % g);
        for (let s = 0; s + 1 < p; s++) {
          // Channel c's piece at member m in step s: that of the block at(c, position(c, m) - s).
          let total = 0;
          for (let c = 0; c < n; c++) {
            if (isCross[k] ? c !== leaving : c === leaving) continue;
            total += pieces[at(c, position(c, m) - s) * n + c]!;
          }
          out[s * perStep + k] = total;
        }
      }
      return out;
    },
  };
}
