import type { Plan, PlanOp } from '../plan/plan.js';
import { planOpTotal, planTable } from '../plan/table-plan.js';
import { OP_COLLECTIVE, OP_COMPUTE, type OpTable } from '../plan/op-table.js';
import type { Router } from '../topology/routing.js';
import { compilePlan, executeProgram, runPlan, type EngineProgram, type EngineRun } from './engine.js';

/**
 * Layer folding: the layers of a transformer are identical, so once the pipeline has filled a
 * schedule repeats layer after layer. Instead of running all L layers, run a sample of the plan
 * (its first n layers and its closing ops, lm_head), check that the sample has reached a steady
 * state, and extrapolate the remaining layers' times. The full plan's result arrays come back as
 * if the whole plan had run (EngineRun of the full plan), so every result field (sums over ranks,
 * per-rank tables, traces) is computed from them exactly as before.
 *
 * A steady state is accepted in one of two forms, checked on the sample's layers w-2, w-1, w (two
 * consecutive layer periods), every op's start, flow start and end, within 1e-12 relative:
 *
 * - periodic: every op advances by the same amount Δ per layer. The whole state of the run (which
 *   ops run, which flows share which links) is then the previous layer's shifted by Δ, and the
 *   deterministic engine repeats it forever; this holds with shared links too. The plan's last
 *   layer and closing ops are the sample's last layer shifted by (L - n)Δ.
 * - rate per op, on dedicated links (no two channels share a link, EngineProgram.dedicated): every
 *   op is then a max-plus recurrence, start = max(end of its dependencies and queue predecessor).
 *   Each op o advances by its own Δ_o (kvr: a rank runs at the pace of the slowest rank up the
 *   chain). If every predecessor q of o has Δ_q <= Δ_o, the predecessor that binds o keeps binding
 *   it and the slack to every other only grows, so o advances by Δ_o forever (induction over
 *   layers). With dedicated links a later op never changes an earlier one, so the sample's layers
 *   are the plan's.
 *
 * Anything else (noise, background traffic, ops that are not the same layer after layer, no
 * steady state within the sample) runs the whole plan, as does a plan too short to gain from it.
 */

/** Relative tolerance of the steady-state check (issue #17). */
export const FOLD_TOLERANCE = 1e-12;
/** Sample sizes tried, in layers; beyond the last, or past half the plan, the whole plan runs. */
export const FOLD_SAMPLE_LAYERS = [6, 12] as const;

export type FoldMode = 'periodic' | 'per-op';

export interface FoldedRun extends EngineRun {
  /** How the run was folded, and how many layers the engine ran; absent when the whole plan ran. */
  fold?: { mode: FoldMode; sampleLayers: number };
}

/**
 * runPlan of a plan already built, folding its layers when it allows (same times, to rounding).
 * simulate folds without building (foldSample on a sample plan); this whole-plan form is what the
 * property tests hold to runPlan op by op, and it is slower than runPlan on a built plan.
 */
export function runPlanFolded(plan: Plan, durations: Float64Array, router: Router): FoldedRun {
  const layers = planLayers(plan);
  if (layers !== undefined && sameDurations(durations, layers.perLayer, plan.model.layers)) {
    for (const n of FOLD_SAMPLE_LAYERS) {
      if (2 * n > plan.model.layers) break;
      const sample = samplePlan(plan, durations, layers, n);
      const fold = foldSample(sample.plan, sample.durations, router, plan.model.layers);
      if (fold === 'unfoldable') break;
      if (fold !== undefined) return materialize(fold, planOpTotal(plan));
    }
  }
  return runPlan(plan, durations, router);
}

/** Whether every layer's ops take the same time as layer 0's (planLayers checked their shapes). */
export function sameDurations(durations: Float64Array, K: number, L: number): boolean {
  for (let i = K; i < K * L; i++) if (durations[i] !== durations[i - K]) return false;
  return true;
}

/** Ops per layer (layer-major: layer j's ops are [jK, (j+1)K)), when every layer >= 1 repeats layer 1. */
export interface LayerStructure {
  perLayer: number;
  /** Ops after the last layer (lm_head), from L*K to the end. */
  closing: number;
}

/**
 * The plan's layer structure, or undefined when its layers are not one block of identical ops
 * each: same fields (durations are checked by the caller), deps shifted by one layer's ops.
 */
