import type { ModelSpec } from '../model/model-spec.js';
import { kvBytesPerToken } from '../model/model-size.js';
import type { KvrHops, KvrStagePricer } from '../plan/strategies/kvr-recurrence.js';

/** Relative margin by which a lower bound must pass the caller's bound before a run stops early (rounding of its sums). */
const BOUND_MARGIN = 1e-12;
/**
 * The same for the rest-of-chain estimate, whose sums run in another order than the run's: over
 * p x L ops (130,000 at 1024 GPUs and 126 layers) their rounding differs by well under 1e-10.
 */
const ESTIMATE_MARGIN = 1e-9;

/** A rank's costs in a run: its ops' seconds and its hop's drain (per layer). */
interface RankCosts {
  qkv: Float64Array;
  attn: Float64Array;
  o: Float64Array;
  mlp: Float64Array;
  drain: Float64Array;
}

function rankCosts(p: number): RankCosts {
  return { qkv: new Float64Array(p), attn: new Float64Array(p), o: new Float64Array(p), mlp: new Float64Array(p), drain: new Float64Array(p) };
}

/**
 * KV-Runahead's chain (kvrRecurrence) run rank by rank for a partition search, reusing what the
 * partitions before it share.
 *
 * Rank by rank: in the chain, rank i's ops wait only for its own earlier ops and for rank i-1's
 * sends, so all L layers of rank i follow from the times rank i-1's sends arrive (one number a
 * layer) and produce the arrivals at rank i+1. Each op's time is the same max and sums of the
 * same numbers as kvrRecurrence's layer by layer, so the TTFT is the same bits (kvrRecurrence
 * runs without the periodic shortcut for this reason).
 *
 * Reuse: ranks before the first rank whose chunk differs from the last partition that came in
 * under its bound (the kept partition: a search's incumbent, as it moves to the candidates it
 * takes) have the same times, so a run starts at that rank from the arrivals it kept.
 *
 * Two early stops, once a run has passed rank i:
 * - Lower bound: TTFT is at least the last layer's arrival at rank i+1, plus every later hop's
 *   last send (each waits for the one before), plus the last rank's attn, o, mlp and lm_head.
 *   Once that passes the caller's bound (by BOUND_MARGIN for rounding), the run stops.
 * - Dominance: if every rank after i has the kept partition's chunk and prefix, the rest of the
 *   chain is the kept one's, fed other arrivals. Max and rounded addition are monotone, so if no
 *   arrival at rank i+1 is earlier than the kept one's, the TTFT is at least the kept TTFT (and
 *   equal, bit for bit, if all arrivals are equal): when that is not below the bound, the run stops.
 * - Rest of the chain: in the same case (ranks after i unchanged), the rest of the chain is a
 *   max-plus system of the arrivals at rank i+1, so TTFT = max(Z, max over layers l of arrival(l)
 *   + D(l)), where D(l) is the longest path from layer l's arrival at rank i+1 to the first token
 *   and Z the longest from the later ranks' own starts, both of the kept partition (a backward
 *   pass, redone only for ranks up to the last one a kept partition changed). Summed in another
 *   order, the estimate differs from the run's TTFT by rounding only: the run stops when it is
 *   above the bound by ESTIMATE_MARGIN, and runs on otherwise (it must give the bits).
 * A stopped run tells the caller only a number at least its bound (and at most its TTFT).
 */
export class IncrementalKvrChain {
  private readonly layers: number;
  private readonly kvBytes: number;
  /** Arrivals of the kept partition: arrivals[i * layers + l], rank i-1's send of layer l (rank 0: unused). */
  private readonly arrivals: Float64Array;
  /** A run's arrivals. */
  private readonly scratch: Float64Array;
  /** The kept partition, its prefixes, costs and TTFT. */
  private kept: number[] | undefined;
  private readonly keptPrefix: Float64Array;
  private readonly keptCosts: RankCosts;
  private keptTtft = Infinity;
  /**
   * The kept partition's rest of the chain: toEnd[i * layers + l], the longest path from layer
   * l's arrival at rank i to the first token, and fromStart[i], the longest from the own starts
   * of ranks i and after; valid for ranks toEndFrom and after.
   */
  private readonly toEnd: Float64Array;
  private readonly fromStart: Float64Array;
  private toEndFrom: number;
  /** The current run's costs, and the lower bound's tail (see ttftBelow). */
  private readonly costs: RankCosts;
  private readonly prefix: Float64Array;
  private readonly tail: Float64Array;
  /** Runs, and the ranks they ran (reuse and early stops make it less than runs x p). */
  runs = 0;
  ranksRun = 0;

