import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { KvrInputError, describeValue } from '../sim/errors.js';
import { GPU_PRESETS } from '../sim/hardware/gpu-presets.js';
import type { GpuSpec } from '../sim/hardware/gpu-spec.js';
import {
  DEFAULT_GEMM_TILES,
  analyticAttentionSeconds,
  analyticGemmSeconds,
  attentionPath,
  attentionSeconds,
  gemmSeconds,
  type AttentionMask,
  type AttentionPathModel,
  type AttentionPoint,
  type GemmPoint,
  type ShapeModel,
  type SoftwareStack,
} from '../sim/hardware/shape-model.js';
import { SHAPE_PROFILE_SCHEMA } from '../sim/hardware/shape-profile.js';

/**
 * `kvr calibrate --from FILE...`: measurement files -> a shape profile.
 *
 *   read     every file's schema tag must be one this fit knows (MEASUREMENT_SCHEMAS); GEMM and
 *            attention points are taken, other sections (elementwise, launch, p2p, collectives)
 *            are recorded as present but not fitted yet
 *   fit      the analytic constants (GEMM: efficiency, latency; attention, per kernel path:
 *            latency, plateau rate, half-rate rows) by least squares in log time, with a
 *            deterministic coarse-to-fine grid search (same input, same bits)
 *   measure  the profile keeps every point: costs are the analytic time x the measured
 *            correction, exact at measured shapes
 *   score    leave-one-out: each point is predicted by a profile refitted without it; the mean
 *            and max relative error per op class are the profile's cross-validated error
 *
 * Memory-bound kernels are not in the measurement files: they are priced from bytes at a
 * published achievable fraction of the datasheet HBM bandwidth, with a published per-kernel floor
 * (MEMORY_DEFAULTS).
 */
export const MEASUREMENT_SCHEMAS = ['kvr-measurements/h200-pytorch-microbench@1', 'kvr-measurements/torch-probe@1'] as const;

/**
 * Memory-bound kernel constants, by stack:
 * - hbm_fraction 0.84: coalesced matrix loads sustain 2.8 TB/s of the H100 SXM's 3.35 TB/s (84%),
 *   measured with Nsight Compute ("GPU Memory Bandwidth: What Your Profiler Isn't Telling You",
 *   https://mikamirai.com/blog/gpu-memory-bandwidth/). Taken as the fraction of datasheet HBM
 *   bandwidth (H200: 4.8 TB/s, NVIDIA H200 datasheet) a streaming elementwise kernel reaches.
 * - eager launch 10 us: PyTorch eager spends ~5-25 us of CPU-side work per op (Python, pybind11,
 *   dispatcher, cudaLaunchKernel) before a kernel runs; for tiny pointwise ops that is the runtime
 *   ("From PyTorch op to kernel launch", https://jiahuanglin.xyz/all_lessons/gpu_kernel_serving/18_pytorch_to_kernel.html).
 *   We take 10 us, inside that range, as the floor of every eager memory-bound kernel.
 * - fused launch 3 us: cudaLaunchKernel itself costs ~1-3 us on CUDA 12+ drivers (same source);
 *   serving engines launch from C++ without the eager dispatch.
 */
export const MEMORY_DEFAULTS: Record<SoftwareStack, { hbm_fraction: number; launch_s: number; sources: string[] }> = {
  eager: {
    hbm_fraction: 0.84,
    launch_s: 10e-6,
    sources: [
      'hbm_fraction 0.84: coalesced loads at 2.8 of 3.35 TB/s on H100 SXM, https://mikamirai.com/blog/gpu-memory-bandwidth/',
      'launch_s 10 us: PyTorch eager ~5-25 us CPU-side per op, https://jiahuanglin.xyz/all_lessons/gpu_kernel_serving/18_pytorch_to_kernel.html',
    ],
  },
  fused: {
    hbm_fraction: 0.84,
    launch_s: 3e-6,
    sources: [
      'hbm_fraction 0.84: coalesced loads at 2.8 of 3.35 TB/s on H100 SXM, https://mikamirai.com/blog/gpu-memory-bandwidth/',
      'launch_s 3 us: cudaLaunchKernel ~1-3 us on CUDA 12+, https://jiahuanglin.xyz/all_lessons/gpu_kernel_serving/18_pytorch_to_kernel.html',
    ],
  },
};