export function planLayers(plan: Plan): LayerStructure | undefined {
  const table = planTable(plan);
  const count = table.count;
  const { depOffset, deps } = table;
  const L = plan.model.layers;
  if (L < 2) return undefined;
  let K = 0;
  while (K < count && table.layer[K] === 0) K++;
  if (K === 0 || K * L > count) return undefined;
  for (let i = K * L; i < count; i++) {
    // Closing ops: compute ops after every layer, depending on the last layer or each other.
    if (table.kind[i] !== OP_COMPUTE || table.layer[i] !== -1) return undefined;
    for (let e = depOffset[i]!; e < depOffset[i + 1]!; e++) if (deps[e]! < (L - 1) * K) return undefined;
  }
  for (let i = K; i < K * L; i++) {
    const twin = i - K;
    if (table.layer[i] !== Math.floor(i / K)) return undefined;
    if (!sameShape(table, i, twin)) return undefined;
    // Layer 0 has nothing before it; from layer 2 on, deps are layer 1's shifted.
    const from = depOffset[i]!;
    const to = depOffset[i + 1]!;
    if (i >= 2 * K) {
      const twinFrom = depOffset[twin]!;
      if (to - from !== depOffset[twin + 1]! - twinFrom) return undefined;
      for (let k = 0; k < to - from; k++) if (deps[from + k] !== deps[twinFrom + k]! + K) return undefined;
    } else {
      for (let e = from; e < to; e++) if (deps[e]! < 0) return undefined;
    }
  }
  return { perLayer: K, closing: count - K * L };
}

/** Same op but for id, layer and deps. */
function sameShape(table: OpTable, a: number, b: number): boolean {
  if (
    table.kind[a] !== table.kind[b] ||
    table.name[a] !== table.name[b] ||
    table.flags[a] !== table.flags[b] ||
    table.payload[a] !== table.payload[b] ||
    table.protocol[a] !== table.protocol[b] ||
    table.rank[a] !== table.rank[b] ||
    table.dst[a] !== table.dst[b] ||
    table.step[a] !== table.step[b] ||
    table.heads[a] !== table.heads[b] ||
    table.kvHeads[a] !== table.kvHeads[b] ||
    table.shard[a] !== table.shard[b] ||
    table.tokens[a] !== table.tokens[b] ||
    table.prefix[a] !== table.prefix[b] ||
    table.keys[a] !== table.keys[b] ||
    table.amount[a] !== table.amount[b] ||
    table.hopScaleOf(a) !== table.hopScaleOf(b) ||
    table.baseSecondsOf(a) !== table.baseSecondsOf(b)
  ) {
    return false;
  }
  if (!sameValue(table.moe.get(a), table.moe.get(b))) return false;
  if (table.rangeList[a] !== table.rangeList[b] && !sameValue(table.rangesOf(a), table.rangesOf(b))) return false;
  if (table.kind[a] !== OP_COLLECTIVE) return true;
  const ca = table.collective(a) as unknown as Record<string, unknown>;
  const cb = table.collective(b) as unknown as Record<string, unknown>;
  let keys = 0;
  for (const key in ca) {
    keys++;
    if (key === 'id' || key === 'layer' || key === 'deps') continue;
    if (!sameValue(ca[key], cb[key])) return false;
  }
  for (const _ in cb) keys--;
  return keys === 0;
}

