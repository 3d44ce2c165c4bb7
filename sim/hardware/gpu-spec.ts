import { KvrInputError, describeValue } from '../errors.js';
import { GPU_PRESETS } from './gpu-presets.js';
import {
  checkBoolean,
  checkFraction,
  checkString,
  expectObject,
  rejectUnknownKeys,
  requireKey,
} from '../input/fields.js';
import { parseQuantity } from '../units/quantity.js';
import type { GpuCalibration } from './calibration.js';
import type { ShapeModel } from './shape-model.js';

/** Which roofline a kernel sits on and which efficiency applies to it. */
export type GpuProfileKind = 'datasheet' | 'abstract' | 'calibrated' | 'user';

/** True where the numbers are published ranges or unverified, not measured or exact. */
export function isUncalibrated(gpu: GpuSpec): boolean {
  return gpu.profile === 'datasheet' || gpu.profile === 'user';
}

export type KernelClass = 'gemm' | 'attention' | 'memory';

/** Achieved fraction of peak: FLOP/s for gemm and attention, HBM bytes/s for memory traffic. */
export interface Efficiency {
  gemm: number;
  attention: number;
  memory: number;
}

/** One GPU as the cost model sees it. Rates are in base units (FLOP/s, bytes/s, bytes, s). */
export interface GpuSpec {
  name: string;
  /** Dense fp16/bf16 tensor-core peak. */
  peak_flops: number;
  /** Dense fp8 tensor-core peak; null or absent: no fp8 tensor cores (A100), so fp8 compute is refused. */
  peak_flops_fp8?: number | null;
  /** HBM bandwidth; null means memory traffic is free (the `ideal` GPU). */
  hbm_bandwidth: number | null;
  /** Memory capacity; null means unlimited. */
  memory_bytes: number | null;
  /** Added to every kernel. */
  launch_overhead_s: number;
  efficiency: Efficiency;
  /** Default per-direction GPU-to-GPU link bandwidth (NVLink) for the switch/ring presets. */
  link_bandwidth: number | null;
  /** Default per-direction PCIe bandwidth for the pcie preset. */
  pcie_bandwidth: number | null;
  /**
   * datasheet: presets whose efficiencies are published ranges, not measurements (uncalibrated);
   * abstract: the `ideal` GPU, exact by definition; calibrated: fitted to measurements;
   * user: read from a file not marked calibrated.
   */
  profile: GpuProfileKind;
  /** Where the numbers come from. */
  source: string;
  /** Measured op rates and transfer overhead from `kvr calibrate`; ops without a table use the roofline. */
  calibration?: GpuCalibration;
  /**
   * Shape-aware costs of a profile fitted by `kvr calibrate --from` (sim/hardware/shape-model.ts):
   * when present, every op is costed kernel by kernel from shape, not by the roofline.
   */
  shape?: ShapeModel;
  /** The software stack a shape profile describes, e.g. "PyTorch 2.11 eager + SDPA". */
  stack_description?: string;
}

const KEYS = [
  'base',
  'name',
  'peak_flops',
  'peak_flops_fp8',
  'hbm_bandwidth',
  'memory',
  'launch_overhead',
  'efficiency',
  'link_bandwidth',
  'pcie_bandwidth',
  'calibrated',
  'source',
] as const;

/**
 * Reads a GPU from a parsed JSON object. Quantities are unit strings ("312 TFLOP/s", "2039 GB/s",
 * "80 GiB", "4 us") or numbers in base units; hbm_bandwidth and memory may be null (unlimited).
 * With `base` (a datasheet preset) every other key is optional and replaces the preset's.
 */