/** SM counts of the GPUs a measurement file may name (NVIDIA datasheets / whitepapers). */
const GPU_BY_NAME: Array<{ pattern: RegExp; preset: string; sms: number }> = [
  { pattern: /GH200/i, preset: 'gh200', sms: 132 },
  { pattern: /H200/i, preset: 'h200', sms: 132 },
  { pattern: /H100.*PCIe/i, preset: 'h100-pcie', sms: 114 },
  { pattern: /H100/i, preset: 'h100-sxm', sms: 132 },
  { pattern: /H20\b/i, preset: 'h20', sms: 78 },
  { pattern: /B200/i, preset: 'b200', sms: 148 },
  { pattern: /L40S/i, preset: 'l40s', sms: 142 },
  { pattern: /MI300X/i, preset: 'mi300x', sms: 304 },
  { pattern: /A100.*80/i, preset: 'a100-80g', sms: 108 },
  { pattern: /A100/i, preset: 'a100-40g', sms: 108 },
];

export interface MeasurementFile {
  /** As given on the command line (recorded by basename). */
  path: string;
  text: string;
}

export interface ParsedMeasurements {
  file: string;
  sha256: string;
  schema: string;
  gpu: string;
  torch: string | null;
  dtype: string;
  gemm: GemmPoint[];
  attention: AttentionPoint[];
  /** torch-probe@1 `elementwise`: memory-bound kernels with their bytes (fitted: HBM fraction, floor). */
  elementwise: Array<{ kernel: string; bytes: number; seconds: number }>;
  /** torch-probe@1 `launch.empty_kernel_us`, in seconds; null when absent. */
  empty_kernel_s: number | null;
  /** Sections present in the file that this fit does not use yet. */
  not_fitted: string[];
}

/** Reads one measurement file; bad input is one KvrInputError naming the file and field. */
export function parseMeasurements(file: MeasurementFile): ParsedMeasurements {
  const where = basename(file.path);
  let doc: unknown;
  try {
    doc = JSON.parse(file.text);
  } catch (error) {
    throw new KvrInputError(`--from ${where}`, `not JSON (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new KvrInputError(`--from ${where}`, 'expected a JSON object');
  const o = doc as Record<string, unknown>;
  if (typeof o.schema !== 'string' || !(MEASUREMENT_SCHEMAS as readonly string[]).includes(o.schema)) {
    throw new KvrInputError(`--from ${where}: schema`, `expected one of ${MEASUREMENT_SCHEMAS.join(', ')} (got ${describeValue(o.schema)})`);
  }
  const num = (v: unknown, at: string, min: number): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new KvrInputError(`--from ${where}: ${at}`, `expected a number >= ${min} (got ${describeValue(v)})`);
    return v;
  };
  const shape = (o.model_shape ?? {}) as Record<string, unknown>;
  const dtype = typeof o.dtype === 'string' ? o.dtype : 'fp16';
  if (dtype !== 'fp16' && dtype !== 'bf16') throw new KvrInputError(`--from ${where}: dtype`, `expected fp16 or bf16 (got ${describeValue(o.dtype)})`);
  const list = (key: string): Record<string, unknown>[] => {
    const v = o[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new KvrInputError(`--from ${where}: ${key}`, 'expected an array');
    return v.map((e, i) => {
      if (typeof e !== 'object' || e === null) throw new KvrInputError(`--from ${where}: ${key}[${i}]`, 'expected an object');
      return e as Record<string, unknown>;
    });
  };
  const gemm = list('gemm').map((e, i): GemmPoint => {
    if (e.dtype !== undefined && e.dtype !== dtype) throw new KvrInputError(`--from ${where}: gemm[${i}].dtype`, `expected ${dtype}, the file's dtype (got ${describeValue(e.dtype)})`);
    return { m: num(e.m, `gemm[${i}].m`, 1), n: num(e.n, `gemm[${i}].n`, 1), k: num(e.k, `gemm[${i}].k`, 1), seconds: num(e.ms, `gemm[${i}].ms`, 0) / 1e3 };
  });
  const attention = list('attention').map((e, i): AttentionPoint => {
    const at = `attention[${i}]`;
    const mask = e.mask ?? 'causal';
    if (mask !== 'causal' && mask !== 'dense') throw new KvrInputError(`--from ${where}: ${at}.mask`, `expected causal or dense (got ${describeValue(mask)})`);
    return {
      c: num(e.c, `${at}.c`, 1),
      P: num(e.P, `${at}.P`, 0),
      mask: mask as AttentionMask,
      heads: num(e.heads ?? shape.heads, `${at}.heads (or model_shape.heads)`, 1),
      kv_heads: num(e.kv_heads ?? shape.kv_heads ?? e.heads ?? shape.heads, `${at}.kv_heads (or model_shape.kv_heads)`, 1),
      head_dim: num(e.head_dim ?? shape.head_dim, `${at}.head_dim (or model_shape.head_dim)`, 1),
      seconds: num(e.ms, `${at}.ms`, 0) / 1e3,
    };
  });
  const elementwise = list('elementwise').map((e, i) => ({
    kernel: typeof e.kernel === 'string' ? e.kernel : `elementwise[${i}]`,
    bytes: num(e.bytes, `elementwise[${i}].bytes`, 1),
    seconds: num(e.ms, `elementwise[${i}].ms`, 0) / 1e3,
  }));
  const launch = o.launch as Record<string, unknown> | undefined;
  const empty_kernel_s = launch === undefined || launch.empty_kernel_us === undefined ? null : num(launch.empty_kernel_us, 'launch.empty_kernel_us', 0) / 1e6;
  const not_fitted = ['p2p', 'collectives'].filter((k) => o[k] !== undefined);
  return {
    file: where,
    sha256: createHash('sha256').update(file.text).digest('hex'),
    schema: o.schema,
    gpu: typeof o.gpu === 'string' ? o.gpu : 'unknown GPU',
    torch: typeof o.torch === 'string' ? o.torch : null,
    dtype,
    gemm,
    attention,
    elementwise,
    empty_kernel_s,
    not_fitted,
  };
}

