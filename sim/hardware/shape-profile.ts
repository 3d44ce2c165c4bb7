import { KvrInputError, describeValue } from '../errors.js';
import { checkEnum, checkString, expectArray, expectObject, requireKey } from '../input/fields.js';
import { gpuFromJson, type GpuSpec } from './gpu-spec.js';
import {
  SOFTWARE_STACKS,
  type AttentionMask,
  type AttentionPathModel,
  type AttentionPoint,
  type GemmPoint,
  type GemmTile,
  type ShapeModel,
} from './shape-model.js';

/**
 * A shape profile (kvr-out/profiles/<gpu>-<stack>.json, written by `kvr calibrate --from`; or shipped):
 * one GPU under one software stack, keyed by op shape, not by model. `gpu` is a GPU file (its
 * datasheet numbers and links); `model` the fitted analytic constants; `measured` the points the
 * costs are corrected to; `fit` the cross-validated error per op class that sets the TTFT band.
 * `sources`, `range`, `residuals` and `memory_sources` are provenance for readers.
 */
export const SHAPE_PROFILE_SCHEMA = 'kvr-calibration/shape-profile@1';

export function isShapeProfile(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { schema?: unknown }).schema === SHAPE_PROFILE_SCHEMA;
}

export function shapeProfileFromJson(value: unknown, field = 'profile'): GpuSpec {
  const object = expectObject(value, field);
  const gpu = gpuFromJson(requireKey(object, 'gpu', field), `${field}.gpu`);
  const model = expectObject(requireKey(object, 'model', field), `${field}.model`);
  const measured = expectObject(requireKey(object, 'measured', field), `${field}.measured`);
  const fit = expectObject(requireKey(object, 'fit', field), `${field}.fit`);
  const cv = expectObject(requireKey(fit, 'cv', `${field}.fit`), `${field}.fit.cv`);
  const num = (o: Record<string, unknown>, key: string, at: string, min = 0): number => {
    const v = requireKey(o, key, at);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new KvrInputError(`${at}.${key}`, `expected a number >= ${min} (got ${describeValue(v)})`);
    return v;
  };
  const gemm = expectObject(requireKey(model, 'gemm', `${field}.model`), `${field}.model.gemm`);
  const attention = expectObject(requireKey(model, 'attention', `${field}.model`), `${field}.model.attention`);
  const memory = expectObject(requireKey(model, 'memory', `${field}.model`), `${field}.model.memory`);
  const path = (key: string): AttentionPathModel => {
    const at = `${field}.model.attention.${key}`;
    const p = expectObject(requireKey(attention, key, `${field}.model.attention`), at);
    return { latency_s: num(p, 'latency_s', at), plateau_flops: num(p, 'plateau_flops', at, 1), half_rows: num(p, 'half_rows', at) };
  };
  const cvOf = (key: string): number | null => {
    const entry = cv[key];
    if (entry === undefined || entry === null) return null;
    return num(expectObject(entry, `${field}.fit.cv.${key}`), 'mean', `${field}.fit.cv.${key}`);
  };
  const shape: ShapeModel = {
    stack: checkEnum(requireKey(object, 'stack', field), SOFTWARE_STACKS, `${field}.stack`),
    peak_flops: gpu.peak_flops,
    dtype_bytes: num(model, 'dtype_bytes', `${field}.model`, 1),
    gemm: {
      sms: num(gemm, 'sms', `${field}.model.gemm`, 1),
      tiles: expectArray(requireKey(gemm, 'tiles', `${field}.model.gemm`), `${field}.model.gemm.tiles`).map((raw, i): GemmTile => {
        const at = `${field}.model.gemm.tiles[${i}]`;
        const t = expectObject(raw, at);
        return { m: num(t, 'm', at, 1), n: num(t, 'n', at, 1), relative: num(t, 'relative', at) };
      }),
      efficiency: num(gemm, 'efficiency', `${field}.model.gemm`),
      latency_s: num(gemm, 'latency_s', `${field}.model.gemm`),
    },
    attention: { square: path('square'), prefix: path('prefix') },
    memory: {
      hbm_bandwidth: num(memory, 'hbm_bandwidth', `${field}.model.memory`, 1),
      hbm_fraction: num(memory, 'hbm_fraction', `${field}.model.memory`),
      launch_s: num(memory, 'launch_s', `${field}.model.memory`),
    },
    gemm_points: expectArray(requireKey(measured, 'gemm', `${field}.measured`), `${field}.measured.gemm`).map((raw, i): GemmPoint => {
      const at = `${field}.measured.gemm[${i}]`;
      const p = expectObject(raw, at);
      return { m: num(p, 'm', at, 1), n: num(p, 'n', at, 1), k: num(p, 'k', at, 1), seconds: num(p, 'seconds', at) };
    }),
    attention_points: expectArray(requireKey(measured, 'attention', `${field}.measured`), `${field}.measured.attention`).map((raw, i): AttentionPoint => {
      const at = `${field}.measured.attention[${i}]`;
      const p = expectObject(raw, at);
      return {
        c: num(p, 'c', at, 1),
        P: num(p, 'P', at),
        mask: checkEnum(requireKey(p, 'mask', at), ['causal', 'dense'] as const, `${at}.mask`) as AttentionMask,
        heads: num(p, 'heads', at, 1),
        kv_heads: num(p, 'kv_heads', at, 1),
        head_dim: num(p, 'head_dim', at, 1),
        seconds: num(p, 'seconds', at),
      };
    }),
    cv_error: { gemm: cvOf('gemm'), attention: cvOf('attention'), memory: cvOf('memory') },
  };
  const description = object.stack_description === undefined ? shape.stack : checkString(object.stack_description, `${field}.stack_description`);
  const name = checkString(requireKey(object, 'name', field), `${field}.name`);
  return {
    ...gpu,
    name,
    profile: 'calibrated',
    source: `shape profile ${name}: ${description}, fitted by kvr calibrate --from`,
    shape,
    stack_description: description,
  };
}
