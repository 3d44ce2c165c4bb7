/**
 * Shape-aware kernel costs (issue 14): the time of a GEMM from (m, n, k) and of an attention from
 * (query tokens c, prefix P, causal or dense, heads, KV heads, head dim), each by two routes:
 *
 *   analytic  a model with a few fitted constants and the shape effects written out
 *             (GEMM: tile and wave quantisation over the SMs; attention: the square causal block
 *             and the chunk-over-prefix kernel paths, each with a rate that grows with the rows of
 *             work and a latency floor);
 *   measured  the analytic time times a correction: measured / analytic on the nearest measured
 *             shapes, interpolated in log m (GEMM) or log c and log P (attention). At a measured
 *             shape the route returns the measured time exactly; outside the measured range the
 *             correction is clamped to the edge and the shape is reported as extrapolated.
 *
 * Pure arithmetic on plain data: a profile (calibration/profiles/<gpu>-<stack>.json) carries the
 * constants and the measured points; sim/ never reads files.
 */

/** One GEMM tile shape a library may pick and its efficiency relative to the best tile. */
export interface GemmTile {
  m: number;
  n: number;
  relative: number;
}

/**
 * Analytic GEMM: time = latency + max(compute, memory), compute = waves x (one tile's FLOPs at
 * the per-SM rate) for the best of the candidate tiles, waves = ceil(tiles / SMs), memory = the
 * operands and output (b bytes each) at the achievable HBM bandwidth.
 */
export interface GemmAnalytic {
  sms: number;
  tiles: GemmTile[];
  /** Fraction of peak FLOP/s the best tile reaches in a full wave. */
  efficiency: number;
  latency_s: number;
}

/**
 * Analytic attention: time = latency + max(FLOPs / rate, bytes / HBM), rate = plateau x rows /
 * (rows + half_rows), rows = query tokens x heads. Two kernel paths: `square` (causal, P = 0: the
 * causal block of the chunk with itself) and `prefix` (a chunk over P > 0 earlier keys, and dense
 * masks): measured SDPA on an H200 runs the second ~2x slower per useful FLOP at 16k.
 */
export interface AttentionPathModel {
  latency_s: number;
  plateau_flops: number;
  half_rows: number;
}

export interface AttentionAnalytic {
  square: AttentionPathModel;
  prefix: AttentionPathModel;
}

export interface GemmPoint {
  m: number;
  n: number;
  k: number;
  seconds: number;
}

export type AttentionMask = 'causal' | 'dense';

/** A measured attention shape (AttentionShape, below) and its time. */
export interface AttentionPoint extends AttentionShape {
  seconds: number;
}

/** Memory-bound kernels: time = max(bytes / (HBM x fraction), launch floor). */
export interface MemoryModel {
  hbm_bandwidth: number;
  hbm_fraction: number;
  /** Per-kernel floor: GPU launch latency (fused) or eager per-op dispatch (eager). */
  launch_s: number;
}

export const SOFTWARE_STACKS = ['eager', 'fused'] as const;
export type SoftwareStack = (typeof SOFTWARE_STACKS)[number];

/** Everything the shape-aware cost model needs about one GPU under one software stack. */
export interface ShapeModel {
  stack: SoftwareStack;
  peak_flops: number;
  dtype_bytes: number;
  gemm: GemmAnalytic;
  attention: AttentionAnalytic;
  memory: MemoryModel;
  /** Measured points (empty: analytic only). */
  gemm_points: GemmPoint[];
  attention_points: AttentionPoint[];
  /** Cross-validated (leave-one-out) mean relative error per op class; null: not measured. */
  cv_error: { gemm: number | null; attention: number | null; memory?: number | null };
  /**
   * fp8 kernels (--dtype fp8, --ffn-dtype fp8): GEMMs at `peak_flops` x `gemm_efficiency` per SM,
   * attention plateaus x `attention_scale`. Absent: no fp8 tensor cores. Measured corrections
   * (fp16 points) apply to fp8 kernels as ratios, which is an assumption, reported as a note.
   */
  fp8?: { peak_flops: number; gemm_efficiency: number; attention_scale: number };
}

