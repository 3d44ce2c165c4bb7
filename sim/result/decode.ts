import type { GpuSpec } from '../hardware/gpu-spec.js';
import { kvDtypeBytes } from '../model/precision.js';
import { evenPartition, prefixes } from '../plan/partition.js';
import type { Plan } from '../plan/plan.js';
import { withPlanFields } from '../plan/table-plan.js';
import { tensorShards } from '../plan/tensor-shard.js';
import { stageLayers } from '../plan/strategies/pp-chunked.js';
import { kvBytesPerToken, shardedWeightBytes } from '../model/model-size.js';
import type { Router } from '../topology/routing.js';

/**
 * What decoding needs after a prefill: the KV-cache must be laid out for the decode strategy.
 *
 * Decode layout (`tp`): tensor parallelism over the same p GPUs: rank r keeps the K,V of the KV
 * heads its query heads read (sim/plan/tensor-shard.ts, TP over p) for all C tokens, and the
 * matching weight shard. Re-sharding moves every K,V slice a rank lacks from the rank that
 * produced it; replicating gives every rank the whole cache (all heads, all tokens) instead.
 * Both are timed on the topology's routes (the same routing as prefill): all transfers (one
 * message per (source, destination) pair) leave at once on an idle network, and the time is the
 * route-bottleneck bound (kvTransfers): the busiest link's bytes over its bandwidth, plus the
 * largest route latency.
 *
 * KV-Runahead leaves the whole cache on its last rank (max_kv_cache_*): it must fit there during
 * prefill (the result's `fits`), and decode then either runs there or re-shards.
 */
export interface DecodeReadiness {
  layout: 'tp';
  /** GPUs of the decode layout (the prefill's). */
  tp: number;
  /** K,V bytes (all layers) that must cross the network to reach the decode layout. */
  reshard_bytes: number;
  /** Time of those transfers on the topology (route-bottleneck bound, see kvTransfers). */
  reshard_s: number;
  /** K,V bytes for every rank to hold the whole cache. */
  replicate_bytes: number;
  replicate_s: number;
  /** The rank holding the most K,V after prefill, and how much. */
  max_kv_cache_rank: number;
  max_kv_cache_bytes: number;
  /** K,V bytes of the fullest rank in the decode layout. */
  decode_kv_bytes_per_rank: number;
  /** Whether every rank's decode weight shard plus its K,V fit its GPU (activations not counted). */
  decode_fits: boolean;
}

/** Tokens [t0, t1) x KV heads [h0, h1). */
export interface Rect {
  t0: number;
  t1: number;
  h0: number;
  h1: number;
}

/** K,V a rank holds after prefill, and for each slice the rank that produced it (its source). */
export interface KvHoldings {
  /** Disjoint rectangles per rank. */
  held: Rect[][];
  /** Disjoint rectangles covering the whole cache, each with the rank that serves it. */
  primary: { rank: number; rect: Rect }[];
}

