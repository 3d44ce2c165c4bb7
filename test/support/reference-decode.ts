import { kvDtypeBytes } from '../../sim/model/precision.js';
import type { Plan } from '../../sim/plan/plan.js';
import type { KvHoldings, Rect } from '../../sim/result/decode.js';
import type { Router } from '../../sim/topology/routing.js';

// The decode re-shard cost as first written (sim/result/decode.ts before issue 17): one message
// per (source, destination) pair and one route lookup per message, O(p^2). Kept as the oracle the
// per-source link sums of kvTransfers are checked against.

function overlap(a: Rect, b: Rect): Rect | undefined {
  const rect = { t0: Math.max(a.t0, b.t0), t1: Math.min(a.t1, b.t1), h0: Math.max(a.h0, b.h0), h1: Math.min(a.h1, b.h1) };
  return rect.t0 < rect.t1 && rect.h0 < rect.h1 ? rect : undefined;
}

function area(rect: Rect | undefined): number {
  return rect === undefined ? 0 : (rect.t1 - rect.t0) * (rect.h1 - rect.h0);
}

/** Bytes each (source, destination) pair must move so that every rank holds `needed[rank]`. */
export function kvMoves(plan: Plan, holdings: KvHoldings, needed: Rect[]): { src: number; dst: number; bytes: number }[] {
  const m = plan.model;
  const perTokenHead = 2 * m.head_dim * kvDtypeBytes(m) * m.layers;
  const moves: { src: number; dst: number; bytes: number }[] = [];
  needed.forEach((want, dst) => {
    const bySource = new Map<number, number>();
    for (const { rank, rect } of holdings.primary) {
      if (rank === dst) continue;
      const part = overlap(want, rect);
      if (part === undefined) continue;
      let missing = area(part);
      for (const have of holdings.held[dst]!) missing -= area(overlap(part, have));
      if (missing > 0) bySource.set(rank, (bySource.get(rank) ?? 0) + missing * perTokenHead);
    }
    for (const [src, bytes] of [...bySource.entries()].sort((a, b) => a[0] - b[0])) moves.push({ src, dst, bytes });
  });
  return moves;
}

/**
 * Seconds for all `moves` to complete when they leave at once: the route-bottleneck bound. Every
 * directed link must carry the bytes of every move routed over it, so no schedule finishes before
 * max over links of (bytes crossing it / its bandwidth); the largest route latency is added.
 * Background flows and link noise are not counted (they would only slow it down).
 */
export function movesSeconds(moves: { src: number; dst: number; bytes: number }[], router: Router): number {
  if (moves.length === 0) return 0;
  const capacity = router.capacities();
  const load = new Float64Array(capacity.length);
  let latency = 0;
  for (const move of moves) {
    const route = router.route(move.src, move.dst);
    latency = Math.max(latency, route.latency_s);
    for (const resource of route.resources) load[resource]! += move.bytes;
  }
  let slowest = 0;
  load.forEach((bytes, resource) => {
    if (bytes > 0) slowest = Math.max(slowest, bytes / capacity[resource]!);
  });
  return slowest + latency;
}

