import type { ModelSpec } from '../model/model-spec.js';
import { kvBytesPerToken } from '../model/model-size.js';
import type { KvrHops, KvrStagePricer } from '../plan/strategies/kvr-recurrence.js';

/** Relative margin by which a lower bound must pass the incumbent before a run stops early (rounding of its sums). */
const BOUND_MARGIN = 1e-12;
/**
 * Relative margin for the rest-of-chain estimate, whose sums run in another order than a run's:
 * over p x L ops (130,000 at 1024 GPUs and 126 layers) their rounding differs by well under
 * 1e-10. Estimates within this margin of the incumbent decide nothing: the run goes on.
 */
const ESTIMATE_MARGIN = 1e-9;

/** Per rank: its ops' seconds and its hop's drain (the same every layer). */
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
 * KV-Runahead's chain (kvrRecurrence) for a partition search's descent: does a candidate beat
 * the incumbent partition? Each answer is the one the exact TTFTs give, found with as little of
 * the chain as will decide it.
 *
 * Rank by rank: rank i's ops wait only for its own earlier ops and for rank i-1's sends, so all L
 * layers of rank i follow from the times rank i-1's sends arrive (one number a layer) and give
 * the arrivals at rank i+1. Each op's time is the same max and sums of the same numbers as
 * kvrRecurrence's layer by layer, so a run to the last rank gives its TTFT bit for bit
 * (kvrRecurrence runs without the periodic shortcut for this reason).
 *
 * A candidate's run starts at the first rank whose chunk differs from the incumbent's, from the
 * incumbent's arrivals there. Once it has passed rank i, these decide:
 * - Lower bound: TTFT is at least the last layer's arrival at rank i+1, plus every later hop's
 *   last send, plus the last rank's attn, o, mlp and lm_head. Above the incumbent: it loses.
 * - Where every rank after i has the incumbent's chunk and prefix, the rest of the chain is the
 *   incumbent's, fed other arrivals at rank i+1:
 *   - Dominance: max and rounded addition are monotone, so if no arrival is earlier than the
 *     incumbent's, the TTFT is at least the incumbent's, exactly: it loses.
 *   - Estimate: the rest of the chain is a max-plus system of the arrivals, so TTFT = max(Z, max
 *     over layers l of arrival(l) + D(l)), with D(l) the longest path from layer l's arrival to
 *     the first token and Z the longest from the later ranks' own starts (a backward pass over
 *     the incumbent, redone only for the ranks a new incumbent changed). Summed in another order
 *     than a run, it is the TTFT to rounding: clearly above the incumbent's, the candidate loses;
 *     clearly below, it wins and becomes the incumbent with the estimate as its TTFT (its exact
 *     TTFT is run only when a near tie needs it, or the search asks). Within ESTIMATE_MARGIN the
 *     run goes on to the last rank, and the incumbent's exact TTFT is run if it is not known.
 * So a candidate that loses or wins clearly costs the ranks from its first change to its last,
 * and a step or two more, not the whole chain.
 */
