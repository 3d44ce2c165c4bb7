import { kvrPlan } from '../sim/plan/strategies/kvr.js';
import type { Scenario } from '../sim/simulate.js';
import { scenarioRouter } from '../sim/scenario-router.js';
import { executePlan, type BackendName } from '../native/js/executor.js';
import { linkEmulationFor } from '../native/js/link-emulation.js';

export interface MeasuredCandidate {
  partition: number[];
  simulated_s: number;
  measured_s: number;
  measured_runs_s: number[];
}

export interface MeasuredSearch {
  device: string;
  candidates: MeasuredCandidate[];
  /** Index into candidates of the lowest measured TTFT (candidates are in simulated order). */
  measured_best: number;
  /** Device time of every run, warm-ups included. */
  device_time_s: number;
}

/**
 * The paper's measured KVR-S, simulator-guided: the simulator has already ranked the partitions it
 * searched; the executor measures only the best few (links emulated as in the scenario) and the
 * measured best wins. The paper measured a whole grid (~33 h for 8 GPUs at 16k).
 */
export async function measureCandidates(
  scenario: Scenario,
  candidates: { partition: number[]; ttft_s: number }[],
  exec: { backend: BackendName; warmup: number; repeats: number },
): Promise<MeasuredSearch> {
  const links = scenario.gpus > 1 ? linkEmulationFor(scenario.topology, scenario.gpus, scenarioRouter(scenario)) : undefined;
  const measured: MeasuredCandidate[] = [];
  let device = '';
  let deviceTime = 0;
  for (const candidate of candidates) {
    const plan = kvrPlan(scenario.model, candidate.partition, 'kvr-s');
    const { measurement } = await executePlan(plan, { ...exec, ...(links === undefined ? {} : { links }) });
    device = measurement.device;
    deviceTime += measurement.ttft_runs_s.reduce((a, b) => a + b, 0) + exec.warmup * measurement.ttft_s;
    measured.push({ partition: candidate.partition, simulated_s: candidate.ttft_s, measured_s: measurement.ttft_s, measured_runs_s: measurement.ttft_runs_s });
  }
  const best = measured.reduce((bestIndex, c, i) => (c.measured_s < measured[bestIndex]!.measured_s ? i : bestIndex), 0);
  return { device, candidates: measured, measured_best: best, device_time_s: deviceTime };
}
