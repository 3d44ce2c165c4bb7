import { describe, expect, test } from 'vitest';
import { runRecurrence } from '../../../../sim/engine/layer-recurrence.js';
import { ComputePricer } from '../../../../sim/hardware/compute-pricer.js';
import type { ModelSpec } from '../../../../sim/model/model-spec.js';
import { topologyFabric } from '../../../../sim/plan/collective-tuner.js';
import { kvrTpLinks } from '../../../../sim/plan/plan-recurrence.js';
import { kvrHops, kvrRecurrence, KvrStagePricer } from '../../../../sim/plan/strategies/kvr-recurrence.js';
import { kvrTpRecurrence } from '../../../../sim/plan/strategies/kvr-tp-recurrence.js';
import { scenarioRouter } from '../../../../sim/scenario-router.js';
import type { Topology } from '../../../../sim/topology/topology.js';
import { ideal, tinyModel, topology } from '../../../support/scenarios.js';

const model: ModelSpec = { ...tinyModel, heads: 8, kv_heads: 4, layers: 6 };

/** kvr-tp's links on `topo` for `gpus` GPUs in groups of `tp` (auto all-reduces). */
function links(topo: Topology, gpus: number, tp: number) {
  const router = scenarioRouter({ gpu: ideal, topology: topo });
  const request = { strategy: 'kvr-tp' as const, model, context: gpus * 64, gpus, tp, fabric: topologyFabric(topo, gpus) };
  return { router, links: kvrTpLinks(request, router, new ComputePricer(model, ideal, 'flash')) };
}

describe('kvrTpRecurrence: kvr-tp as a layer recurrence', () => {
  test('groups of one node each on a uniform cluster: one representative all-reduce run per chunk size, reused by later partitions', () => {
    const { links: groups } = links(topology('multi-node', 32, 3e11, 2e-6, { gpus_per_node: 4, nic_latency_s: 5e-6 }), 32, 4);
    expect(groups).toBeDefined();
    runRecurrence(kvrTpRecurrence([256, 256, 256, 256, 256, 256, 256, 256], groups!), model.layers);
    expect(groups!.representativeRuns).toBe(1);
    // Two groups change their chunk: two more sizes, two more runs.
    runRecurrence(kvrTpRecurrence([300, 212, 256, 256, 256, 256, 256, 256], groups!), model.layers);
    expect(groups!.representativeRuns).toBe(3);
    // The same sizes in other groups: no new run.
    runRecurrence(kvrTpRecurrence([256, 256, 300, 256, 256, 256, 212, 256], groups!), model.layers);
    expect(groups!.representativeRuns).toBe(3);
  });

  test('no recurrence where a chain hop shares a link with a group\'s routes (two groups a node: NVSwitch ports, with a NIC a GPU or one a node)', () => {
    expect(links(topology('multi-node', 16, 3e11, 2e-6, { gpus_per_node: 4 }), 16, 2).links).toBeUndefined();
    expect(links(topology('multi-node', 16, 3e11, 2e-6, { gpus_per_node: 8, nics_per_node: 1 }), 16, 4).links).toBeUndefined();
    expect(links(topology('multi-node', 16, 3e11, 2e-6, { gpus_per_node: 4 }), 16, 4).links).toBeDefined();
  });

  test("one NIC a node: a group's hops share it as a bundle, a quarter of it each, and must leave together", () => {
    const groups = links(topology('multi-node', 16, 3e11, 2e-6, { gpus_per_node: 4, nics_per_node: 1, nic_bandwidth: 40e9 }), 16, 4).links!;
    expect(groups).toBeDefined();
    expect(Array.from(groups.together)).toEqual(new Array(12).fill(1));
    expect(Array.from(groups.narrowest)).toEqual(new Array(12).fill(10e9));
  });

  test('groups of one GPU (--tp 1) are kvr\'s chain: the same times bit for bit', () => {
    const topo = topology('multi-node', 8, 3e11, 2e-6, { gpus_per_node: 4, nic_latency_s: 5e-6 });
    const { router, links: groups } = links(topo, 8, 1);
    const partition = [100, 90, 80, 70, 60, 50, 40, 22];
    const tpRun = runRecurrence(kvrTpRecurrence(partition, groups!), model.layers, { periodic: false })!;
    const kvrRun = runRecurrence(kvrRecurrence(model, partition, 'kvr', kvrHops(router, 8)!, new KvrStagePricer(new ComputePricer(model, ideal, 'flash'))), model.layers, { periodic: false })!;
    expect(tpRun.ttft).toBe(kvrRun.ttft);
    expect(Array.from(tpRun.finish)).toEqual(Array.from(kvrRun.finish));
    expect(tpRun.events).toBe(kvrRun.events);
  });
});
