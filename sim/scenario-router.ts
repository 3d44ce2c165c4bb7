import type { GpuSpec } from './hardware/gpu-spec.js';
import { Router } from './topology/routing.js';
import type { Topology } from './topology/topology.js';

/** The router of a scenario: its topology, with the GPU's calibrated per-transfer overhead. */
export function scenarioRouter(scenario: { topology: Topology; gpu: GpuSpec }): Router {
  return new Router(scenario.topology, scenario.gpu.calibration?.transfer_overhead_s ?? 0);
}