export function kvHoldings(plan: Plan): KvHoldings {
  const { model, context: C, gpus: p } = plan;
  const H = model.kv_heads;
  const all = (t0: number, t1: number): Rect => ({ t0, t1, h0: 0, h1: H });
  switch (plan.strategy) {
    case 'ring-kv': {
      // Position k = r / t holds zig-zag chunks k and 2g-1-k, of shard r mod t's KV heads.
      const t = plan.tp ?? 1;
      const g = p / t;
      const shards = tensorShards(model, t);
      const chunks = evenPartition(C, 2 * g);
      const starts = prefixes(chunks);
      const chunk = (k: number, h0: number, h1: number): Rect => ({ t0: starts[k]!, t1: starts[k]! + chunks[k]!, h0, h1 });
      const held = Array.from({ length: p }, (_, r) => {
        const k = Math.floor(r / t);
        const sh = t > 1 ? shards[r % t]! : { first_kv_head: 0, kv_heads: H };
        return [chunk(k, sh.first_kv_head, sh.first_kv_head + sh.kv_heads), chunk(2 * g - 1 - k, sh.first_kv_head, sh.first_kv_head + sh.kv_heads)];
      });
      const primary: { rank: number; rect: Rect }[] = [];
      for (let k = 0; k < g; k++) {
        let next = 0;
        for (let j = 0; j < t; j++) {
          const rects = held[k * t + j]!;
          const h1 = rects[0]!.h1;
          if (h1 <= next) continue;
          for (const rect of rects) primary.push({ rank: k * t + j, rect: { ...rect, h0: Math.max(next, rect.h0) } });
          next = h1;
        }
      }
      return { held, primary };
    }
    case 'tp':
    case 'tp-sp':
    case 'kvr-tp': {
      const t = plan.tp ?? 1;
      const shards = tensorShards(model, t);
      const groups = p / t;
      const chunks = Array.from({ length: groups }, (_, k) => plan.partition[k * t]!);
      const starts = prefixes(chunks);
      const held = Array.from({ length: p }, (_, r) => {
        const s = shards[r % t]!;
        return [{ t0: 0, t1: plan.kv_tokens[r]!, h0: s.first_kv_head, h1: s.first_kv_head + s.kv_heads }];
      });
      // A KV head replicated on several positions is served by the first of them.
      const primary: { rank: number; rect: Rect }[] = [];
      for (let k = 0; k < groups; k++) {
        let next = 0;
        shards.forEach((s, j) => {
          const h1 = s.first_kv_head + s.kv_heads;
          if (h1 <= next) return;
          primary.push({ rank: k * t + j, rect: { t0: starts[k]!, t1: starts[k]! + chunks[k]!, h0: Math.max(next, s.first_kv_head), h1 } });
          next = h1;
        });
      }
      return { held, primary };
    }
    case 'ring-q':
      return kvHoldings(withPlanFields(plan, { strategy: 'ring-kv' }));
    case 'pp-chunked': {
      // Stage s holds its layers' K,V of every token. Holdings are token x head rectangles over all
      // layers, so a stage's share is written as the token range of the same size
      // (C x its layers / L): the bytes any move takes are the same.
      const t = plan.tp ?? 1;
      const pp = plan.pp ?? p / t;
      const shards = tensorShards(model, t);
      const layers = stageLayers(model.layers, pp);
      const first = prefixes(layers);
      const span = (s: number): [number, number] => [Math.round((C * first[s]!) / model.layers), Math.round((C * (first[s]! + layers[s]!)) / model.layers)];
      const held = Array.from({ length: p }, (_, r) => {
        const [t0, t1] = span(Math.floor(r / t));
        const sh = shards[r % t]!;
        return [{ t0, t1, h0: sh.first_kv_head, h1: sh.first_kv_head + sh.kv_heads }];
      });
      const primary: { rank: number; rect: Rect }[] = [];
      for (let s = 0; s < pp; s++) {
        const [t0, t1] = span(s);
        let next = 0;
        shards.forEach((sh, j) => {
          const h1 = sh.first_kv_head + sh.kv_heads;
          if (h1 <= next) return;
          primary.push({ rank: s * t + j, rect: { t0, t1, h0: Math.max(next, sh.first_kv_head), h1 } });
          next = h1;
        });
      }
      return { held, primary };
    }
    default: {
      // single, tsp, kvr*: rank r holds K,V of tokens [0, kv_tokens[r]) and produced its own chunk.
      const starts = prefixes(plan.partition);
      return {
        held: plan.kv_tokens.map((tokens) => [all(0, tokens)]),
        primary: plan.partition.map((c, rank) => ({ rank, rect: all(starts[rank]!, starts[rank]! + c) })),
      };
    }
  }
}

/**
 * KV bytes per token and KV head over all layers: K and V of one head; under MLA (one latent that
 * every head reads) the latent's bytes spread evenly over the kv_heads, so the rectangles of
 * tokens x heads still add up to the cache.
 */
function kvBytesPerTokenHead(m: Plan['model']): number {
  return m.mla === undefined ? 2 * m.head_dim * kvDtypeBytes(m) * m.layers : (kvBytesPerToken(m) * m.layers) / m.kv_heads;
}

/**
 * Bytes and time to give every rank `needed[rank]`: each rank lacking part of it receives that
 * part from the rank serving it (holdings.primary), one message per (source, destination) pair,
 * all leaving at once on an idle network. The time is the route-bottleneck bound: every directed
 * link must carry the bytes of every message routed over it, so no schedule finishes before max
 * over links of (bytes crossing it / its bandwidth); the largest route latency is added.
 * Background flows and link noise are not counted (they would only slow it down).
 *
 * Link loads are summed per source over its routes (Router.addRouteLoads), not per pair: p^2
 * messages cost p passes over the routes, no route lookup or object per message.
 */