  constructor(
    model: ModelSpec,
    private readonly hops: KvrHops,
    private readonly stages: KvrStagePricer,
    private readonly lmHeadSeconds: number,
    private readonly p: number,
  ) {
    this.layers = model.layers;
    this.kvBytes = kvBytesPerToken(model);
    this.arrivals = new Float64Array(p * this.layers);
    this.scratch = new Float64Array(p * this.layers);
    this.keptPrefix = new Float64Array(p);
    this.keptCosts = rankCosts(p);
    this.costs = rankCosts(p);
    this.prefix = new Float64Array(p);
    this.tail = new Float64Array(p);
    this.toEnd = new Float64Array(p * this.layers);
    this.fromStart = new Float64Array(p);
    this.toEndFrom = p;
  }

  /**
   * The partition's TTFT (kvrRecurrence's, bit for bit) when it is below `bound`; otherwise some
   * number at least `bound` (the run may have stopped early). A partition that comes in under the
   * bound is kept for reuse.
   */
  ttftBelow(partition: readonly number[], bound: number): number {
    const { p, layers, costs, kept } = this;
    let first = 0;
    if (kept !== undefined) while (first < p && kept[first] === partition[first]) first += 1;
    if (first === p) first = p - 1; // the kept partition itself: rerun its last rank
    let P = 0;
    for (let i = 0; i < first; i++) P += partition[i]!;
    // Costs from `first` on (the kept ones where chunk and prefix are the kept ones), and the
    // last rank whose chunk or prefix differs from the kept partition's.
    let lastChanged = first;
    for (let i = first; i < p; i++) {
      const c = partition[i]!;
      this.prefix[i] = P;
      if (kept !== undefined && c === kept[i] && P === this.keptPrefix[i]) {
        costs.qkv[i] = this.keptCosts.qkv[i]!;
        costs.attn[i] = this.keptCosts.attn[i]!;
        costs.o[i] = this.keptCosts.o[i]!;
        costs.mlp[i] = this.keptCosts.mlp[i]!;
        costs.drain[i] = this.keptCosts.drain[i]!;
      } else {
        lastChanged = i;
        const stage = this.stages.stage(c, P);
        costs.qkv[i] = stage[0]!.seconds;
        costs.attn[i] = stage[1]!.seconds;
        costs.o[i] = stage[2]!.seconds;
        costs.mlp[i] = stage[3]!.seconds;
        const bytes = (P + c) * this.kvBytes;
        costs.drain[i] = i + 1 < p && bytes !== 0 ? bytes / this.hops.narrowest[i]! : 0;
      }
      P += c;
    }
    // tail[i] (i < p-1): after the last layer reaches rank i+1, hops i+1 .. p-2 each send it on,
    // then the last rank runs attn, o, mlp and lm_head.
    let after = costs.attn[p - 1]! + costs.o[p - 1]! + costs.mlp[p - 1]! + this.lmHeadSeconds;
    for (let i = p - 2; i >= first; i--) {
      this.tail[i] = after;
      after += this.hops.latency[i]! + costs.drain[i]!;
    }
    const stop = bound * (1 + BOUND_MARGIN);
    // Dominance can stop the run only where the kept TTFT itself does not beat the bound.
    const dominanceStops = kept !== undefined && !(this.keptTtft < bound);
    const out = this.scratch;
    const keptArrivals = this.arrivals;
    this.runs += 1;
    let stream = 0;
    for (let i = first; i < p; i++) {
      this.ranksRun += 1;
      const arrivalsIn = i === first ? keptArrivals : out;
      const inAt = i * layers;
      const outAt = (i + 1) * layers;
      const q = costs.qkv[i]!;
      const attn = costs.attn[i]!;
      const o = costs.o[i]!;
      const mlp = costs.mlp[i]!;
      const sends = i + 1 < p;
      const latency = sends ? this.hops.latency[i]! : 0;
      const drain = costs.drain[i]!;
      // Whether every arrival at rank i+1 is no earlier than the kept partition's.
      let notEarlier = true;
      stream = 0;
      let hopFree = 0;
      for (let l = 0; l < layers; l++) {
        // As kvrLayer: qkv after the previous mlp; attn and the send once the receive is here too.
        const qkvEnd = stream + q;
        const received = arrivalsIn[inAt + l]!;
        const ready = i > 0 && received > qkvEnd ? received : qkvEnd;
        if (sends) {
          hopFree = (ready > hopFree ? ready : hopFree) + latency + drain;
          out[outAt + l] = hopFree;
          if (hopFree < keptArrivals[outAt + l]!) notEarlier = false;
        }
        stream = ready + attn + o + mlp;
      }
      if (sends) {
        const atLeast = hopFree + this.tail[i]!;
        if (atLeast > stop) return atLeast;
        if (i >= lastChanged) {
          if (dominanceStops && notEarlier) return this.keptTtft;
          const estimate = this.restOfChain(i + 1, out);
          if (estimate > bound * (1 + ESTIMATE_MARGIN)) return Math.max(bound, estimate * (1 - ESTIMATE_MARGIN));
        }
      }
    }
    const ttft = stream + this.lmHeadSeconds;
    if (ttft < bound) this.keep(partition, first, lastChanged, ttft);
    return ttft;
  }