/** Points with the same key merged into the first, its seconds the geometric mean of theirs. */
export function mergeRepeats<T extends { seconds: number }>(points: T[], key: (p: T) => string): T[] {
  const groups = new Map<string, T[]>();
  for (const p of points) {
    const k = key(p);
    const group = groups.get(k);
    if (group === undefined) groups.set(k, [p]);
    else group.push(p);
  }
  return [...groups.values()].map((group) =>
    group.length === 1 ? group[0]! : { ...group[0]!, seconds: Math.exp(group.reduce((sum, p) => sum + Math.log(p.seconds), 0) / group.length) },
  );
}

/** Parameters of one search dimension: [lo, hi], on a log scale or not. */
interface Dimension {
  lo: number;
  hi: number;
  log: boolean;
}

/**
 * Deterministic least squares: a grid of `steps` per dimension, then `rounds` refinements on a
 * grid two steps wide around the best point. Ties keep the first point found.
 */
export function minimize(dims: Dimension[], loss: (x: number[]) => number, steps = 13, rounds = 6): number[] {
  let ranges = dims.map((d) => ({ ...d }));
  let best = dims.map((d) => (d.log ? Math.sqrt(d.lo * d.hi) : (d.lo + d.hi) / 2));
  let bestLoss = loss(best);
  for (let round = 0; round <= rounds; round++) {
    const axes = ranges.map((r) =>
      Array.from({ length: steps }, (_, i) => (r.log ? r.lo * Math.pow(r.hi / r.lo, i / (steps - 1)) : r.lo + ((r.hi - r.lo) * i) / (steps - 1))),
    );
    const index = new Array<number>(dims.length).fill(0);
    for (;;) {
      const x = index.map((i, d) => axes[d]![i]!);
      const value = loss(x);
      if (value < bestLoss) {
        bestLoss = value;
        best = x;
      }
      let d = 0;
      while (d < dims.length && ++index[d]! === steps) index[d++] = 0;
      if (d === dims.length) break;
    }
    ranges = ranges.map((r, d) => {
      const original = dims[d]!;
      if (r.log) {
        const f = Math.pow(r.hi / r.lo, 2 / (steps - 1));
        return { lo: Math.max(original.lo, best[d]! / f), hi: Math.min(original.hi, best[d]! * f), log: true };
      }
      const w = (2 * (r.hi - r.lo)) / (steps - 1);
      return { lo: Math.max(original.lo, best[d]! - w), hi: Math.min(original.hi, best[d]! + w), log: false };
    });
  }
  return best;
}

const squaredLogError = (predicted: number, measured: number): number => Math.log(predicted / measured) ** 2;