export class IncrementalKvrChain {
  private readonly layers: number;
  private readonly kvBytes: number;
  /** The incumbent: partition, prefixes, costs; its TTFT (exact, or an estimate) and whether exact. */
  private kept: number[] | undefined;
  private readonly keptPrefix: Float64Array;
  private readonly keptCosts: RankCosts;
  private keptTtft = Infinity;
  private keptExact = false;
  /** The incumbent's arrivals: arrivals[i * layers + l], rank i-1's send of layer l; known into ranks 0 .. keptKnown. */
  private readonly arrivals: Float64Array;
  private keptKnown = 0;
  /**
   * The incumbent's rest of the chain: toEnd[i * layers + l], the longest path from layer l's
   * arrival at rank i to the first token, and fromStart[i], the longest from the own starts of
   * ranks i and after; known for ranks toEndFrom and after.
   */
  private readonly toEnd: Float64Array;
  private readonly fromStart: Float64Array;
  private toEndFrom: number;
  /**
   * The lower bound's tail of the incumbent: keptTail[i] (i < p-1), the last layer's sends over
   * hops i+1 .. p-2 and the last rank's attn, o, mlp and lm_head; known for ranks tailFrom and after.
   */
  private readonly keptTail: Float64Array;
  private tailFrom: number;
  /** A candidate's costs and prefixes (from its first change to its last), arrivals, and tail. */
  private readonly costs: RankCosts;
  private readonly prefix: Float64Array;
  private readonly scratch: Float64Array;
  private readonly tail: Float64Array;
  /**
   * What the last `improves` learned of its candidate's TTFT: exact (it ran to the last rank),
   * at least a number (it lost early), or an estimate (it won early).
   */
  last: { exact: number } | { atLeast: number } | { estimate: number } = { atLeast: 0 };
  /** Candidates run, and the ranks they ran (a benchmark's view of the savings). */
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
    this.keptPrefix = new Float64Array(p);
    this.keptCosts = rankCosts(p);
    this.arrivals = new Float64Array(p * this.layers);
    this.toEnd = new Float64Array(p * this.layers);
    this.fromStart = new Float64Array(p);
    this.toEndFrom = p;
    this.keptTail = new Float64Array(p);
    this.tailFrom = p - 1;
    this.costs = rankCosts(p);
    this.prefix = new Float64Array(p);
    this.scratch = new Float64Array(p * this.layers);
    this.tail = new Float64Array(p);
  }

  /** Makes `partition`, of exact TTFT `ttft`, the incumbent (what it shares with the last one is kept). */
  setIncumbent(partition: readonly number[], ttft: number): void {
    const { first, lastChanged } = this.changes(partition);
    for (let i = first; i <= lastChanged; i++) if (this.differs(partition, i)) this.price(partition, i, this.keptCosts);
    this.keptPrefix.set(this.prefix.subarray(first, lastChanged + 1), first);
    this.invalidate(lastChanged);
    this.keptKnown = Math.min(this.keptKnown, first);
    this.kept = [...partition];
    this.keptTtft = ttft;
    this.keptExact = true;
  }

  /** The incumbent's exact TTFT (run to the last rank if only an estimate is known). */
  incumbentTtft(): number {
    if (!this.keptExact) {
      this.keptTtft = this.runKept(this.p);
      this.keptExact = true;
    }
    return this.keptTtft;
  }

  /** A number the incumbent's exact TTFT is not above (without running it). */
  incumbentAtMost(): number {
    return this.keptExact ? this.keptTtft : this.keptTtft * (1 + ESTIMATE_MARGIN);
  }

  /**
   * Whether the candidate's TTFT is below the incumbent's (as exact TTFTs compare); if so it
   * becomes the incumbent. `last` tells what the run learned of the candidate's TTFT.
   */
  improves(partition: readonly number[]): boolean {
    const { p, layers, costs } = this;
    if (this.kept === undefined) throw new Error('IncrementalKvrChain.improves needs an incumbent (setIncumbent)');
    const { first, lastChanged } = this.changes(partition);
    if (lastChanged < 0) {
      this.last = { atLeast: this.keptTtft * (1 - ESTIMATE_MARGIN) };
      return false;
    }
    for (let i = first; i <= lastChanged; i++) {
      if (this.differs(partition, i)) this.price(partition, i, costs);
      else copyRank(this.keptCosts, costs, i);
    }
    if (this.keptKnown < first) this.runKept(first);
    this.candidateTail(first, lastChanged);
    // The incumbent's TTFT lies within [lower, upper].
    const upper = this.keptExact ? this.keptTtft : this.keptTtft * (1 + ESTIMATE_MARGIN);
    const lower = this.keptExact ? this.keptTtft : this.keptTtft * (1 - ESTIMATE_MARGIN);
    const out = this.scratch;
    this.runs += 1;
    let stream = 0;
    for (let i = first; i < p; i++) {
      this.ranksRun += 1;
      const comparable = i + 1 <= this.keptKnown;
      // Ranks after the last change cost what the incumbent's do.
      const ran = runRank(p, layers, this.hops, i <= lastChanged ? costs : this.keptCosts, i, i === first ? this.arrivals : out, out, comparable ? this.arrivals : undefined);
      stream = ran.stream;
      if (i + 1 === p) break;
      const atLeast = ran.lastSend + (i < lastChanged ? this.tail[i]! : this.keptTail[i]!);
      if (atLeast * (1 - BOUND_MARGIN) > upper) return this.loses(atLeast * (1 - BOUND_MARGIN));
      if (i < lastChanged) continue;
      if (comparable && ran.notEarlier) return this.loses(lower);
      const estimate = this.restOfChain(i + 1, out);
      if (estimate > upper * (1 + ESTIMATE_MARGIN)) return this.loses(estimate * (1 - ESTIMATE_MARGIN));
      if (estimate < lower * (1 - ESTIMATE_MARGIN)) {
        this.adopt(partition, first, lastChanged, i + 1, estimate, false);
        this.last = { estimate };
        return true;
      }
    }
    const ttft = stream + this.lmHeadSeconds;
    this.last = { exact: ttft };
    if (ttft < this.incumbentTtft()) {
      this.adopt(partition, first, lastChanged, p - 1, ttft, true);
      return true;
    }
    return false;
  }

  private loses(atLeast: number): false {
    this.last = { atLeast };
    return false;
  }

  /**
   * The first rank whose chunk differs from the incumbent's, and the last whose chunk or prefix
   * does (-1 if none); fills the candidate's prefixes from the first on.
   */
  private changes(partition: readonly number[]): { first: number; lastChanged: number } {
    const { p, kept } = this;
    if (partition.length !== p) throw new Error(`IncrementalKvrChain: partition of ${partition.length} chunks for ${p} ranks`);
    let first = 0;
    if (kept !== undefined) while (first < p && kept[first] === partition[first]) first += 1;
    if (first === p) return { first: p - 1, lastChanged: -1 };
    let P = 0;
    for (let i = 0; i < first; i++) P += partition[i]!;
    let lastChanged = first;
    for (let i = first; i < p; i++) {
      this.prefix[i] = P;
      if (kept === undefined || partition[i] !== kept[i] || P !== this.keptPrefix[i]) lastChanged = i;
      P += partition[i]!;
    }
    return { first, lastChanged };
  }

  /** Whether rank i's chunk or prefix (as `changes` left it) differs from the incumbent's. */
  private differs(partition: readonly number[], i: number): boolean {
    return this.kept === undefined || partition[i] !== this.kept[i] || this.prefix[i] !== this.keptPrefix[i];
  }

  /** Prices rank i's ops and hop for its chunk and prefix into `into`. */
  private price(partition: readonly number[], i: number, into: RankCosts): void {
    const c = partition[i]!;
    const P = this.prefix[i]!;
    const stage = this.stages.stage(c, P);
    into.qkv[i] = stage[0]!.seconds;
    into.attn[i] = stage[1]!.seconds;
    into.o[i] = stage[2]!.seconds;
    into.mlp[i] = stage[3]!.seconds;
    const bytes = (P + c) * this.kvBytes;
    into.drain[i] = i + 1 < this.p && bytes !== 0 ? bytes / this.hops.narrowest[i]! : 0;
  }

  /**
   * The candidate's tail for ranks first .. lastChanged-1 (the incumbent's holds from lastChanged
   * on: it depends on later ranks only).
   */
  private candidateTail(first: number, lastChanged: number): void {
    const { p, costs } = this;
    let tail: number;
    let from: number;
    if (lastChanged >= p - 1) {
      tail = costs.attn[p - 1]! + costs.o[p - 1]! + costs.mlp[p - 1]! + this.lmHeadSeconds;
      from = p - 2;
      if (from >= first) this.tail[from] = tail;
    } else {
      if (lastChanged < this.tailFrom) this.extendTail(lastChanged);
      tail = this.keptTail[lastChanged]!;
      from = lastChanged;
    }
    for (let i = from - 1; i >= first; i--) {
      tail += this.hops.latency[i + 1]! + costs.drain[i + 1]!;
      this.tail[i] = tail;
    }
  }

  /** Extends the incumbent's tail down to rank `down`. */
  private extendTail(down: number): void {
    const { p, keptCosts: costs } = this;
    for (let i = this.tailFrom - 1; i >= down; i--) {
      this.keptTail[i] = i === p - 2 ? costs.attn[p - 1]! + costs.o[p - 1]! + costs.mlp[p - 1]! + this.lmHeadSeconds : this.keptTail[i + 1]! + this.hops.latency[i + 1]! + costs.drain[i + 1]!;
    }
    this.tailFrom = Math.min(this.tailFrom, down);
  }

  /** What the incumbent's ranks up to `lastChanged` changing leaves unknown of its rest of the chain and tail. */
  private invalidate(lastChanged: number): void {
    this.toEndFrom = Math.max(this.toEndFrom, lastChanged + 1);
    this.tailFrom = Math.max(this.tailFrom, Math.min(lastChanged, this.p - 1));
  }

  /**
   * The candidate just run becomes the incumbent: its arrivals are known into rank `known`, its
   * costs and prefixes from `first` to `lastChanged` (the later ones are the incumbent's).
   */
  private adopt(partition: readonly number[], first: number, lastChanged: number, known: number, ttft: number, exact: boolean): void {
    const layers = this.layers;
    if (known > first) this.arrivals.set(this.scratch.subarray((first + 1) * layers, (known + 1) * layers), (first + 1) * layers);
    this.keptKnown = known;
    for (const field of ['qkv', 'attn', 'o', 'mlp', 'drain'] as const) this.keptCosts[field].set(this.costs[field].subarray(first, lastChanged + 1), first);
    this.keptPrefix.set(this.prefix.subarray(first, lastChanged + 1), first);
    this.invalidate(lastChanged);
    this.kept = [...partition];
    this.keptTtft = ttft;
    this.keptExact = exact;
  }

  /**
   * Runs the incumbent from the first rank whose arrivals it does not know, until it knows them
   * into rank `upTo` (or, for upTo = p, to its TTFT, returned).
   */
  private runKept(upTo: number): number {
    const { p } = this;
    let stream = 0;
    for (let i = this.keptKnown; i < Math.min(upTo, p); i++) {
      stream = runRank(p, this.layers, this.hops, this.keptCosts, i, this.arrivals, this.arrivals, undefined).stream;
      if (i + 1 < p) this.keptKnown = i + 1;
    }
    return stream + this.lmHeadSeconds;
  }

  /** The incumbent's rest of the chain from rank `rank` on, fed a run's arrivals at it (see the class comment). */
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
   * Extends toEnd and fromStart of the incumbent down to rank `down`, backwards: from layer l's
   * arrival at rank i, the path goes on to attn, o and mlp and the next layer's qkv, or to the
   * send to rank i+1 and on from its arrival there or from the hop's next send.
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
}

