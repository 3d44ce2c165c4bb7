import type { GpuSpec } from '../sim/hardware/gpu-spec.js';
import type { ModelSpec } from '../sim/model/model-spec.js';
import type { StrategyName } from '../sim/plan/plan.js';
import { simulate, type Scenario } from '../sim/simulate.js';
import { presetTopology } from '../sim/topology/presets.js';
import { executePlan, type BackendName } from '../native/js/executor.js';
import { linkEmulationFor } from '../native/js/link-emulation.js';

/** One validation run: a scenario executed (links emulated) and simulated under the same profile. */
export interface ValidationCase {
  model: ModelSpec;
  strategy: StrategyName;
  gpus: number;
  context: number;
  /** Link per GPU (switch topology), bytes/s: paced to this, or (paced false) the figure the real links are predicted with; unused for one GPU. */
  bandwidth: number;
  /** false: the transfers run on the host's own links (NVLink/NVSwitch through NCCL, unpaced); default true: paced to `bandwidth`. */
  paced?: boolean;
  latency_s: number;
  /** The profile this case is predicted with, when not the report's (e.g. a whole-GPU profile for the single-rank cases of a slice validation). */
  gpu?: GpuSpec;
  /** CUDA: run the ranks on this many SM partitions of the GPU (one rank per partition); 0 or absent: whole GPUs. */
  smPartitions?: number;
}

export interface ValidationRow {
  model: string;
  strategy: StrategyName;
  gpus: number;
  context: number;
  bandwidth: number;
  /** paced: emulated at `bandwidth`; native: the host's own links, predicted at `bandwidth`. */
  links: 'paced' | 'native';
  partition: number[];
  measured_s: number;
  measured_runs_s: number[];
  predicted_s: number;
  /** predicted / measured - 1. */
  error: number;
  /** The profile the prediction used. */
  profile: string;
  /** SM partitions the executor ran the ranks on (0: whole GPUs). */
  sm_partitions: number;
}

export interface ValidationReport {
  schema: 'kvr-validation/report@1';
  gpu: string;
  device: string;
  backend: BackendName;
  rows: ValidationRow[];
  summary: { strategy: string; cases: number; mean_abs_error: number; max_abs_error: number }[];
  overall: { cases: number; mean_abs_error: number; max_abs_error: number };
}

/**
 * Executes every case on the device with its links emulated (or, paced false, on the host's own) and compares the measured TTFT with
 * the simulator's prediction for the same plan, GPU profile and topology.
 */
export async function validateProfile(
  gpu: GpuSpec,
  cases: ValidationCase[],
  exec: { backend: BackendName; warmup: number; repeats: number },
  log: (line: string) => void = () => undefined,
  /** Told after each case: cases done. */
  onCase: (done: number) => void = () => undefined,
): Promise<ValidationReport> {
  const rows: ValidationRow[] = [];
  let device = '';
  for (const c of cases) {
    const topology = presetTopology('switch', {
      gpus: c.gpus,
      bandwidth: c.bandwidth,
      latency_s: c.latency_s,
      gpus_per_node: c.gpus,
      nic_bandwidth: c.bandwidth,
      nic_latency_s: 0,
      gpus_per_switch: 2,
    });
    const caseGpu = c.gpu ?? gpu;
    const scenario: Scenario = { model: c.model, gpu: caseGpu, topology, gpus: c.gpus, context: c.context, strategy: c.strategy };
    const { plan, result } = simulate(scenario);
    const smPartitions = c.smPartitions ?? 0;
    const options = {
      ...exec,
      ...(c.gpus > 1 && c.paced !== false ? { links: linkEmulationFor(topology, c.gpus) } : {}),
      ...(smPartitions > 0 ? { smPartitions } : {}),
    };
    const { measurement } = await executePlan(plan, options);
    device = measurement.device;
    rows.push({
      model: c.model.name,
      strategy: c.strategy,
      gpus: c.gpus,
      context: c.context,
      bandwidth: c.bandwidth,
      links: c.paced === false ? 'native' : 'paced',
      partition: result.partition,
      measured_s: measurement.ttft_s,
      measured_runs_s: measurement.ttft_runs_s,
      predicted_s: result.ttft_s,
      error: result.ttft_s / measurement.ttft_s - 1,
      profile: caseGpu.name,
      sm_partitions: smPartitions,
    });
    onCase(rows.length);
    log(`${c.model.name} ${c.strategy} x${c.gpus} ${c.context} tokens: measured ${measurement.ttft_s.toExponential(3)} s, predicted ${result.ttft_s.toExponential(3)} s`);
  }
  const stats = (subset: ValidationRow[]) => ({
    cases: subset.length,
    mean_abs_error: subset.reduce((sum, r) => sum + Math.abs(r.error), 0) / Math.max(1, subset.length),
    max_abs_error: subset.reduce((max, r) => Math.max(max, Math.abs(r.error)), 0),
  });
  const strategies = [...new Set(rows.map((r) => r.strategy))];
  return {
    schema: 'kvr-validation/report@1',
    gpu: gpu.name,
    device,
    backend: exec.backend,
    rows,
    summary: strategies.map((strategy) => ({ strategy, ...stats(rows.filter((r) => r.strategy === strategy)) })),
    overall: stats(rows),
  };
}