/** The analytic part of a shape model, fitted to points (measured points not attached yet). */
export function fitAnalytic(base: ShapeModel, gemm: GemmPoint[], attention: AttentionPoint[]): ShapeModel {
  let model: ShapeModel = { ...base, gemm_points: [], attention_points: [] };
  if (gemm.length > 0) {
    const [efficiency, latency] = minimize(
      [
        { lo: 0.2, hi: 1, log: false },
        { lo: 0, hi: 100e-6, log: false },
      ],
      ([e, l]) => {
        const m: ShapeModel = { ...model, gemm: { ...model.gemm, efficiency: e!, latency_s: l! } };
        let sum = 0;
        for (const p of gemm) sum += squaredLogError(analyticGemmSeconds(m, p.m, p.n, p.k), p.seconds);
        return sum;
      },
    );
    model = { ...model, gemm: { ...model.gemm, efficiency: efficiency!, latency_s: latency! } };
  }
  for (const path of ['square', 'prefix'] as const) {
    const points = attention.filter((p) => attentionPath(p) === path);
    if (points.length === 0) continue;
    const [latency, plateau, half] = minimize(
      [
        { lo: 0, hi: 200e-6, log: false },
        { lo: 0.02 * base.peak_flops, hi: 1.2 * base.peak_flops, log: true },
        { lo: 1, hi: 1e8, log: true },
      ],
      ([l, r, h]) => {
        const pm: AttentionPathModel = { latency_s: l!, plateau_flops: r!, half_rows: h! };
        const m: ShapeModel = { ...model, attention: { ...model.attention, [path]: pm } };
        let sum = 0;
        for (const p of points) sum += squaredLogError(analyticAttentionSeconds(m, p), p.seconds);
        return sum;
      },
    );
    model = { ...model, attention: { ...model.attention, [path]: { latency_s: latency!, plateau_flops: plateau!, half_rows: half! } } };
  }
  return model;
}

/** The full model: analytic constants fitted to the points, and the points as the correction table. */
export function fitShapeModel(base: ShapeModel, gemm: GemmPoint[], attention: AttentionPoint[]): ShapeModel {
  return { ...fitAnalytic(base, gemm, attention), gemm_points: gemm, attention_points: attention };
}

export interface PointError {
  predicted_s: number;
  measured_s: number;
  error: number;
}

export interface ClassError {
  points: number;
  mean: number;
  max: number;
}

/** Leave-one-out: every point predicted by a model refitted without it. */
export function leaveOneOut(base: ShapeModel, gemm: GemmPoint[], attention: AttentionPoint[]): { gemm: PointError[]; attention: PointError[] } {
  const gemmErrors = gemm.map((p, i) => {
    const model = fitShapeModel(base, gemm.filter((_, j) => j !== i), attention);
    const predicted = gemmSeconds(model, p.m, p.n, p.k);
    return { predicted_s: predicted, measured_s: p.seconds, error: Math.abs(predicted / p.seconds - 1) };
  });
  const attentionErrors = attention.map((p, i) => {
    const model = fitShapeModel(base, gemm, attention.filter((_, j) => j !== i));
    const predicted = attentionSeconds(model, p);
    return { predicted_s: predicted, measured_s: p.seconds, error: Math.abs(predicted / p.seconds - 1) };
  });
  return { gemm: gemmErrors, attention: attentionErrors };
}

export function classError(errors: PointError[]): ClassError | null {
  if (errors.length === 0) return null;
  let sum = 0;
  let max = 0;
  for (const e of errors) {
    sum += e.error;
    if (e.error > max) max = e.error;
  }
  return { points: errors.length, mean: sum / errors.length, max };
}

export interface MemoryFit {
  hbm_fraction: number;
  launch_s: number;
  /** Where each constant came from. */
  from: { hbm_fraction: 'measured' | 'published'; launch_s: 'measured' | 'published' | 'measured and published' };
  errors: PointError[];
}

/**
 * Memory-bound constants: from the files' elementwise kernels where there are some (time =
 * max(bytes / (HBM x fraction), floor), least squares in log time; leave-one-out errors), else
 * published (MEMORY_DEFAULTS). The eager floor is never below the published per-op dispatch cost:
 * CUDA-event timings of one kernel do not see the CPU work between eager ops.
 */