/**
 * The element formats of one kernel: fp8 runs at the fp8 peak; weight and activation bytes set
 * its memory traffic. Absent: the profile's own dtype (dtype_bytes, fp16 peak).
 */
export interface KernelDtype {
  fp8: boolean;
  weight_bytes: number;
  act_bytes: number;
}

function fp8Model(model: ShapeModel): NonNullable<ShapeModel['fp8']> {
  if (model.fp8 === undefined) throw new Error('fp8 kernel on a shape model without fp8 (checkPrecisionOnGpu should have refused it)');
  return model.fp8;
}

/** Where a cost left the measured range; collected into the result's warnings. */
export type ExtrapolationNote = string;

// ---------------------------------------------------------------------------------------------
// GEMM

/** The library tiles of the analytic model: CUTLASS/cuBLAS Hopper fp16 kernels use 128x256 and
 * 128x128 CTA tiles for large problems and 64-row tiles for skinny ones. */
export const DEFAULT_GEMM_TILES: GemmTile[] = [
  { m: 128, n: 256, relative: 1 },
  { m: 128, n: 128, relative: 0.92 },
  { m: 64, n: 128, relative: 0.8 },
];

export function analyticGemmSeconds(model: ShapeModel, m: number, n: number, k: number, batch = 1, dtype?: KernelDtype): number {
  const g = model.gemm;
  const fp8 = dtype?.fp8 === true ? fp8Model(model) : undefined;
  const perSm = (fp8 === undefined ? model.peak_flops * g.efficiency : fp8.peak_flops * fp8.gemm_efficiency) / g.sms;
  let compute = Infinity;
  for (const tile of g.tiles) {
    const tiles = batch * Math.ceil(m / tile.m) * Math.ceil(n / tile.n);
    const waves = Math.ceil(tiles / g.sms);
    const seconds = (waves * 2 * tile.m * tile.n * k) / (perSm * tile.relative);
    if (seconds < compute) compute = seconds;
  }
  const bytes = dtype === undefined ? model.dtype_bytes * batch * (m * k + k * n + m * n) : batch * (dtype.act_bytes * (m * k + m * n) + dtype.weight_bytes * k * n);
  const memory = bytes / (model.memory.hbm_bandwidth * model.memory.hbm_fraction);
  return g.latency_s + Math.max(compute, memory);
}

/**
 * GEMM seconds: analytic x the measured correction of the nearest measured (n, k) (exact match,
 * else the closest in log(n k), then log(n / k)), interpolated linearly in log m.
 */
export function gemmSeconds(model: ShapeModel, m: number, n: number, k: number, notes?: Set<ExtrapolationNote>, batch = 1, dtype?: KernelDtype): number {
  const analytic = analyticGemmSeconds(model, m, n, k, batch, dtype);
  if (model.gemm_points.length === 0) return analytic;
  if (dtype?.fp8 === true) notes?.add('fp8 GEMMs: the measured (fp16) corrections applied to the fp8 analytic time');
  const groups = prepared(model).gemm;
  let best = groups[0]!;
  let bestDistance = Infinity;
  for (const g of groups) {
    const distance = Math.abs(Math.log((g.n * g.k) / (n * k))) + 0.5 * Math.abs(Math.log((g.n / g.k) / (n / k)));
    if (distance < bestDistance) {
      bestDistance = distance;
      best = g;
    }
  }
  if (bestDistance > 0 && notes !== undefined) notes.add(`gemm n=${n} k=${k} not measured: corrected as the nearest measured shape n=${best.n} k=${best.k}`);
  const correction = interpolateLog(best.corrections, m, notes === undefined ? undefined : (lo, hi) => notes.add(`gemm m=${m} outside the measured m range [${lo}, ${hi}]`));
  return analytic * correction;
}