/** Deep equality of the plain values ops hold (numbers, strings, arrays, shard objects). */
function sameValue(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x)) {
    if (!Array.isArray(y) || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!sameValue(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(y)) return false;
  const rx = x as Record<string, unknown>;
  const ry = y as Record<string, unknown>;
  let keys = 0;
  for (const key in rx) {
    keys++;
    if (!sameValue(rx[key], ry[key])) return false;
  }
  for (const _ in ry) keys--;
  return keys === 0;
}

/** The plan's first n layers and its closing ops (renumbered to follow them). */
function samplePlan(plan: Plan, durations: Float64Array, structure: LayerStructure, n: number): { plan: Plan; durations: Float64Array } {
  const { perLayer: K, closing } = structure;
  const L = plan.model.layers;
  const shift = (L - n) * K;
  const ops: PlanOp[] = plan.ops.slice(0, n * K);
  const sampleDurations = new Float64Array(n * K + closing);
  sampleDurations.set(durations.subarray(0, n * K));
  for (let i = L * K; i < plan.ops.length; i++) {
    const op = plan.ops[i]!;
    ops.push({ ...op, id: i - shift, deps: op.deps.map((d) => d - shift) } as PlanOp);
    sampleDurations[i - shift] = durations[i]!;
  }
  return { plan: { ...plan, model: { ...plan.model, layers: n }, ops }, durations: sampleDurations };
}

/**
 * A steady state found in a sample of n layers, and what it gives the plan of L layers: the times
 * of any op (layerTimes), of its last layer and of its closing ops.
 */
export interface LayerFold {
  mode: FoldMode;
  /** Layers of the sample and of the plan. */
  n: number;
  L: number;
  /** Plan ops and engine ops (collectives expanded) per layer. */
  K: number;
  KE: number;
  /** Engine ops after the last layer. */
  closingE: number;
  /** Last layer of the window; layers <= w are the sample's. */
  w: number;
  /** Per-layer advance of each engine op of a layer. */
  delta: Float64Array;
  /** The sample's program and run. */
  program: EngineProgram;
  run: EngineRun;
  /** Engine index of each plan op of the sample. */
  indexOf: Int32Array;
  /** Times of the plan's last layer (KE ops) and closing ops (closingE ops). */
  last: Times;
  closing: Times;
  /** Events the event engine would handle for the whole plan. */
  events: number;
}

export interface Times {
  start: Float64Array;
  flowStart: Float64Array;
  end: Float64Array;
}

/**
 * Folds a sample plan (its first n = sample.model.layers layers and its closing ops, layer-major)
 * of a plan of L layers: the fold, undefined when the sample shows no steady state (a longer one
 * may), or 'unfoldable' when no sample can fold this plan.
 */
export function foldSample(sample: Plan, durations: Float64Array, router: Router, L: number): LayerFold | 'unfoldable' | undefined {
  const structure = planLayers(sample);
  if (structure === undefined || !sameDurations(durations, structure.perLayer, sample.model.layers)) return 'unfoldable';
  const template = compileSample(sample, structure, router);
  if (template === 'unfoldable') return 'unfoldable';
  return foldCompiled(template, durations, L);
}

/**
 * A sample plan compiled for folding, reusable for other op costs and transfer sizes on the same
 * op graph (a partition search reshapes one sample plan per candidate).
 */
export interface CompiledSample {
  /** Layers of the sample, plan ops and engine ops per layer, engine ops after the last layer. */
  n: number;
  K: number;
  KE: number;
  closingE: number;
  program: EngineProgram;
}

/** Compiles a sample plan of layer structure `structure` (planLayers), or 'unfoldable'. */
export function compileSample(sample: Plan, structure: LayerStructure, router: Router): CompiledSample | 'unfoldable' {
  const n = sample.model.layers;
  const K = structure.perLayer;
  const program = compilePlan(sample, router);
  if (program.noise.length > 0 || program.background.length > 0) return 'unfoldable';
  const layout = program.layout;
  // Engine ops per layer (collectives expanded), the same in every layer.
  const KE = layout.indexOf[K]! - layout.indexOf[0]!;
  for (let j = 0; j < n; j++) if (layout.indexOf[j * K] !== j * KE) return 'unfoldable';
  if (structure.closing > 0 && layout.indexOf[n * K] !== n * KE) return 'unfoldable';
  return { n, K, KE, closingE: program.count - n * KE, program };
}

/**
 * foldSample on a compiled sample, with its op durations (by plan op; every layer's the same as
 * layer 0's, else 'unfoldable') and transfer sizes (by engine op; default the compiled ones).
 */
export function foldCompiled(
  sample: CompiledSample,
  durations: Float64Array,
  L: number,
  bytes: Float64Array = sample.program.bytes,
): LayerFold | 'unfoldable' | undefined {
  const { n, K, KE, closingE, program } = sample;
  if (!sameDurations(durations, K, n)) return 'unfoldable';
  const run = executeProgram(program, durations, bytes);

  const w = n - 2;
  const delta = new Float64Array(KE);
  if (!linearWindow(run, KE, w, delta)) return undefined;
  let mode: FoldMode;
  if (isPeriodic(run, KE, w, delta)) mode = 'periodic';
  else if (program.dedicated && ratesOrdered(program, run, KE, w, delta)) mode = 'per-op';
  else return undefined;
  const fold: LayerFold = {
    mode, n, L, K, KE, closingE, w, delta, program, run, indexOf: program.layout.indexOf,
    last: { start: new Float64Array(KE), flowStart: new Float64Array(KE), end: new Float64Array(KE) },
    closing: { start: new Float64Array(closingE), flowStart: new Float64Array(closingE), end: new Float64Array(closingE) },
    // Counted when read: a partition search reads only the TTFT.
    get events(): number {
      return foldedEvents(program, bytes, n, KE, L);
    },
  };
  layerTimes(fold, L - 1, fold.last, 0);
  if (!closeRun(fold, durations)) return 'unfoldable';
  return fold;
}

/** End time of a closing op (plan op id of the sample, e.g. lm_head) in the whole plan's run. */
export function closingEnd(fold: LayerFold, planOp: number): number {
  const at = fold.indexOf[planOp]! - fold.n * fold.KE;
  if (!(planOp >= fold.n * fold.K && at >= 0 && at < fold.closingE)) throw new Error(`plan op ${planOp} is not a closing op of the fold`);
  return fold.closing.end[at]!;
}

/**
 * Writes the times of the plan's layer j (KE engine ops) into `out` from index `at`: layers <= w
 * as sampled, later ones extrapolated per op; in periodic mode the last layer is the sample's last
 * layer shifted, as it sees the same end of the plan.
 */
export function layerTimes(fold: LayerFold, j: number, out: Times, at: number): void {
  const { run, KE, w, n, L, delta } = fold;
  const copy = (from: number, shift: number, steps: number): void => {
    for (let e = 0; e < KE; e++) {
      const d = steps === 0 ? shift : steps * delta[e]!;
      out.start[at + e] = run.start[from + e]! + d;
      out.flowStart[at + e] = run.flowStart[from + e]! + d;
      out.end[at + e] = run.end[from + e]! + d;
    }
  };
  if (j <= w) copy(j * KE, 0, 0);
  else if (fold.mode === 'periodic' && j === L - 1) copy((n - 1) * KE, (L - n) * delta[0]!, 0);
  else copy(w * KE, 0, j - w);
}

/** The whole plan's run (plan of `planOps` ops), as runPlan would give it. */
export function materialize(fold: LayerFold, planOps: number): FoldedRun {
  const { KE, K, L, n, closingE } = fold;
  const count = L * KE + closingE;
  const times: Times = { start: new Float64Array(count), flowStart: new Float64Array(count), end: new Float64Array(count) };
  for (let j = 0; j < L; j++) layerTimes(fold, j, times, j * KE);
  times.start.set(fold.closing.start, L * KE);
  times.flowStart.set(fold.closing.flowStart, L * KE);
  times.end.set(fold.closing.end, L * KE);
  const indexOf = new Int32Array(planOps);
  for (let j = 0; j < L; j++) for (let k = 0; k < K; k++) indexOf[j * K + k] = j * KE + fold.indexOf[k]!;
  for (let i = L * K; i < planOps; i++) indexOf[i] = fold.indexOf[i - (L - n) * K]! + (L - n) * KE;
  let makespan = 0;
  for (let i = 0; i < count; i++) if (times.end[i]! > makespan) makespan = times.end[i]!;
  return { ...times, makespan, events: fold.events, indexOf, fold: { mode: fold.mode, sampleLayers: n } };
}

/** Whether every op's times advance by a constant per layer over layers w-2..w; fills delta (of start). */
function linearWindow(run: EngineRun, KE: number, w: number, delta: Float64Array): boolean {
  if (w < 3) return false;
  for (const times of [run.start, run.flowStart, run.end]) {
    for (let e = 0; e < KE; e++) {
      const a = times[(w - 2) * KE + e]!;
      const b = times[(w - 1) * KE + e]!;
      const c = times[w * KE + e]!;
      if (!close(b - a, c - b, c)) return false;
      if (times === run.start) delta[e] = c - b;
      else if (!close(c - b, delta[e]!, c)) return false;
    }
  }
  return true;
}

function isPeriodic(run: EngineRun, KE: number, w: number, delta: Float64Array): boolean {
  const d = delta[0]!;
  for (let e = 1; e < KE; e++) if (!close(delta[e]!, d, run.end[w * KE + e]!)) return false;
  // One Δ for all: extrapolate with exactly the same number.
  delta.fill(d);
  return true;
}

/** Every predecessor (dependency or queue predecessor) of every op of layer w advances no faster than it. */
function ratesOrdered(program: EngineProgram, run: EngineRun, KE: number, w: number, delta: Float64Array): boolean {
  const lo = (w - 1) * KE;
  const hi = (w + 1) * KE;
  const first = w * KE;
  const ok = (q: number, o: number): boolean => delta[q % KE]! <= delta[o % KE]! + FOLD_TOLERANCE * Math.abs(run.end[o]!);
  for (let q = lo; q < hi; q++) {
    for (let k = program.succOffset[q]!; k < program.succOffset[q + 1]!; k++) {
      const o = program.succ[k]!;
      if (o >= first && o < hi && !ok(q, o)) return false;
    }
  }
  // A queue lists its ops in increasing order: scan each from its end down to the window.
  for (let queue = 0; queue < program.queueCount; queue++) {
    for (let k = program.queueOffset[queue + 1]! - 1; k > program.queueOffset[queue]!; k--) {
      const o = program.queueOps[k]!;
      if (o < first) break;
      if (o < hi && !ok(program.queueOps[k - 1]!, o)) return false;
    }
  }
  return true;
}

function close(x: number, y: number, scale: number): boolean {
  return Math.abs(x - y) <= FOLD_TOLERANCE * Math.max(Math.abs(scale), Math.abs(x), Math.abs(y));
}

/**
 * The closing ops (compute ops only) from the plan's last layer, in plan order: start = the latest
 * end of their dependencies and queue predecessor, as the engine starts a compute op.
 */
function closeRun(fold: LayerFold, durations: Float64Array): boolean {
  const { program, n, KE, closing, last } = fold;
  const first = n * KE;
  const lastFirst = (n - 1) * KE;
  // End of a sample op of the last layer or of a closing op, in the whole plan.
  const endOf = (q: number): number => (q < first ? last.end[q - lastFirst]! : closing.end[q - first]!);
  const ready = new Float64Array(program.count - first);
  const pushReady = (q: number): void => {
    for (let k = program.succOffset[q]!; k < program.succOffset[q + 1]!; k++) {
      const o = program.succ[k]!;
      if (o >= first && endOf(q) > ready[o - first]!) ready[o - first] = endOf(q);
    }
  };
  // Predecessors of closing ops lie in the last layer or among the closing ops (planLayers).
  for (let q = lastFirst; q < first; q++) pushReady(q);
  const prevInQueue = new Int32Array(program.count - first).fill(-1);
  // A queue lists its ops in increasing order: only its tail holds closing ops.
  for (let queue = 0; queue < program.queueCount; queue++) {
    for (let k = program.queueOffset[queue + 1]! - 1; k > program.queueOffset[queue]!; k--) {
      const o = program.queueOps[k]!;
      if (o < first) break;
      prevInQueue[o - first] = program.queueOps[k - 1]!;
    }
  }
  for (let o = first; o < program.count; o++) {
    if (program.isTransfer[o]) return false;
    const prev = prevInQueue[o - first]!;
    if (prev >= 0 && prev < lastFirst) return false;
    let t = ready[o - first]!;
    if (prev >= 0 && endOf(prev) > t) t = endOf(prev);
    closing.start[o - first] = t;
    closing.flowStart[o - first] = t;
    closing.end[o - first] = t + durations[program.layout.planOf[o]!]!;
    pushReady(o);
  }
  return true;
}

/** Events the event engine would have handled for the full plan: per layer as in the sample's layer n-1. */
function foldedEvents(program: EngineProgram, bytes: Float64Array, n: number, KE: number, L: number): number {
  const eventsOf = (op: number): number => {
    if (!program.isTransfer[op]) return 1;
    if (bytes[op] === 0) return 1;
    return program.latency[op]! > 0 ? 2 : 1;
  };
  let before = 0;
  for (let op = 0; op < (n - 1) * KE; op++) before += eventsOf(op);
  let layer = 0;
  for (let op = (n - 1) * KE; op < n * KE; op++) layer += eventsOf(op);
  let closing = 0;
  for (let op = n * KE; op < program.count; op++) closing += eventsOf(op);
  // Layers 1..n-1 all count alike (same ops, routes and bytes), and layer 0 like them too.
  return before + (L - n + 1) * layer + closing;
}