export function fitMemory(hbm: number, stack: SoftwareStack, elementwise: ParsedMeasurements['elementwise'], emptyKernel: number | null): MemoryFit {
  const published = MEMORY_DEFAULTS[stack];
  const fit = (points: ParsedMeasurements['elementwise']): [number, number] => {
    const [fraction, floor] = minimize(
      [
        { lo: 0.2, hi: 1, log: false },
        { lo: 0, hi: 100e-6, log: false },
      ],
      ([f, l]) => {
        let sum = 0;
        for (const p of points) sum += squaredLogError(Math.max(p.bytes / (hbm * f!), l!), p.seconds);
        return sum;
      },
    );
    return [fraction!, floor!];
  };
  if (elementwise.length < 2) {
    const measuredFloor = emptyKernel ?? 0;
    const launch = stack === 'eager' ? Math.max(published.launch_s, measuredFloor) : emptyKernel ?? published.launch_s;
    return { hbm_fraction: published.hbm_fraction, launch_s: launch, from: { hbm_fraction: 'published', launch_s: emptyKernel === null ? 'published' : stack === 'eager' ? 'measured and published' : 'measured' }, errors: [] };
  }
  const [fraction, floor] = fit(elementwise);
  const errors = elementwise.map((p, i) => {
    const [f, l] = fit(elementwise.filter((_, j) => j !== i));
    const predicted = Math.max(p.bytes / (hbm * f), l);
    return { predicted_s: predicted, measured_s: p.seconds, error: Math.abs(predicted / p.seconds - 1) };
  });
  const gpuFloor = Math.max(floor, emptyKernel ?? 0);
  return { hbm_fraction: fraction, launch_s: stack === 'eager' ? Math.max(published.launch_s, gpuFloor) : gpuFloor, from: { hbm_fraction: 'measured', launch_s: stack === 'eager' ? 'measured and published' : 'measured' }, errors };
}

/** A starting shape model for a GPU preset: default tiles, the stack's memory constants. */
export function baseShapeModel(gpu: GpuSpec, sms: number, stack: SoftwareStack, dtypeBytes: number): ShapeModel {
  const defaults = MEMORY_DEFAULTS[stack];
  const pathDefault: AttentionPathModel = { latency_s: 20e-6, plateau_flops: 0.6 * gpu.peak_flops, half_rows: 1e4 };
  return {
    stack,
    peak_flops: gpu.peak_flops,
    dtype_bytes: dtypeBytes,
    gemm: { sms, tiles: DEFAULT_GEMM_TILES.map((t) => ({ ...t })), efficiency: 0.8, latency_s: 5e-6 },
    attention: { square: { ...pathDefault }, prefix: { ...pathDefault } },
    memory: { hbm_bandwidth: gpu.hbm_bandwidth ?? 1e15, hbm_fraction: defaults.hbm_fraction, launch_s: defaults.launch_s },
    gemm_points: [],
    attention_points: [],
    cv_error: { gemm: null, attention: null },
  };
}

export interface CalibrateFromOptions {
  files: MeasurementFile[];
  name: string;
  /** A GPU preset; default: recognised from the files' `gpu` field. */
  base?: string;
  stack?: SoftwareStack;
  /** The command line, recorded in the profile. */
  command: string;
}