export function kvTransfers(plan: Plan, holdings: KvHoldings, needed: readonly Rect[], router: Router): { bytes: number; seconds: number } {
  const m = plan.model;
  const perTokenHead = kvBytesPerTokenHead(m);
  const p = needed.length;
  // Each source's served rectangles and each rank's held ones as flat arrays (t0, t1, h0, h1 in a
  // row; CSR by rank): p^2 pairs read them, a million on 1024 GPUs.
  const flatten = (byRank: Rect[][]): { offset: Int32Array; rects: Float64Array } => {
    const offset = new Int32Array(byRank.length + 1);
    byRank.forEach((rects, r) => (offset[r + 1] = offset[r]! + rects.length));
    const rects = new Float64Array(4 * offset[byRank.length]!);
    byRank.flat().forEach((rect, k) => rects.set([rect.t0, rect.t1, rect.h0, rect.h1], 4 * k));
    return { offset, rects };
  };
  const servedByRank: Rect[][] = Array.from({ length: p }, () => []);
  for (const { rank, rect } of holdings.primary) servedByRank[rank]!.push(rect);
  const served = flatten(servedByRank);
  const held = flatten(holdings.held);

  /** What src must send dst: each of src's slices, within dst's want, less what dst holds. */
  const pairBytes = (src: number, dst: number): number => {
    const want = needed[dst]!;
    let bytes = 0;
    const s = served.rects;
    const h = held.rects;
    for (let k = 4 * served.offset[src]!; k < 4 * served.offset[src + 1]!; k += 4) {
      const t0 = want.t0 > s[k]! ? want.t0 : s[k]!;
      const t1 = want.t1 < s[k + 1]! ? want.t1 : s[k + 1]!;
      const h0 = want.h0 > s[k + 2]! ? want.h0 : s[k + 2]!;
      const h1 = want.h1 < s[k + 3]! ? want.h1 : s[k + 3]!;
      if (!(t0 < t1 && h0 < h1)) continue;
      let missing = (t1 - t0) * (h1 - h0);
      for (let q = 4 * held.offset[dst]!; q < 4 * held.offset[dst + 1]!; q += 4) {
        const ht0 = t0 > h[q]! ? t0 : h[q]!;
        const ht1 = t1 < h[q + 1]! ? t1 : h[q + 1]!;
        const hh0 = h0 > h[q + 2]! ? h0 : h[q + 2]!;
        const hh1 = h1 < h[q + 3]! ? h1 : h[q + 3]!;
        if (ht0 < ht1 && hh0 < hh1) missing -= (ht1 - ht0) * (hh1 - hh0);
      }
      if (missing > 0) bytes += missing * perTokenHead;
    }
    return bytes;
  };

  // bySource[src * p + dst]: loads are summed by source, as routes share; the total in
  // destination order, as the messages are listed.
  // A pair subtracts what the destination holds only where the destination's held rectangles
  // meet the source's served ones (found through an index); every other destination with the
  // same want gets the same bytes from one source, by the same arithmetic, so one pairBytes per
  // source and kind of want stands for them (ring-kv on 1024 GPUs: ~3,000 calls, not a million).
  const bySource = new Float64Array(p * p);
  const index = heldIndex(held, p);
  const wantClass = classesOf(needed);
  const classValue = new Float64Array(wantClass.count);
  const classSource = new Int32Array(wantClass.count).fill(-1);
  const meets = new Int32Array(p).fill(-1);
  for (let src = 0; src < p; src++) {
    for (let k = 4 * served.offset[src]!; k < 4 * served.offset[src + 1]!; k += 4) {
      index.markMeeting(served.rects[k]!, served.rects[k + 1]!, served.rects[k + 2]!, served.rects[k + 3]!, meets, src);
    }
    const row = src * p;
    for (let dst = 0; dst < p; dst++) {
      if (dst === src) continue;
      if (meets[dst] === src) {
        bySource[row + dst] = pairBytes(src, dst);
        continue;
      }
      const c = wantClass.of[dst]!;
      if (classSource[c] !== src) {
        classSource[c] = src;
        classValue[c] = pairBytes(src, dst);
      }
      bySource[row + dst] = classValue[c]!;
    }
  }
  let total = 0;
  for (let dst = 0; dst < p; dst++) {
    for (let src = 0; src < p; src++) total += bySource[src * p + dst]!;
  }
  if (total === 0) return { bytes: 0, seconds: 0 };
  const capacity = router.capacities();
  const load = new Float64Array(capacity.length);
  let latency = 0;
  for (let src = 0; src < p; src++) {
    latency = Math.max(latency, router.addRouteLoads(src, bySource.subarray(src * p, (src + 1) * p), load));
  }
  let slowest = 0;
  load.forEach((bytes, resource) => {
    if (bytes > 0) slowest = Math.max(slowest, bytes / capacity[resource]!);
  });
  return { bytes: total, seconds: slowest + latency };
}