function copyRank(from: RankCosts, to: RankCosts, i: number): void {
  to.qkv[i] = from.qkv[i]!;
  to.attn[i] = from.attn[i]!;
  to.o[i] = from.o[i]!;
  to.mlp[i] = from.mlp[i]!;
  to.drain[i] = from.drain[i]!;
}

/** What runRank reports (one object, reused). */
const rankRun = { stream: 0, lastSend: 0, notEarlier: true };

/**
 * All layers of rank i, as kvrLayer times them: qkv after the previous mlp; attn and the send
 * once the receive from rank i-1 (arrivalsIn[i * L + l]) is here too. Writes the sends' ends
 * into `out` at (i+1) * L + l; with `compareTo`, also whether none is earlier than compareTo's.
 */
function runRank(
  p: number,
  layers: number,
  hops: KvrHops,
  costs: RankCosts,
  i: number,
  arrivalsIn: Float64Array,
  out: Float64Array,
  compareTo: Float64Array | undefined,
): typeof rankRun {
  const inAt = i * layers;
  const outAt = (i + 1) * layers;
  const q = costs.qkv[i]!;
  const attn = costs.attn[i]!;
  const o = costs.o[i]!;
  const mlp = costs.mlp[i]!;
  const sends = i + 1 < p;
  const latency = sends ? hops.latency[i]! : 0;
  const drain = costs.drain[i]!;
  let notEarlier = true;
  let stream = 0;
  let hopFree = 0;
  for (let l = 0; l < layers; l++) {
    const qkvEnd = stream + q;
    const received = arrivalsIn[inAt + l]!;
    const ready = i > 0 && received > qkvEnd ? received : qkvEnd;
    if (sends) {
      hopFree = (ready > hopFree ? ready : hopFree) + latency + drain;
      out[outAt + l] = hopFree;
      if (compareTo !== undefined && hopFree < compareTo[outAt + l]!) notEarlier = false;
    }
    stream = ready + attn + o + mlp;
  }
  rankRun.stream = stream;
  rankRun.lastSend = hopFree;
  rankRun.notEarlier = notEarlier;
  return rankRun;
}
