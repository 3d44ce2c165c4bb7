import { describe, expect, test } from 'vitest';
import { Router } from '../../../sim/topology/routing.js';
import { topologyFromJson } from '../../../sim/topology/topology.js';
import { topology } from '../../support/scenarios.js';

describe('Router', () => {
  test('switch: two hops through the switch; the latency splits so one transfer costs --latency', () => {
    const route = new Router(topology('switch', 4, 300e9, 2e-6)).route(1, 3);
    expect(route.nodes).toEqual([1, 4, 3]);
    expect(route.latency_s).toBeCloseTo(2e-6, 15);
    expect([...route.resources]).toEqual([2, 7]); // gpu1->switch, switch->gpu3
  });

  test('ring: neighbours are one hop; farther GPUs are reached through the GPUs between', () => {
    const router = new Router(topology('ring', 6, 100e9, 1e-6));
    expect(router.route(0, 1).nodes).toEqual([0, 1]);
    expect(router.route(0, 5).nodes).toEqual([0, 5]);
    expect(router.route(0, 2).nodes).toEqual([0, 1, 2]);
    expect(router.route(0, 2).latency_s).toBeCloseTo(2e-6, 15);
  });

  test('multi-node: NVSwitch inside a node, the sender NIC and the leaf switch across nodes', () => {
    const t = topology('multi-node', 16, 450e9, 0, { gpus_per_node: 8, nic_bandwidth: 50e9 });
    const router = new Router(t);
    const ids = (nodes: number[]) => nodes.map((n) => t.nodes[n]!.id);
    expect(ids(router.route(2, 5).nodes)).toEqual(['gpu2', 'nvswitch0', 'gpu5']);
    expect(ids(router.route(7, 8).nodes)).toEqual(['gpu7', 'leaf', 'gpu8']);
  });

  test('pcie: GPUs under one switch stay below it; others cross the host bridge', () => {
    const t = topology('pcie', 4, 32e9);
    const router = new Router(t);
    const ids = (nodes: number[]) => nodes.map((n) => t.nodes[n]!.id);
    expect(ids(router.route(0, 1).nodes)).toEqual(['gpu0', 'pcie-switch0', 'gpu1']);
    expect(ids(router.route(1, 2).nodes)).toEqual(['gpu1', 'pcie-switch0', 'host', 'pcie-switch1', 'gpu2']);
  });

  test('prefers a fat path to a thin one and honours explicit routes', () => {
    const file = {
      nodes: [
        { id: 'gpu0', kind: 'gpu' },
        { id: 'gpu1', kind: 'gpu' },
        { id: 'fast', kind: 'switch' },
        { id: 'slow', kind: 'switch' },
      ],
      links: [
        { a: 'gpu0', b: 'slow', bandwidth: '10 GB/s' },
        { a: 'slow', b: 'gpu1', bandwidth: '10 GB/s' },
        { a: 'gpu0', b: 'fast', bandwidth: '300 GB/s' },
        { a: 'fast', b: 'gpu1', bandwidth: '300 GB/s' },
      ],
    };
    expect(new Router(topologyFromJson(file)).route(0, 1).nodes).toEqual([0, 2, 1]);
    const pinned = topologyFromJson({ ...file, routes: [{ path: ['gpu0', 'slow', 'gpu1'] }] });
    expect(new Router(pinned).route(0, 1).nodes).toEqual([0, 3, 1]);
    expect(new Router(pinned).route(1, 0).nodes).toEqual([1, 2, 0]);
  });

  test('a disconnected GPU is a clear error', () => {
    const t = topologyFromJson({ nodes: [{ id: 'a', kind: 'gpu' }, { id: 'b', kind: 'gpu' }], links: [] });
    expect(() => new Router(t).route(0, 1)).toThrow(/^topology: no path from a to b/);
  });
});