/** Measured / analytic corrections, grouped and sorted once per model (models are immutable). */
interface Prepared {
  gemm: Array<{ n: number; k: number; corrections: Array<readonly [number, number]> }>;
  attention: Array<{
    path: 'square' | 'prefix';
    mask: AttentionMask;
    heads: number;
    kv_heads: number;
    head_dim: number;
    /** square: (c, correction); prefix: rows of c, each with (P, correction). */
    byC: Array<readonly [number, number]>;
    rows: Array<{ c: number; byP: Array<readonly [number, number]> }>;
  }>;
}

const PREPARED = new WeakMap<ShapeModel, Prepared>();

function prepared(model: ShapeModel): Prepared {
  let p = PREPARED.get(model);
  if (p !== undefined) return p;
  const gemm: Prepared['gemm'] = [];
  for (const point of model.gemm_points) {
    let group = gemm.find((g) => g.n === point.n && g.k === point.k);
    if (group === undefined) gemm.push((group = { n: point.n, k: point.k, corrections: [] }));
    group.corrections.push([point.m, point.seconds / analyticGemmSeconds(model, point.m, point.n, point.k)]);
  }
  for (const g of gemm) g.corrections.sort((a, b) => a[0] - b[0]);
  const attention: Prepared['attention'] = [];
  for (const point of model.attention_points) {
    const path = attentionPath(point);
    let group = attention.find((g) => g.path === path && g.mask === point.mask && g.heads === point.heads && g.kv_heads === point.kv_heads && g.head_dim === point.head_dim);
    if (group === undefined) attention.push((group = { path, mask: point.mask, heads: point.heads, kv_heads: point.kv_heads, head_dim: point.head_dim, byC: [], rows: [] }));
    const ratio = point.seconds / analyticAttentionSeconds(model, point);
    if (path === 'square') group.byC.push([point.c, ratio]);
    else {
      let row = group.rows.find((r) => r.c === point.c);
      if (row === undefined) group.rows.push((row = { c: point.c, byP: [] }));
      row.byP.push([point.P, ratio]);
    }
  }
  for (const g of attention) {
    g.byC.sort((a, b) => a[0] - b[0]);
    g.rows.sort((a, b) => a.c - b.c);
    for (const r of g.rows) r.byP.sort((a, b) => a[0] - b[0]);
  }
  p = { gemm, attention };
  PREPARED.set(model, p);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Attention

export interface AttentionShape {
  /** Query tokens. */
  c: number;
  /** Earlier tokens (causal) ; for a dense mask, keys = P + c are all scored. */
  P: number;
  mask: AttentionMask;
  heads: number;
  kv_heads: number;
  head_dim: number;
}

/** Useful FLOPs as DESIGN §2 counts them: causal 4 h hd c (P + (c+1)/2); dense 4 h hd c (P + c). */
export function attentionFlops(s: AttentionShape): number {
  return s.mask === 'causal' ? 4 * s.heads * s.head_dim * s.c * s.P + 2 * s.heads * s.head_dim * s.c * (s.c + 1) : 4 * s.heads * s.head_dim * s.c * (s.P + s.c);
}

export function attentionPath(s: AttentionShape): 'square' | 'prefix' {
  return s.mask === 'causal' && s.P === 0 ? 'square' : 'prefix';
}

export function analyticAttentionSeconds(model: ShapeModel, s: AttentionShape, dtype?: KernelDtype): number {
  const path = model.attention[attentionPath(s)];
  const rows = s.c * s.heads;
  const plateau = dtype?.fp8 === true ? path.plateau_flops * fp8Model(model).attention_scale : path.plateau_flops;
  const rate = (plateau * rows) / (rows + path.half_rows);
  // Q in, O out (activation dtype), every key's K and V read once (KV-cache dtype: weight_bytes).
  const bytes =
    dtype === undefined
      ? model.dtype_bytes * (2 * s.c * s.heads * s.head_dim + 2 * (s.P + s.c) * s.kv_heads * s.head_dim)
      : dtype.act_bytes * 2 * s.c * s.heads * s.head_dim + dtype.weight_bytes * 2 * (s.P + s.c) * s.kv_heads * s.head_dim;
  return path.latency_s + Math.max(attentionFlops(s) / rate, bytes / (model.memory.hbm_bandwidth * model.memory.hbm_fraction));
}

/**
 * Attention seconds: analytic x the measured correction. The correction comes from points of the
 * same path and the nearest (mask, head_dim, heads, kv_heads) group; over the prefix path it is
 * interpolated in log P within each measured c row, then in log c between the two rows around c.
 */
export function attentionSeconds(model: ShapeModel, s: AttentionShape, notes?: Set<ExtrapolationNote>, dtype?: KernelDtype): number {
  const analytic = analyticAttentionSeconds(model, s, dtype);
  if (model.attention_points.length === 0) return analytic;
  if (dtype?.fp8 === true) notes?.add('fp8 attention: the measured (fp16) corrections applied to the fp8 analytic time');
  const path = attentionPath(s);
  let best: Prepared['attention'][number] | undefined;
  let bestDistance = Infinity;
  for (const g of prepared(model).attention) {
    if (g.path !== path) continue;
    const distance =
      (g.mask === s.mask ? 0 : 4) + (g.head_dim === s.head_dim ? 0 : 2) + Math.abs(Math.log(g.heads / s.heads)) + 0.5 * Math.abs(Math.log(g.kv_heads / s.kv_heads));
    if (distance < bestDistance) {
      bestDistance = distance;
      best = g;
    }
  }
  if (best === undefined) {
    notes?.add(`attention path ${path} not measured: analytic model only`);
    return analytic;
  }
  if (bestDistance > 0 && notes !== undefined) {
    notes.add(
      `attention ${s.mask} heads=${s.heads} kv_heads=${s.kv_heads} head_dim=${s.head_dim} not measured: corrected as ${best.mask} heads=${best.heads} kv_heads=${best.kv_heads} head_dim=${best.head_dim}`,
    );
  }
  const outside = (axis: string) => (notes === undefined ? undefined : (lo: number, hi: number) => notes.add(`attention ${axis} outside the measured range [${lo}, ${hi}]`));
  if (path === 'square') return analytic * interpolateLog(best.byC, s.c, outside(`c=${s.c}`));
  // Dense masks without dense points: priced like the causal chunk over the same keys.
  const rows = best.rows;
  const rowCorrection = (c: number): number => interpolateLog(rows.find((r) => r.c === c)!.byP, s.P, outside(`P (at c=${c})=${s.P}`));
  return analytic * interpolateLog(rows.map((r) => [r.c, Number.NaN] as const), s.c, outside(`c=${s.c}`), rowCorrection);
}

/**
 * Linear interpolation in log x over points (x, y) sorted by ascending x; clamped (and reported through
 * `outside`) beyond the ends. `valueAt`, when given, computes y at a grid x lazily.
 */
export function interpolateLog(
  sorted: ReadonlyArray<readonly [number, number]>,
  x: number,
  outside?: (lo: number, hi: number) => void,
  valueAt?: (x: number) => number,
): number {
  const y = (i: number): number => (valueAt === undefined ? sorted[i]![1] : valueAt(sorted[i]![0]));
  const first = sorted[0]![0];
  const last = sorted[sorted.length - 1]![0];
  if (x < first || x > last) outside?.(first, last);
  if (x <= first) return y(0);
  if (x >= last) return y(sorted.length - 1);
  let i = 1;
  while (sorted[i]![0] < x) i++;
  const x0 = sorted[i - 1]![0];
  const x1 = sorted[i]![0];
  if (x1 === x) return y(i);
  const u = (Math.log(x) - Math.log(x0)) / (Math.log(x1) - Math.log(x0));
  const y0 = y(i - 1);
  return y0 + u * (y(i) - y0);
}

/** Time of one memory-bound kernel: its bytes at the achievable HBM bandwidth, or its floor. */
export function memoryKernelSeconds(model: ShapeModel, bytes: number): number {
  return Math.max(bytes / (model.memory.hbm_bandwidth * model.memory.hbm_fraction), model.memory.launch_s);
}
