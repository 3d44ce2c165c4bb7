import { describe, expect, test } from 'vitest';
import { runPlan } from '../../../sim/engine/engine.js';
import type { Plan, PlanOp } from '../../../sim/plan/plan.js';
import { Router } from '../../../sim/topology/routing.js';
import type { Topology } from '../../../sim/topology/topology.js';
import { tinyModel, topology } from '../../support/scenarios.js';

/** Seconds until every one of these transfers (src, dst, bytes), all leaving at t=0, is done. */
function together(t: Topology, transfers: [number, number, number][]): number {
  const ops: PlanOp[] = transfers.map(([src, dst, bytes], id) => ({ id, kind: 'transfer', name: 'send', src, dst, layer: 0, token_start: 0, token_end: 1, bytes, deps: [] }));
  const gpus = t.nodes.filter((n) => n.kind === 'gpu').length;
  const plan: Plan = { schema: 'kvr-plan@1', strategy: 'kvr', model: tinyModel, context: gpus, gpus, partition: new Array(gpus).fill(1), kv_tokens: new Array(gpus).fill(1), last_rank: gpus - 1, ops };
  return runPlan(plan, new Float64Array(ops.length), new Router(t)).makespan;
}

describe('multi-node oversubscription', () => {
  const nic = 50e9;
  const options = (oversubscription: number) => ({ gpus_per_node: 4, nic_bandwidth: nic, oversubscription });

  test('1 (default) is the non-blocking single leaf; above 1, a leaf per node under one spine', () => {
    expect(topology('multi-node', 8, 450e9, 0, options(1))).toEqual(topology('multi-node', 8, 450e9, 0, { gpus_per_node: 4, nic_bandwidth: nic }));
    const t = topology('multi-node', 8, 450e9, 0, options(2));
    const router = new Router(t);
    const ids = (nodes: number[]) => nodes.map((n) => t.nodes[n]!.id);
    expect(ids(router.route(1, 6).nodes)).toEqual(['gpu1', 'leaf0', 'spine', 'leaf1', 'gpu6']);
    expect(ids(router.route(1, 2).nodes)).toEqual(['gpu1', 'nvswitch0', 'gpu2']);
  });

  test('at 2, four GPUs sending off-node at once get half their NIC bandwidth; one alone gets all of it', () => {
    const bytes = 1e9;
    const all: [number, number, number][] = [0, 1, 2, 3].map((g) => [g, g + 4, bytes]);
    expect(together(topology('multi-node', 8, 450e9, 0, options(1)), all)).toBeCloseTo(bytes / nic, 12);
    expect(together(topology('multi-node', 8, 450e9, 0, options(2)), all)).toBeCloseTo((2 * bytes) / nic, 12);
    expect(together(topology('multi-node', 8, 450e9, 0, options(2)), [all[0]!])).toBeCloseTo(bytes / nic, 12);
  });
});

describe('pcie-2s: two sockets', () => {
  test('GPUs under PCIe switches, half the switches per socket; traffic between sockets crosses the socket link', () => {
    const t = topology('pcie-2s', 8, 32e9, 2e-6, { gpus_per_switch: 2, socket_bandwidth: 20e9 });
    const router = new Router(t);
    const ids = (nodes: number[]) => nodes.map((n) => t.nodes[n]!.id);
    expect(ids(router.route(0, 1).nodes)).toEqual(['gpu0', 'pcie-switch0', 'gpu1']);
    expect(ids(router.route(1, 2).nodes)).toEqual(['gpu1', 'pcie-switch0', 'socket0', 'pcie-switch1', 'gpu2']);
    expect(ids(router.route(3, 4).nodes)).toEqual(['gpu3', 'pcie-switch1', 'socket0', 'socket1', 'pcie-switch2', 'gpu4']);
    expect(router.route(3, 4).latency_s).toBeCloseTo(4e-6, 15);
  });

  test('the inter-socket link is the bottleneck it should be, and is shared', () => {
    const t = topology('pcie-2s', 4, 32e9, 0, { gpus_per_switch: 1, socket_bandwidth: 20e9 });
    expect(together(t, [[0, 2, 1e9]])).toBeCloseTo(1e9 / 20e9, 12);
    expect(together(t, [[0, 2, 1e9], [1, 3, 1e9]])).toBeCloseTo(2e9 / 20e9, 12);
    expect(together(t, [[0, 1, 1e9]])).toBeCloseTo(1e9 / 32e9, 12);
  });
});
