import type { GpuCalibration, OpRateTable } from '../sim/hardware/calibration.js';
import { calibratedOpSeconds } from '../sim/hardware/calibration.js';
import type { ModelSpec } from '../sim/model/model-spec.js';
import { computeOpFlops, type ComputeOpName } from '../sim/work/compute-op.js';

/** A timed op shape: median of repeated runs on the device. */
export interface OpSample {
  model: string;
  op: ComputeOpName;
  tokens: number;
  prefix: number;
  flops: number;
  times_s: number[];
  median_s: number;
}

/** A timed emulated transfer: `bytes` over a link of `bandwidth` and `latency_s`. */
export interface TransferSample {
  bytes: number;
  bandwidth: number;
  latency_s: number;
  times_s: number[];
  median_s: number;
}

export interface FitError {
  model: string;
  op: string;
  checks: number;
  mean_abs_error: number;
  max_abs_error: number;
}

/** FLOPs of a shape, as the simulator counts them. */
export function shapeFlops(model: ModelSpec, op: ComputeOpName, tokens: number, prefix: number): number {
  return computeOpFlops(model, { name: op, tokens, prefix, keys: prefix + tokens, causal: true });
}

/**
 * Tables of achieved FLOP rate per (model, op) from grid samples, and the per-transfer overhead:
 * the median of measured minus ideal (latency + bytes / bandwidth) transfer time.
 */
export function fitCalibration(grid: OpSample[], transfers: TransferSample[]): GpuCalibration {
  const tables = new Map<string, OpRateTable>();
  for (const sample of grid) {
    const key = `${sample.model}|${sample.op}`;
    let table = tables.get(key);
    if (table === undefined) {
      table = { model: sample.model, op: sample.op, samples: [] };
      tables.set(key, table);
    }
    table.samples.push({ tokens: sample.tokens, prefix: sample.prefix, rate: sample.flops / sample.median_s });
  }
  const excess = transfers.map((t) => t.median_s - (t.latency_s + t.bytes / t.bandwidth));
  return { tables: [...tables.values()], transfer_overhead_s: Math.max(0, median(excess)) };
}

/** How well the tables predict shapes that were measured but not fitted (between grid points). */
export function fitErrors(calibration: GpuCalibration, models: ModelSpec[], checks: OpSample[]): FitError[] {
  const groups = new Map<string, number[]>();
  for (const check of checks) {
    const model = models.find((m) => m.name === check.model)!;
    const predicted = calibratedOpSeconds(calibration, model, { name: check.op, tokens: check.tokens, prefix: check.prefix, keys: check.prefix + check.tokens, causal: true });
    if (predicted === undefined) continue;
    const key = `${check.model}|${check.op}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(Math.abs(predicted / check.median_s - 1));
  }
  return [...groups.entries()].map(([key, errors]) => {
    const [model, op] = key.split('|') as [string, string];
    return { model, op, checks: errors.length, mean_abs_error: mean(errors), max_abs_error: Math.max(...errors) };
  });
}

export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}
