import { describe, expect, test } from 'vitest';
import { gpuNodes, topologyFromJson } from '../../../sim/topology/topology.js';

const chain = {
  name: 'chain',
  nodes: [
    { id: 'gpu0', kind: 'gpu' },
    { id: 'sw', kind: 'switch' },
    { id: 'gpu1', kind: 'gpu' },
  ],
  links: [
    { a: 'gpu0', b: 'sw', bandwidth: '300 GB/s', latency: '1 us' },
    { a: 'sw', b: 'gpu1', bandwidth_ab: '100 GB/s', bandwidth_ba: '50 GB/s' },
  ],
};

describe('topologyFromJson', () => {
  test('reads nodes, per-direction bandwidths and latencies', () => {
    const t = topologyFromJson(chain);
    expect(t.name).toBe('chain');
    expect(gpuNodes(t)).toEqual([0, 2]);
    expect(t.links[0]).toEqual({ a: 0, b: 1, bandwidth_ab: 300e9, bandwidth_ba: 300e9, latency_s: 1e-6 });
    expect(t.links[1]).toEqual({ a: 1, b: 2, bandwidth_ab: 100e9, bandwidth_ba: 50e9, latency_s: 0 });
  });

  test('reads explicit routes', () => {
    const t = topologyFromJson({ ...chain, routes: [{ path: ['gpu1', 'sw', 'gpu0'] }] });
    expect(t.routes).toEqual([{ nodes: [2, 1, 0] }]);
  });

  test.each([
    [{ ...chain, nodes: [] }, /^t.nodes: expected 1\.\./],
    [{ ...chain, nodes: [{ id: 'sw', kind: 'switch' }] }, /^t.links\[0\].a: unknown node "gpu0"/],
    [{ ...chain, nodes: [...chain.nodes, { id: 'gpu0', kind: 'gpu' }] }, /^t.nodes\[3\].id: duplicate node id/],
    [{ ...chain, nodes: [{ id: 'x', kind: 'router' }] }, /^t.nodes\[0\].kind: expected one of gpu, switch, nic, host/],
    [{ ...chain, links: [{ a: 'gpu0', b: 'sw', bandwidth: '0 GB/s' }] }, /^t.links\[0\].bandwidth: must be > 0/],
    [{ ...chain, links: [{ a: 'gpu0', b: 'sw', bandwidth: 'fast' }] }, /^t.links\[0\].bandwidth: expected a bandwidth/],
    [{ ...chain, links: [{ a: 'gpu0', b: 'sw' }] }, /^t.links\[0\].bandwidth: is required/],
    [{ ...chain, links: [{ a: 'gpu0', b: 'gpu0', bandwidth: '1 GB/s' }] }, /two different nodes/],
    [{ ...chain, links: [chain.links[0], chain.links[0]] }, /duplicate link between gpu0 and sw/],
    [{ ...chain, routes: [{ path: ['gpu0', 'gpu1'] }] }, /no link between gpu0 and gpu1/],
    [{ ...chain, routes: [{ path: ['gpu0', 'sw'] }] }, /must start and end at a gpu node/],
    [{ ...chain, extra: 1 }, /^t.extra: unknown field/],
    [{ ...chain, nodes: [{ id: 'sw', kind: 'switch' }], links: [] }, /needs at least one node of kind "gpu"/],
    ['nope', /^t: expected an object/],
  ])('rejects %j', (input, message) => {
    expect(() => topologyFromJson(input, 't')).toThrow(message);
  });
});