/** Each rank's want as a class (equal rectangles, equal class), and how many classes. */
function classesOf(needed: readonly Rect[]): { of: Int32Array; count: number } {
  const ids = new Map<string, number>();
  const of = Int32Array.from(needed, (rect) => {
    const key = `${rect.t0},${rect.t1},${rect.h0},${rect.h1}`;
    let id = ids.get(key);
    if (id === undefined) ids.set(key, (id = ids.size));
    return id;
  });
  return { of, count: ids.size };
}

/**
 * Every rank's held rectangles sorted by token start (then end), to find the ranks holding
 * anything that meets a rectangle. Where the ends rise with the starts (rectangles that do not
 * nest: chunks, prefixes [0, x)), those meeting tokens [a, b) are one run found by two binary
 * searches; else every rectangle starting before b is checked.
 */
function heldIndex(held: { offset: Int32Array; rects: Float64Array }, p: number): { markMeeting(t0: number, t1: number, h0: number, h1: number, marks: Int32Array, stamp: number): void } {
  const count = held.offset[p]!;
  const order = Array.from({ length: count }, (_, k) => k);
  const r = held.rects;
  order.sort((x, y) => r[4 * x]! - r[4 * y]! || r[4 * x + 1]! - r[4 * y + 1]!);
  const t0 = Float64Array.from(order, (k) => r[4 * k]!);
  const t1 = Float64Array.from(order, (k) => r[4 * k + 1]!);
  const h0 = Float64Array.from(order, (k) => r[4 * k + 2]!);
  const h1 = Float64Array.from(order, (k) => r[4 * k + 3]!);
  const rankOf = new Int32Array(count);
  for (let rank = 0; rank < p; rank++) rankOf.fill(rank, held.offset[rank]!, held.offset[rank + 1]!);
  const owner = Int32Array.from(order, (k) => rankOf[k]!);
  let rising = true;
  for (let k = 1; k < count && rising; k++) rising = t1[k]! >= t1[k - 1]!;
  /** First position in [0, count) whose value in `sorted` is above `x` (or at least x). */
  const firstAbove = (sorted: Float64Array, x: number, orEqual: boolean): number => {
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! > x || (orEqual && sorted[mid] === x)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  return {
    markMeeting(a, b, c, d, marks, stamp) {
      const end = firstAbove(t0, b, true);
      for (let k = rising ? firstAbove(t1, a, false) : 0; k < end; k++) {
        if (t1[k]! > a && h0[k]! < d && c < h1[k]!) marks[owner[k]!] = stamp;
      }
    },
  };
}

export function decodeReadiness(plan: Plan, gpu: GpuSpec, router: Router, kvCacheBytes: readonly number[]): DecodeReadiness {
  const { model, context: C, gpus: p } = plan;
  const holdings = kvHoldings(plan);
  const shards = tensorShards(model, p);
  const everything = shards.map(() => ({ t0: 0, t1: C, h0: 0, h1: model.kv_heads }));
  // MLA: every head reads the one latent, so each tensor-parallel rank needs all of it.
  const tpNeeds = model.mla !== undefined ? everything : shards.map((s) => ({ t0: 0, t1: C, h0: s.first_kv_head, h1: s.first_kv_head + s.kv_heads }));
  const reshard = kvTransfers(plan, holdings, tpNeeds, router);
  const replicate = kvTransfers(plan, holdings, everything, router);
  let maxRank = 0;
  kvCacheBytes.forEach((bytes, rank) => {
    if (bytes > kvCacheBytes[maxRank]!) maxRank = rank;
  });
  const perTokenHead = kvBytesPerTokenHead(model);
  const decodeKv = shards.map((s) => C * (model.mla !== undefined ? model.kv_heads : s.kv_heads) * perTokenHead);
  const decodeFits = gpu.memory_bytes === null || shards.every((s, r) => shardedWeightBytes(model, s) + decodeKv[r]! <= gpu.memory_bytes!);
  return {
    layout: 'tp',
    tp: p,
    reshard_bytes: reshard.bytes,
    reshard_s: reshard.seconds,
    replicate_bytes: replicate.bytes,
    replicate_s: replicate.seconds,
    max_kv_cache_rank: maxRank,
    max_kv_cache_bytes: kvCacheBytes[maxRank] ?? 0,
    decode_kv_bytes_per_rank: Math.max(...decodeKv),
    decode_fits: decodeFits,
  };
}