export function gpuFromJson(value: unknown, field = 'gpu'): GpuSpec {
  const given = expectObject(value, field);
  rejectUnknownKeys(given, KEYS, field);
  const object = given.base === undefined ? given : extendPreset(given, field);
  const quantity = (key: string, kind: Parameters<typeof parseQuantity>[1]): number =>
    parseQuantity(requireKey(object, key, field), kind, `${field}.${key}`, { bareNumbers: true });
  const optionalRate = (key: string): number | null => {
    const raw = object[key];
    if (raw === undefined || raw === null) return null;
    return positive(parseQuantity(raw, 'bandwidth', `${field}.${key}`, { bareNumbers: true }), `${field}.${key}`);
  };
  const efficiencyObject = expectObject(requireKey(object, 'efficiency', field), `${field}.efficiency`);
  rejectUnknownKeys(efficiencyObject, ['gemm', 'attention', 'memory'], `${field}.efficiency`);
  const efficiency: Efficiency = {
    gemm: checkFraction(requireKey(efficiencyObject, 'gemm', `${field}.efficiency`), `${field}.efficiency.gemm`),
    attention: checkFraction(
      requireKey(efficiencyObject, 'attention', `${field}.efficiency`),
      `${field}.efficiency.attention`,
    ),
    memory: checkFraction(
      requireKey(efficiencyObject, 'memory', `${field}.efficiency`),
      `${field}.efficiency.memory`,
    ),
  };
  const hbm = requireKey(object, 'hbm_bandwidth', field);
  const memory = requireKey(object, 'memory', field);
  const fp8 = object.peak_flops_fp8;
  const spec: GpuSpec = {
    name: checkString(requireKey(object, 'name', field), `${field}.name`),
    peak_flops: positive(quantity('peak_flops', 'flop-rate'), `${field}.peak_flops`),
    peak_flops_fp8:
      fp8 === undefined || fp8 === null
        ? null
        : positive(parseQuantity(fp8, 'flop-rate', `${field}.peak_flops_fp8`, { bareNumbers: true }), `${field}.peak_flops_fp8`),
    hbm_bandwidth:
      hbm === null
        ? null
        : positive(parseQuantity(hbm, 'bandwidth', `${field}.hbm_bandwidth`, { bareNumbers: true }), `${field}.hbm_bandwidth`),
    memory_bytes:
      memory === null
        ? null
        : positive(parseQuantity(memory, 'bytes', `${field}.memory`, { bareNumbers: true }), `${field}.memory`),
    launch_overhead_s: quantity('launch_overhead', 'time'),
    efficiency,
    link_bandwidth: optionalRate('link_bandwidth'),
    pcie_bandwidth: optionalRate('pcie_bandwidth'),
    profile:
      object.calibrated !== undefined && checkBoolean(object.calibrated, `${field}.calibrated`)
        ? 'calibrated'
        : 'user',
    source: object.source === undefined ? 'user file' : checkString(object.source, `${field}.source`),
  };
  if (given.base !== undefined) {
    const base = GPU_PRESETS[given.base as string]!;
    // The preset's shape-aware defaults follow the file's peaks and HBM bandwidth; a file that gives
    // its own efficiency asks for the roofline with those efficiencies instead.
    if (base.shape !== undefined && given.efficiency === undefined) spec.shape = rescaleShape(base.shape, spec);
  }
  return spec;
}

/** A preset's shape model on a GPU whose peaks or HBM bandwidth a GPU file replaced. */
function rescaleShape(shape: ShapeModel, gpu: GpuSpec): ShapeModel {
  const scale = gpu.peak_flops / shape.peak_flops;
  const path = (p: ShapeModel['attention']['square']) => ({ ...p, plateau_flops: p.plateau_flops * scale });
  const rescaled: ShapeModel = {
    ...shape,
    peak_flops: gpu.peak_flops,
    attention: { square: path(shape.attention.square), prefix: path(shape.attention.prefix) },
    memory: { ...shape.memory, hbm_bandwidth: gpu.hbm_bandwidth ?? shape.memory.hbm_bandwidth },
  };
  if (shape.fp8 !== undefined && gpu.peak_flops_fp8 != null) rescaled.fp8 = { ...shape.fp8, peak_flops: gpu.peak_flops_fp8 };
  else delete rescaled.fp8;
  return rescaled;
}

/**
 * `{"base": "h100-sxm", "name": "h100-96g", "memory": "96 GB"}`: the preset's numbers, with the
 * given keys replacing them (efficiency as a whole object); not calibrated unless it says so.
 */
function extendPreset(given: Record<string, unknown>, field: string): Record<string, unknown> {
  const names = Object.keys(GPU_PRESETS).filter((n) => GPU_PRESETS[n]!.profile === 'datasheet');
  const base = GPU_PRESETS[typeof given.base === 'string' ? given.base : ''];
  if (base === undefined || base.profile !== 'datasheet') throw new KvrInputError(`${field}.base`, `expected a GPU preset: one of ${names.join(', ')} (got ${describeValue(given.base)})`);
  const { base: baseName, ...overrides } = given;
  return {
    name: base.name,
    peak_flops: base.peak_flops,
    peak_flops_fp8: base.peak_flops_fp8 ?? null,
    hbm_bandwidth: base.hbm_bandwidth,
    memory: base.memory_bytes,
    launch_overhead: base.launch_overhead_s,
    efficiency: { ...base.efficiency },
    link_bandwidth: base.link_bandwidth,
    pcie_bandwidth: base.pcie_bandwidth,
    source: `${base.source}; extended by a GPU file (base ${String(baseName)})`,
    ...overrides,
  };
}

function positive(value: number, field: string): number {
  if (value <= 0) throw new KvrInputError(field, `must be > 0 (got ${value})`);
  return value;
}
