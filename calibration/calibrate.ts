import { hostname, totalmem } from 'node:os';
import { GPU_PRESETS } from '../sim/hardware/gpu-presets.js';
import { PROFILE_SCHEMA } from '../sim/hardware/gpu-profile.js';
import type { ModelSpec } from '../sim/model/model-spec.js';
import { kvBytesPerToken } from '../sim/model/model-size.js';
import { presetTopology } from '../sim/topology/presets.js';
import { describeDevices, timeOps, type BackendName } from '../native/js/executor.js';
import { linkEmulationFor } from '../native/js/link-emulation.js';
import { fitCalibration, fitErrors, median, shapeFlops, type OpSample, type TransferSample } from './fit-profile.js';
import { microbenchCases, transferCase } from './microbench-plans.js';

export interface CalibrateOptions {
  backend: BackendName;
  /**
   * Profile name: the --gpu name the simulator will find it under. With smPartitions, the GPU's
   * name (h200, h100-sxm): the profile is then named `<name>/<k>sm` (see sliceProfileName).
   */
  name: string;
  /**
   * CUDA: split the GPU's SMs into this many partitions (green contexts) and time every op on one
   * of them, so the profile describes one slice of k SMs: what a rank of a multi-rank run on one
   * GPU computes with. 0 or absent: the whole GPU.
   */
  smPartitions?: number;
  models: ModelSpec[];
  /** Grid of chunk sizes (tokens) and attention prefixes the tables are built on. */
  tokens: number[];
  prefixes: number[];
  /** Emulated link for the transfer samples, and the chunk sizes whose K,V it moves. */
  link: { bandwidth: number; latency_s: number; tokens: number[] };
  warmup: number;
  repeats: number;
  /** The command line, recorded in the profile. */
  command: string;
  log?: (line: string) => void;
  /** Told after each executor run (a microbenchmark or a transfer): runs done and runs in all. */
  onStep?: (done: number, total: number) => void;
}

/** The JSON written to calibration/profiles/<name>.json (kvr-calibration/profile@1). */
export interface ProfileDocument {
  schema: typeof PROFILE_SCHEMA;
  gpu: Record<string, unknown>;
  calibration: ReturnType<typeof fitCalibration>;
  provenance: Record<string, unknown>;
  fit: { ops: ReturnType<typeof fitErrors>; transfer_mean_abs_error: number };
  samples: { grid: OpSample[]; checks: OpSample[]; transfers: TransferSample[] };
}

/**
 * Measures op times on the device through the executor (each shape on a real rank state, see
 * microbench-plans.ts), fits rate tables on the grid, scores them on shapes between grid points
 * (never fitted), fits the transfer overhead on emulated links, and returns the profile.
 */
export async function calibrate(options: CalibrateOptions): Promise<ProfileDocument> {
  const log = options.log ?? (() => undefined);
  const smPartitions = options.smPartitions ?? 0;
  const exec = { backend: options.backend, warmup: options.warmup, repeats: options.repeats, ...(smPartitions > 0 ? { smPartitions } : {}) };
  let device = '';
  const checkTokens = midpoints(options.tokens);
  const checkPrefixes = midpoints(options.prefixes.filter((p) => p > 0)).concat([0]);
  let done = 0;
  const total =
    options.onStep === undefined
      ? 0
      : options.models.reduce((n, m) => n + microbenchCases(m, options.tokens, options.prefixes).length + microbenchCases(m, checkTokens, checkPrefixes).length, 0) +
        options.link.tokens.length;
  const step = (): void => options.onStep?.((done += 1), total);
  const measure = async (tokens: number[], prefixes: number[]): Promise<OpSample[]> => {
    const samples: OpSample[] = [];
    for (const model of options.models) {
      for (const microbench of microbenchCases(model, tokens, prefixes)) {
        const timed = await timeOps(microbench.plan, microbench.targets.map((t) => t.opId), exec);
        step();
        device = timed.device;
        microbench.targets.forEach(({ opId, shape }) => {
          const op = timed.ops.find((o) => o.id === opId)!;
          samples.push({
            model: model.name,
            op: shape.op,
            tokens: shape.tokens,
            prefix: shape.prefix,
            flops: shapeFlops(model, shape.op, shape.tokens, shape.prefix),
            times_s: op.times_s,
            median_s: op.median_s,
          });
        });
      }
      log(`timed ${model.name} on ${tokens.length} chunk sizes x ${prefixes.length} prefixes`);
    }
    return samples;
  };
  const grid = dedupe(await measure(options.tokens, options.prefixes));
  // Check shapes sit between grid points, so the fit error is an honest interpolation error.
  const checks = dedupe(await measure(checkTokens, checkPrefixes))
    .filter((c) => c.op !== 'lm_head');
  const transfers: TransferSample[] = [];
  const topology = presetTopology('switch', {
    gpus: 2,
    bandwidth: options.link.bandwidth,
    latency_s: options.link.latency_s,
    gpus_per_node: 2,
    nic_bandwidth: options.link.bandwidth,
    nic_latency_s: 0,
    gpus_per_switch: 2,
  });
  const model = options.models[0]!;
  for (const tokens of options.link.tokens) {
    const { plan, opId } = transferCase(model, tokens);
    const timed = await timeOps(plan, [opId], { ...exec, links: linkEmulationFor(topology, 2) });
    step();
    const op = timed.ops[0]!;
    transfers.push({ bytes: tokens * kvBytesPerToken(model), bandwidth: options.link.bandwidth, latency_s: options.link.latency_s, times_s: op.times_s, median_s: op.median_s });
  }
  log(`timed ${transfers.length} emulated transfers`);
  const calibration = fitCalibration(grid, transfers);
  const transferErrors = transfers.map((t) => Math.abs((t.latency_s + t.bytes / t.bandwidth + calibration.transfer_overhead_s) / t.median_s - 1));
  const devices = await describeDevices();
  const slice = smPartitions > 0 ? sliceOf(device, devices) : undefined;
  return {
    schema: PROFILE_SCHEMA,
    gpu: baseGpu(options, grid, slice),
    calibration,
    provenance: {
      device,
      backend: options.backend,
      ...(slice === undefined ? {} : { sm_partitions: slice }),
      devices,
      host: hostname(),
      node: process.version,
      date: new Date().toISOString(),
      command: options.command,
    },
    fit: { ops: fitErrors(calibration, options.models, checks), transfer_mean_abs_error: transferErrors.reduce((a, b) => a + b, 0) / Math.max(1, transferErrors.length) },
    samples: { grid, checks, transfers },
  };
}

