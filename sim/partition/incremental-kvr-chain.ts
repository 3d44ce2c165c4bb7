import type { ModelSpec } from '../model/model-spec.js';
import { kvBytesPerToken } from '../model/model-size.js';
import type { KvrHops, KvrStagePricer } from '../plan/strategies/kvr-recurrence.js';

/** Relative margin by which a lower bound must pass the caller's bound before a run stops early (rounding of its sums). */
const BOUND_MARGIN = 1e-12;

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
 * under its bound (a search's incumbent: it moves to the candidates it takes) have the same
 * times, so a run starts at that rank from the arrivals it kept.
 *
 * Early stop: after rank i, TTFT is at least the last layer's arrival at rank i+1, plus every
 * later hop's last send (each waits for the one before), plus the last rank's attn, o, mlp and
 * lm_head. Once that passes the caller's bound (by BOUND_MARGIN), the partition cannot beat it
 * and the run stops; the caller learns only that.
 */
export class IncrementalKvrChain {
  private readonly layers: number;
  private readonly kvBytes: number;
  /** Arrivals of the kept partition: arrivals[i * layers + l], rank i-1's send of layer l (rank 0: unused). */
  private readonly arrivals: Float64Array;
  /** A run's arrivals. */
  private readonly scratch: Float64Array;
  private kept: number[] | undefined;
  /** Per rank, for the current run: its ops' seconds, its hop's drain, and the early stop's tail. */
  private readonly qkv: Float64Array;
  private readonly attn: Float64Array;
  private readonly o: Float64Array;
  private readonly mlp: Float64Array;
  private readonly drain: Float64Array;
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
    this.qkv = new Float64Array(p);
    this.attn = new Float64Array(p);
    this.o = new Float64Array(p);
    this.mlp = new Float64Array(p);
    this.drain = new Float64Array(p);
    this.tail = new Float64Array(p);
  }

  /**
   * The partition's TTFT (kvrRecurrence's, bit for bit) when it is below `bound`; otherwise some
   * number at least `bound` (the run may have stopped early). A partition that comes in under the
   * bound is kept for reuse.
   */
  ttftBelow(partition: readonly number[], bound: number): number {
    const { p, layers } = this;
    let first = 0;
    if (this.kept !== undefined) while (first < p && this.kept[first] === partition[first]) first += 1;
    if (first === p) first = p - 1; // the kept partition itself: rerun its last rank
    let prefix = 0;
    for (let i = 0; i < first; i++) prefix += partition[i]!;
    for (let i = first; i < p; i++) {
      const c = partition[i]!;
      const stage = this.stages.stage(c, prefix);
      this.qkv[i] = stage[0]!.seconds;
      this.attn[i] = stage[1]!.seconds;
      this.o[i] = stage[2]!.seconds;
      this.mlp[i] = stage[3]!.seconds;
      prefix += c;
      const bytes = prefix * this.kvBytes;
      this.drain[i] = i + 1 < p && bytes !== 0 ? bytes / this.hops.narrowest[i]! : 0;
    }
    // tail[i] (i < p-1): after the last layer reaches rank i+1, hops i+1 .. p-2 each send it on,
    // then the last rank runs attn, o, mlp and lm_head.
    let after = this.attn[p - 1]! + this.o[p - 1]! + this.mlp[p - 1]! + this.lmHeadSeconds;
    for (let i = p - 2; i >= first; i--) {
      this.tail[i] = after;
      after += this.hops.latency[i]! + this.drain[i]!;
    }
    const stop = bound * (1 + BOUND_MARGIN);
    const out = this.scratch;
    this.runs += 1;
    let stream = 0;
    for (let i = first; i < p; i++) {
      this.ranksRun += 1;
      const arrivalsIn = i === first ? this.arrivals : out;
      const inAt = i * layers;
      const outAt = (i + 1) * layers;
      const q = this.qkv[i]!;
      const attn = this.attn[i]!;
      const o = this.o[i]!;
      const mlp = this.mlp[i]!;
      const sends = i + 1 < p;
      const latency = sends ? this.hops.latency[i]! : 0;
      const drain = this.drain[i]!;
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
        }
        stream = ready + attn + o + mlp;
      }
      if (sends) {
        const atLeast = hopFree + this.tail[i]!;
        if (atLeast > stop) return atLeast;
      }
    }
    const ttft = stream + this.lmHeadSeconds;
    if (ttft < bound) {
      // Ranks up to `first` arrive as they did; the later ones as in this run.
      if (first + 1 < p) this.arrivals.set(out.subarray((first + 1) * layers), (first + 1) * layers);
      this.kept = [...partition];
    }
    return ttft;
  }
}
