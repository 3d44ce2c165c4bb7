import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { GPU_PRESETS } from '../../sim/hardware/gpu-presets.js';
import { gpuProfileFromJson } from '../../sim/hardware/gpu-profile.js';
import type { GpuSpec } from '../../sim/hardware/gpu-spec.js';
import { opDurations } from '../../sim/hardware/op-durations.js';
import { emptyLedger } from '../../sim/hardware/shape-durations.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';
import { planOpCount } from '../../sim/plan/build-plan.js';
import { topologyFabric } from '../../sim/plan/collective-tuner.js';
import { planRecurrence } from '../../sim/plan/plan-recurrence.js';
import { ComputePricer } from '../../sim/hardware/compute-pricer.js';
import { buildResult } from '../../sim/result/result.js';
import { scenarioRouter } from '../../sim/scenario-router.js';
import { FOLD_WITHOUT_BUILDING_OPS, simulate, type Scenario } from '../../sim/simulate.js';
import { presetTopology } from '../../sim/topology/presets.js';

const root = join(import.meta.dirname, '..', '..');
const h200Pytorch = gpuProfileFromJson(JSON.parse(readFileSync(join(root, 'calibration', 'profiles', 'h200-pytorch.json'), 'utf8')));

function bigScenario(gpu: GpuSpec, strategy: 'kvr-e' | 'tp' | 'ring-kv' | 'tsp' | 'kvr-tp'): Scenario {
  // kvr-tp: groups of a node (its all-reduces on the node's NVSwitch, the chain over the NICs).
  const topology = presetTopology(strategy === 'kvr-tp' ? 'multi-node' : 'switch', { gpus: 64, bandwidth: 450e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2 });
  const groups = strategy === 'kvr-tp' ? { tp: 8, partition: [5120, 4608, 4608, 4096, 4096, 3584, 3584, 3072] } : {};
  return { model: MODEL_PRESETS['llama2-70b']!, gpu, topology, gpus: 64, context: 32768, strategy, ...groups };
}

// simulate() folds big plans from a sample of their layers (tp), or runs them as a layer
// recurrence (kvr-e, ring-kv, tsp, kvr-tp); on a shape-model GPU the band, the memory-bound share and the
// extrapolation notes come from a ledger of every op's cost, which the fold extrapolates from the
// sample's last layer and the recurrence sums over its priced shapes. It must match the ledger of
// the whole plan.
describe('layer folding and recurrences on shape-model GPUs', () => {
  for (const [name, gpu, strategy] of [
    ['h100-sxm preset', GPU_PRESETS['h100-sxm']!, 'kvr-e'],
    ['h200-pytorch profile', h200Pytorch, 'kvr-e'],
    ['h100-sxm preset', GPU_PRESETS['h100-sxm']!, 'tp'],
    ['h200-pytorch profile', h200Pytorch, 'tp'],
    ['h100-sxm preset', GPU_PRESETS['h100-sxm']!, 'ring-kv'],
    ['h200-pytorch profile', h200Pytorch, 'ring-kv'],
    ['h200-pytorch profile', h200Pytorch, 'tsp'],
    ['h200-pytorch profile', h200Pytorch, 'kvr-tp'],
  ] as const) {
    test(`${name}, ${strategy}: TTFT, band and warnings equal the whole plan's`, () => {
      const scenario = bigScenario(gpu, strategy);
      expect(gpu.shape).toBeDefined();
      expect(planOpCount(strategy, scenario.model.layers, 64, scenario.tp === undefined ? {} : { tp: scenario.tp })).toBeGreaterThanOrEqual(FOLD_WITHOUT_BUILDING_OPS);
      // kvr-e, ring-kv and tsp on a switch run as recurrences (their channels share no link), kvr-tp on nodes too; tp has none.
      const groups = scenario.tp === undefined ? {} : { tp: scenario.tp, partition: scenario.partition! };
      const request = { strategy, model: scenario.model, context: scenario.context, gpus: 64, fabric: topologyFabric(scenario.topology, 64), ...groups };
      expect(planRecurrence(request, scenarioRouter(scenario), new ComputePricer(scenario.model, gpu, 'flash')) !== undefined).toBe(strategy !== 'tp');
      const folded = simulate(scenario);
      // Folded or recurrent: its whole plan is built only when read (a getter), not by simulate.
      expect(typeof Object.getOwnPropertyDescriptor(folded, 'plan')?.get).toBe('function');
      // The whole plan (built on first read of .plan), costed with a ledger, as an unfolded simulate does.
      const ledger = emptyLedger();
      const durations = opDurations(folded.plan, gpu, 'flash', ledger);
      const whole = buildResult(folded.plan, folded.run, durations, gpu, scenario.topology, folded.result.partition_origin, 'flash', scenarioRouter(scenario));
      expect(Math.abs(folded.result.ttft_s - whole.ttft_s) / whole.ttft_s).toBeLessThan(1e-9);
      const memoryShare = ledger.memory_seconds / ledger.total_seconds;
      const warning = folded.result.warnings!.find((w) => w.startsWith('memory-bound kernels'));
      if (gpu.shape!.cv_error.memory == null) expect(warning).toContain(`${(memoryShare * 100).toFixed(1)}% of compute time`);
      expect(folded.result.warnings!.filter((w) => !w.startsWith('memory-bound'))).toEqual([...ledger.notes].sort());
      expect(folded.result.extrapolated).toBe(ledger.notes.size > 0);
      expect(folded.result.stack).toBe(gpu.stack_description ?? gpu.shape!.stack);
      const cv = gpu.shape!.cv_error;
      if (cv.gemm != null || cv.attention != null || cv.memory != null) {
        const e = ledger.error_seconds / ledger.total_seconds;
        expect(e).toBeGreaterThan(0);
        expect(Math.abs(folded.result.ttft_band! - e) / e).toBeLessThan(1e-9);
      } else {
        expect(folded.result.ttft_band).toBeUndefined();
      }
    });
  }
});
