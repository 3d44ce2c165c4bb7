/**
 * The scenarios the notebooks simulate, built from the simulator's public functions (presets,
 * presetTopology, simulate), with the same defaults as `kvr simulate`; and where the data they
 * read lives (calibrated profiles, measurement files).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../cli/project-root.js';
import { GPU_PRESETS } from '../../sim/hardware/gpu-presets.js';
import { gpuProfileFromJson } from '../../sim/hardware/gpu-profile.js';
import { isUncalibrated, type GpuSpec } from '../../sim/hardware/gpu-spec.js';
import type { ModelSpec } from '../../sim/model/model-spec.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';
import type { StrategyName } from '../../sim/plan/plan.js';
import type { Scenario } from '../../sim/simulate.js';
import { presetTopology, type TopologyPresetName } from '../../sim/topology/presets.js';
import type { Topology } from '../../sim/topology/topology.js';

/** The KV-Runahead paper's setting (Cho et al., ICML 2024 §5): A100s, fp16, 300 and 10 GB/s links. */
export const PAPER = {
  models: ['llama2-7b', 'falcon-7b'],
  gpu: 'a100-80g',
  gpus: [2, 4, 8],
  bandwidths: [300e9, 10e9],
  topology: 'switch' as TopologyPresetName,
} as const;

/** Grid options most figures take; each figure documents which it uses and its defaults. */
export interface GridOptions {
  models?: ModelSpec[];
  gpu?: GpuSpec;
  gpus?: number[];
  /** Per-direction link bandwidth of each GPU, bytes/s. */
  bandwidths?: number[];
  contexts?: number[];
}

/** Same as `kvr simulate`'s defaults. */
export const LINK_DEFAULTS = {
  latency_s: 2e-6,
  gpus_per_node: 8,
  nic_bandwidth: 50e9,
  nic_latency_s: 5e-6,
  gpus_per_switch: 2,
} as const;

export function model(name: string): ModelSpec {
  const spec = MODEL_PRESETS[name];
  if (spec === undefined) throw new Error(`unknown model preset ${name}`);
  return spec;
}

export function gpu(name: string): GpuSpec {
  const spec = GPU_PRESETS[name];
  if (spec === undefined) throw new Error(`unknown GPU preset ${name}`);
  return spec;
}

/** The parsed JSON of calibration/profiles/<name>.json (what `--gpu <name>` resolves to). */
export function profileDocument(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(projectRoot(), 'calibration', 'profiles', `${name}.json`), 'utf8')) as Record<string, unknown>;
}

/** A calibrated GPU: calibration/profiles/<name>.json, as `--gpu <name>` reads it. */
export function calibratedGpu(name: string): GpuSpec {
  return gpuProfileFromJson(profileDocument(name), name);
}

/**
 * A measurement file: the shared measurements folder beside the repository
 * (../shared/measurements/<file>, as calibration's recorded commands name it) where it exists,
 * else the repository's copy under calibration/measurements/ (test/calibration/measurements-copy
 * checks the two are the same bytes).
 */
export function sharedMeasurementsPath(file: string): string {
  const shared = join(projectRoot(), '..', 'shared', 'measurements', file);
  return existsSync(shared) ? shared : committedMeasurementsPath(file);
}

/** The repository's copy of a shared measurement file. */
export function committedMeasurementsPath(file: string): string {
  return join(projectRoot(), 'calibration', 'measurements', file);
}

export function topology(preset: TopologyPresetName, gpus: number, bandwidth: number): Topology {
  return presetTopology(preset, { gpus, bandwidth, ...LINK_DEFAULTS });
}

export interface Case {
  model: ModelSpec;
  gpu: GpuSpec;
  gpus: number;
  context: number;
  strategy: StrategyName;
  /** A topology, or a preset built with `bandwidth` (default: switch, the GPU's NVLink rate). */
  topology?: Topology;
  preset?: TopologyPresetName;
  bandwidth?: number;
}

export function scenario(c: Case): Scenario {
  const bandwidth = c.bandwidth ?? c.gpu.link_bandwidth ?? 300e9;
  return {
    model: c.model,
    gpu: c.gpu,
    topology: c.topology ?? topology(c.preset ?? 'switch', c.gpus, bandwidth),
    gpus: c.gpus,
    context: c.context,
    strategy: c.strategy,
  };
}

/** Display names and the fixed order (so every figure gives a strategy the same colour). */
export const STRATEGY_LABEL: Record<string, string> = {
  tsp: 'TSP',
  'kvr-e': 'KVR-E',
  'kvr-s': 'KVR-S',
  'kvr-p': 'KVR-P',
  single: '1 GPU',
};
export const STRATEGY_ORDER = ['TSP', 'KVR-E', 'KVR-S', 'KVR-P'];

/** Vega-Lite colour scale of the strategies: Tableau 10 in STRATEGY_ORDER. */
export const STRATEGY_COLOR = { domain: STRATEGY_ORDER, range: ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2'] };
/** KVR-P dashed, so it shows where it lies on top of KVR-S. */
export const STRATEGY_DASH = { domain: STRATEGY_ORDER, range: [[1, 0], [1, 0], [1, 0], [5, 3]] };

/** "300 GB/s", "10 GB/s", "12.5 GB/s". */
export function linkLabel(bandwidth: number): string {
  const gb = bandwidth / 1e9;
  return `${Number.isInteger(gb) ? gb : Number(gb.toPrecision(3))} GB/s`;
}

/** "16k" for 16384, "1.5k" for 1536, "128k" for 131072. */
export function contextLabel(tokens: number): string {
  const k = tokens / 1024;
  return Number.isInteger(k) ? `${k}k` : `${Number(k.toFixed(2))}k`;
}

/**
 * "simulated, a100-80g datasheet profile, published kernel efficiencies (uncalibrated)" for a
 * shape-aware preset; "(uncalibrated)" alone for a GPU file with flat efficiencies.
 */
export function profileNote(spec: GpuSpec): string {
  const uncalibrated = isUncalibrated(spec) ? (spec.shape !== undefined ? ', published kernel efficiencies (uncalibrated)' : ' (uncalibrated)') : '';
  return `simulated, ${spec.name} ${spec.profile} profile${uncalibrated}`;
}

/** Vega-Lite axis labels in k tokens (1024). */
export const CONTEXT_AXIS_LABEL = "datum.value == 0 ? '0' : datum.value % 1024 == 0 ? datum.value / 1024 + 'k' : format(datum.value / 1024, '.1f') + 'k'";

/** Contexts from `from` to `to` in steps of `step` tokens. */
export function range(from: number, to: number, step: number): number[] {
  const values: number[] = [];
  for (let v = from; v <= to; v += step) values.push(v);
  return values;
}

export function round(value: number, digits = 4): number {
  return Number(value.toPrecision(digits));
}