/** One SM partition of a GPU, as the CUDA backend reported it. */
export interface SmSlice {
  partitions: number;
  sms_per_partition: number;
  /** SMs of the whole GPU (null when the devices report has none). */
  device_sms: number | null;
}

/** "NVIDIA H200 x1, 8 SM partitions of 16 SMs" -> { partitions 8, sms_per_partition 16 }. */
export function parseSmPartitions(device: string): { partitions: number; sms_per_partition: number } | undefined {
  const match = /(\d+) SM partitions? of (\d+) SMs/.exec(device);
  return match === null ? undefined : { partitions: Number(match[1]), sms_per_partition: Number(match[2]) };
}

/** The name of a slice profile: `<gpu>/<k>sm`, e.g. h200/16sm (calibration/profiles/h200/16sm.json). */
export function sliceProfileName(gpu: string, smsPerPartition: number): string {
  return `${gpu}/${smsPerPartition}sm`;
}

function sliceOf(device: string, devices: Record<string, unknown>): SmSlice {
  const parsed = parseSmPartitions(device);
  if (parsed === undefined) throw new Error(`the cuda backend did not report its SM partitions (device "${device}")`);
  const list = (devices.cuda as { devices?: { sms?: unknown }[] } | undefined)?.devices ?? [];
  const sms = list[0]?.sms;
  return { ...parsed, device_sms: typeof sms === 'number' ? sms : null };
}

/**
 * The roofline numbers kept beside the tables, used for models the tables do not cover: the
 * datasheet preset for a known GPU (for a slice, its peak scaled to the slice's share of the SMs;
 * memory and HBM bandwidth stay the whole GPU's, which the slices share); on the CPU, the best
 * measured matmul rate as the peak.
 */
function baseGpu(options: CalibrateOptions, grid: OpSample[], slice?: SmSlice): Record<string, unknown> {
  const preset = GPU_PRESETS[options.name];
  const name = slice === undefined ? options.name : sliceProfileName(options.name, slice.sms_per_partition);
  if (preset !== undefined) {
    const share = slice !== undefined && slice.device_sms !== null ? slice.sms_per_partition / slice.device_sms : 1;
    return {
      name,
      peak_flops: preset.peak_flops * share,
      hbm_bandwidth: preset.hbm_bandwidth,
      memory: preset.memory_bytes,
      launch_overhead: preset.launch_overhead_s,
      efficiency: preset.efficiency,
      link_bandwidth: preset.link_bandwidth,
      pcie_bandwidth: preset.pcie_bandwidth,
      calibrated: true,
    };
  }
  const matmulRates = grid.filter((s) => s.op !== 'attn' && s.op !== 'lm_head').map((s) => s.flops / s.median_s);
  return {
    name,
    peak_flops: Math.max(...matmulRates),
    hbm_bandwidth: null,
    memory: totalmem(),
    launch_overhead: 0,
    efficiency: { gemm: 1, attention: 1, memory: 1 },
    calibrated: true,
  };
}

/** Geometric midpoints of consecutive grid values, rounded to whole tokens. */
export function midpoints(values: number[]): number[] {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  const result: number[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const mid = Math.round(Math.sqrt(Math.max(1, sorted[i - 1]!) * sorted[i]!));
    if (mid > sorted[i - 1]! && mid < sorted[i]!) result.push(mid);
  }
  return result;
}

/** One sample per (model, op, tokens, prefix): lm_head is timed once per model. */
function dedupe(samples: OpSample[]): OpSample[] {
  const seen = new Map<string, OpSample>();
  for (const s of samples) seen.set(`${s.model}|${s.op}|${s.tokens}|${s.prefix}`, s);
  return [...seen.values()];
}

export { median };