/** Fits a shape profile from measurement files; the same files give the same document, bit for bit. */
export function calibrateFrom(options: CalibrateFromOptions): Record<string, unknown> {
  if (options.files.length === 0) throw new KvrInputError('--from', 'expected at least one measurement file');
  const parsed = options.files.map(parseMeasurements);
  const gpuNames = [...new Set(parsed.map((p) => p.gpu))];
  if (gpuNames.length > 1) throw new KvrInputError('--from', `files measure different GPUs (${gpuNames.join(', ')}); one profile is one GPU`);
  const dtypes = [...new Set(parsed.map((p) => p.dtype))];
  if (dtypes.length > 1) throw new KvrInputError('--from', `files measure different dtypes (${dtypes.join(', ')})`);
  const known = GPU_BY_NAME.find((g) => g.pattern.test(gpuNames[0]!));
  const presetName = options.base ?? known?.preset;
  if (presetName === undefined || GPU_PRESETS[presetName] === undefined || presetName === 'ideal') {
    throw new KvrInputError('--base', `name the GPU preset the files measure (one of ${Object.keys(GPU_PRESETS).filter((n) => n !== 'ideal').join(', ')}); ${describeValue(gpuNames[0])} is not recognised`);
  }
  const preset = GPU_PRESETS[presetName]!;
  const sms = known?.sms ?? preset.shape?.gemm.sms ?? 132;
  const stack = options.stack ?? 'eager';
  const memoryFit = fitMemory(preset.hbm_bandwidth ?? 1e15, stack, parsed.flatMap((p) => p.elementwise), parsed.find((p) => p.empty_kernel_s !== null)?.empty_kernel_s ?? null);
  const base0 = baseShapeModel(preset, sms, stack, 2);
  const base: ShapeModel = { ...base0, memory: { ...base0.memory, hbm_fraction: memoryFit.hbm_fraction, launch_s: memoryFit.launch_s } };
  // A shape measured more than once (several files) is one point: the geometric mean of its times.
  const gemm = mergeRepeats(parsed.flatMap((p) => p.gemm), (p) => `${p.m}|${p.n}|${p.k}`);
  const attention = mergeRepeats(parsed.flatMap((p) => p.attention), (p) => `${p.c}|${p.P}|${p.mask}|${p.heads}|${p.kv_heads}|${p.head_dim}`);
  const model = fitShapeModel(base, gemm, attention);
  const loo = leaveOneOut(base, gemm, attention);
  const cv = { gemm: classError(loo.gemm), attention: classError(loo.attention), memory: classError(memoryFit.errors) };
  const torch = [...new Set(parsed.map((p) => p.torch).filter((t): t is string => t !== null))];
  const stackDescription =
    stack === 'eager'
      ? `PyTorch ${torch.join('/') || '(version not recorded)'} eager + SDPA, ${dtypes[0]}, one CUDA stream, no CUDA graphs, no torch.compile`
      : `fused serving-engine kernels (GEMMs and attention as measured under PyTorch ${torch.join('/') || '?'}), ${dtypes[0]}`;
  const range = (values: number[]): [number, number] => [Math.min(...values), Math.max(...values)];
  return {
    schema: SHAPE_PROFILE_SCHEMA,
    name: options.name,
    command: options.command,
    stack,
    stack_description: stackDescription,
    gpu: {
      name: options.name,
      peak_flops: preset.peak_flops,
      hbm_bandwidth: preset.hbm_bandwidth,
      memory: preset.memory_bytes,
      launch_overhead: preset.launch_overhead_s,
      efficiency: { ...preset.efficiency },
      link_bandwidth: preset.link_bandwidth,
      pcie_bandwidth: preset.pcie_bandwidth,
      calibrated: true,
      source: `datasheet numbers of preset ${presetName} (peak FLOP/s, HBM bandwidth, memory, links); kernel costs fitted by kvr calibrate --from (efficiency is unused: every op is costed by shape)`,
    },
    sources: parsed.map((p) => ({ file: p.file, sha256: p.sha256, schema: p.schema, gpu: p.gpu, torch: p.torch, dtype: p.dtype, gemm_points: p.gemm.length, attention_points: p.attention.length, not_fitted: p.not_fitted })),
    model: {
      dtype_bytes: model.dtype_bytes,
      gemm: model.gemm,
      attention: model.attention,
      memory: model.memory,
    },
    memory_sources: [
      `hbm_fraction: ${memoryFit.from.hbm_fraction}${memoryFit.from.hbm_fraction === 'measured' ? ' (elementwise kernels of the files)' : ''}; launch_s: ${memoryFit.from.launch_s}`,
      ...MEMORY_DEFAULTS[stack].sources,
    ],
    range: {
      gemm_m: gemm.length === 0 ? null : range(gemm.map((p) => p.m)),
      gemm_nk: [...new Set(gemm.map((p) => `${p.n}x${p.k}`))],
      attention_c: attention.length === 0 ? null : range(attention.map((p) => p.c)),
      attention_P: attention.length === 0 ? null : range(attention.map((p) => p.P)),
      attention_heads: [...new Set(attention.map((p) => `${p.mask} h=${p.heads} kv=${p.kv_heads} hd=${p.head_dim}`))],
    },
    measured: { gemm, attention },
    fit: {
      cv,
      method: 'leave-one-out: each point predicted by the analytic constants and correction table refitted without it',
      residuals: {
        gemm: gemm.map((p, i) => ({ m: p.m, n: p.n, k: p.k, measured_s: p.seconds, analytic_s: analyticGemmSeconds(model, p.m, p.n, p.k), loo_s: loo.gemm[i]!.predicted_s })),
        attention: attention.map((p, i) => ({ c: p.c, P: p.P, mask: p.mask, measured_s: p.seconds, analytic_s: analyticAttentionSeconds(model, p), loo_s: loo.attention[i]!.predicted_s })),
      },
    },
  };
}