  /** The kept rest of the chain from rank `rank` on, fed a run's arrivals at it (see the class comment). */
  private restOfChain(rank: number, arrivals: Float64Array): number {
    if (rank < this.toEndFrom) this.extendToEnd(rank);
    const layers = this.layers;
    const at = rank * layers;
    let longest = this.fromStart[rank]!;
    for (let l = 0; l < layers; l++) {
      const through = arrivals[at + l]! + this.toEnd[at + l]!;
      if (through > longest) longest = through;
    }
    return longest;
  }

  /**
   * Extends toEnd and fromStart of the kept partition down to rank `down`, backwards: from layer
   * l's arrival at rank i, the path goes on to attn, o and mlp and the next layer's qkv, or to
   * the send to rank i+1 and on from its arrival there or from the hop's next send.
   */
  private extendToEnd(down: number): void {
    const { p, layers, keptCosts: costs, toEnd } = this;
    for (let i = this.toEndFrom - 1; i >= down; i--) {
      const compute = costs.attn[i]! + costs.o[i]! + costs.mlp[i]!;
      const q = costs.qkv[i]!;
      const send = i + 1 < p ? this.hops.latency[i]! + costs.drain[i]! : 0;
      let nextReady = -Infinity; // from layer l+1's ready on rank i
      let nextSent = -Infinity; // from the end of the hop's send of layer l+1
      for (let l = layers - 1; l >= 0; l--) {
        const afterMlp = l + 1 < layers ? q + nextReady : i === p - 1 ? this.lmHeadSeconds : -Infinity;
        let ready = compute + afterMlp;
        if (i + 1 < p) {
          const arrived = toEnd[(i + 1) * layers + l]!;
          const sent = arrived > send + nextSent ? arrived : send + nextSent;
          if (send + sent > ready) ready = send + sent;
          nextSent = sent;
        }
        toEnd[i * layers + l] = ready;
        nextReady = ready;
      }
      const own = q + toEnd[i * layers]!;
      this.fromStart[i] = i + 1 < p && this.fromStart[i + 1]! > own ? this.fromStart[i + 1]! : own;
    }
    this.toEndFrom = down;
  }

  /**
   * Keeps the partition just run: ranks up to `first` are as they were, the later ones as in the
   * run; the rest of the chain holds only after `lastChanged`, the last rank whose costs changed.
   */
  private keep(partition: readonly number[], first: number, lastChanged: number, ttft: number): void {
    const { p, layers } = this;
    this.toEndFrom = Math.max(this.toEndFrom, lastChanged + 1);
    if (first + 1 < p) this.arrivals.set(this.scratch.subarray((first + 1) * layers), (first + 1) * layers);
    for (const field of ['qkv', 'attn', 'o', 'mlp', 'drain'] as const) this.keptCosts[field].set(this.costs[field].subarray(first), first);
    this.keptPrefix.set(this.prefix.subarray(first), first);
    this.kept = [...partition];
    this.keptTtft = ttft;
  }
}
