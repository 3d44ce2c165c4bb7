import { KvrInputError, describeValue } from '../errors.js';
import {
  checkEnum,
  checkString,
  expectArray,
  expectObject,
  rejectUnknownKeys,
  requireKey,
} from '../input/fields.js';
import type { ModelSpec } from '../model/model-spec.js';
import { COMPUTE_OP_NAMES, computeOpFlops, type ComputeOpName, type ComputeShape } from '../work/compute-op.js';

/** One measured shape of an op: the FLOP rate it achieved (FLOPs of DESIGN §2 / median seconds). */
export interface OpRateSample {
  tokens: number;
  /** Tokens before the chunk (attention only; 0 for the other ops). */
  prefix: number;
  rate: number;
}

/** Measured rates of one op of one model over a grid of shapes. */
export interface OpRateTable {
  model: string;
  op: ComputeOpName;
  samples: OpRateSample[];
}

/** What `kvr calibrate` fitted on a device: op rate tables and a per-transfer overhead. */
export interface GpuCalibration {
  tables: OpRateTable[];
  /** Added to the latency of every transfer (pacing, copy launch, synchronisation). */
  transfer_overhead_s: number;
}

/**
 * Time of a compute op from the calibrated tables, or undefined when none covers this model and
 * op (the caller falls back to the roofline). The achieved FLOP rate is interpolated linearly in
 * log(tokens) and, for attention, log(1 + prefix) on the table's grid; outside the grid the
 * nearest edge's rate is used. Dense-masked attention (TSP) is looked up at prefix = keys - tokens,
 * the causal shape with the same work per query.
 */
export function calibratedOpSeconds(calibration: GpuCalibration, model: ModelSpec, op: ComputeShape): number | undefined {
  const table = calibration.tables.find((t) => t.model === model.name && t.op === op.name);
  if (table === undefined) return undefined;
  const prefix = op.name === 'attn' ? op.keys - op.tokens : 0;
  return computeOpFlops(model, op) / interpolateRate(table, op.tokens, prefix);
}

export function interpolateRate(table: OpRateTable, tokens: number, prefix: number): number {
  const tokenAxis = axis(table.samples.map((s) => s.tokens));
  const prefixAxis = axis(table.samples.map((s) => s.prefix));
  const rate = (t: number, p: number): number => table.samples.find((s) => s.tokens === t && s.prefix === p)!.rate;
  const [t0, t1, u] = bracket(tokenAxis, Math.log(tokens), Math.log);
  const [p0, p1, v] = bracket(prefixAxis, Math.log1p(prefix), Math.log1p);
  const low = rate(t0, p0) + u * (rate(t1, p0) - rate(t0, p0));
  const high = rate(t0, p1) + u * (rate(t1, p1) - rate(t0, p1));
  return low + v * (high - low);
}

function axis(values: number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** The two grid points around x (in coordinate f) and the fraction between them; clamped outside. */
function bracket(grid: number[], x: number, f: (value: number) => number): [number, number, number] {
  if (x <= f(grid[0]!)) return [grid[0]!, grid[0]!, 0];
  const last = grid[grid.length - 1]!;
  if (x >= f(last)) return [last, last, 0];
  const upper = grid.findIndex((g) => f(g) >= x);
  const lo = grid[upper - 1]!;
  const hi = grid[upper]!;
  return [lo, hi, (x - f(lo)) / (f(hi) - f(lo))];
}

/** Reads the `calibration` object of a profile; every table must be a full tokens x prefix grid. */
export function calibrationFromJson(value: unknown, field: string): GpuCalibration {
  const object = expectObject(value, field);
  rejectUnknownKeys(object, ['tables', 'transfer_overhead_s'], field);
  const overhead = requireKey(object, 'transfer_overhead_s', field);
  if (typeof overhead !== 'number' || !Number.isFinite(overhead) || overhead < 0) {
    throw new KvrInputError(`${field}.transfer_overhead_s`, `expected seconds >= 0 (got ${describeValue(overhead)})`);
  }
  const tables = expectArray(requireKey(object, 'tables', field), `${field}.tables`).map((raw, i): OpRateTable => {
    const where = `${field}.tables[${i}]`;
    const table = expectObject(raw, where);
    rejectUnknownKeys(table, ['model', 'op', 'samples'], where);
    const samples = expectArray(requireKey(table, 'samples', where), `${where}.samples`).map((rawSample, j): OpRateSample => {
      const at = `${where}.samples[${j}]`;
      const sample = expectObject(rawSample, at);
      rejectUnknownKeys(sample, ['tokens', 'prefix', 'rate'], at);
      const number = (key: string, min: number): number => {
        const v = requireKey(sample, key, at);
        if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new KvrInputError(`${at}.${key}`, `expected a number >= ${min} (got ${describeValue(v)})`);
        return v;
      };
      const rate = number('rate', 0);
      if (rate <= 0) throw new KvrInputError(`${at}.rate`, 'must be > 0');
      return { tokens: number('tokens', 1), prefix: number('prefix', 0), rate };
    });
    const tokens = axis(samples.map((s) => s.tokens));
    const prefixes = axis(samples.map((s) => s.prefix));
    if (samples.length === 0 || samples.length !== tokens.length * prefixes.length || tokens.some((t) => prefixes.some((p) => !samples.some((s) => s.tokens === t && s.prefix === p)))) {
      throw new KvrInputError(`${where}.samples`, `must cover a full grid of tokens x prefix (${tokens.length} x ${prefixes.length}) exactly once each`);
    }
    return { model: checkString(requireKey(table, 'model', where), `${where}.model`), op: checkEnum(requireKey(table, 'op', where), COMPUTE_OP_NAMES, `${where}.op`), samples };
  });
  return { tables, transfer_overhead_s: overhead };
}
