import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { bundledChannels } from '../../../sim/engine/bundled-channels.js';
import { dedicatedChannels } from '../../../sim/engine/layer-recurrence.js';
import { FlowNetwork } from '../../../sim/engine/flow-network.js';
import { Router } from '../../../sim/topology/routing.js';
import { propertyOptions } from '../../support/property.js';
import { topology } from '../../support/scenarios.js';

/** Channels r -> r + t of `gpus` GPUs in nodes of `perNode`, bundled by group (r / t). */
function groupHops(gpus: number, t: number): [number, number][] {
  return Array.from({ length: gpus - t }, (_, r) => [r, r + t]);
}

/** The rates FlowNetwork gives `pairs`' flows started together on `router`'s links. */
function engineRates(router: Router, pairs: readonly (readonly [number, number])[]): Float64Array {
  const routes = pairs.map(([src, dst]) => router.route(src, dst).resources);
  const network = new FlowNetwork(Float64Array.from(router.capacities()), pairs.length, (f) => routes[f]!);
  pairs.forEach((_, f) => network.add(f, 1e9, 0));
  network.recompute(0, () => {});
  return Float64Array.from(network.rate);
}

describe('bundledChannels', () => {
  test('every channel its own bundle is dedicatedChannels: the narrowest link, nothing shared', () => {
    const router = new Router(topology('multi-node', 16, 3e11, 2e-6, { gpus_per_node: 8, nic_latency_s: 5e-6 }));
    const pairs = Array.from({ length: 15 }, (_, i) => [i, i + 1] as const);
    const bundled = bundledChannels(router, pairs, (q) => q)!;
    expect(bundled.anyTogether).toBe(false);
    expect(Array.from(bundled.together)).toEqual(new Array(15).fill(0));
    const dedicated = dedicatedChannels(router, pairs)!;
    expect(bundled.narrowest).toEqual(dedicated.narrowest);
    expect(bundled.latency).toEqual(dedicated.latency);
    // NVLink inside a node, the 50 GB/s NIC across.
    expect(bundled.narrowest[7]).toBe(50e9);
    expect(bundled.narrowest[0]).toBe(3e11);
  });

  test("an oversubscribed uplink: a node's 8 hops to the next node share it, 1/8 of it each", () => {
    const router = new Router(topology('multi-node', 32, 3e11, 2e-6, { gpus_per_node: 8, nic_bandwidth: 50e9, oversubscription: 2 }));
    const pairs = groupHops(32, 8);
    const bundled = bundledChannels(router, pairs, (r) => Math.floor(r / 8))!;
    expect(bundled.anyTogether).toBe(true);
    // Uplink 8 x 50 / 2 = 200 GB/s over 8 flows: 25 GB/s, below each NIC's 50.
    expect(Array.from(bundled.narrowest)).toEqual(new Array(24).fill(25e9));
    expect(bundled.narrowest).toEqual(engineRates(router, pairs));
    // Without bundles (every hop alone) the hops share links: no dedicated channels.
    expect(dedicatedChannels(router, pairs)).toBeUndefined();
  });

  test('two bundles on one link, a reserved link, background traffic: undefined', () => {
    const router = new Router(topology('multi-node', 32, 3e11, 2e-6, { gpus_per_node: 8, oversubscription: 2 }));
    // Bundles of 4 GPUs: two bundles per node share the node's uplink.
    expect(bundledChannels(router, groupHops(32, 8), (r) => Math.floor(r / 4))).toBeUndefined();
    const reserved = new Uint8Array(router.capacities().length);
    reserved[router.route(0, 8).resources[0]!] = 1;
    expect(bundledChannels(router, groupHops(32, 8), (r) => Math.floor(r / 8), reserved)).toBeUndefined();
    const busy = topology('multi-node', 32, 3e11, 2e-6, { gpus_per_node: 8, oversubscription: 2 });
    // A background flow over GPU 0's link into the fabric (its first two nodes: the GPU, its peer).
    busy.background = [{ nodes: router.route(0, 8).nodes.slice(0, 2), rate: 1e9 }];
    expect(bundledChannels(new Router(busy), groupHops(32, 8), (r) => Math.floor(r / 8))).toBeUndefined();
  });

  test('a bundle whose members would get unequal shares: undefined (their rates would change midway)', () => {
    // Two NICs a node of 8: GPUs 0-3 share one, 4-7 the other. A bundle of GPUs 2..5 sends to the
    // next node: two on each NIC, equal shares; a bundle of GPUs 1..4: three on one, one on the other.
    const router = new Router(topology('multi-node', 16, 3e11, 2e-6, { gpus_per_node: 8, nics_per_node: 2 }));
    const even = bundledChannels(router, [2, 3, 4, 5].map((r) => [r, r + 8] as const), () => 0)!;
    expect(Array.from(even.narrowest)).toEqual(new Array(4).fill(25e9));
    expect(bundledChannels(router, [1, 2, 3, 4].map((r) => [r, r + 8] as const), () => 0)).toBeUndefined();
  });

  test("slack links: a rail's uplink to the spine, sized for all its NICs, is crossed by channels of several bundles but never sets a rate", () => {
    const rails = new Router(topology('multi-node', 32, 3e11, 2e-6, { gpus_per_node: 8, nic_bandwidth: 50e9, rails: true }));
    // Every node's GPU 7 sends to the next node's GPU 0: rail 7 to rail 0 through the spine.
    const pairs = [0, 1, 2].map((k) => [8 * k + 7, 8 * k + 8] as const);
    const channels = bundledChannels(rails, pairs, (q) => q)!;
    expect(channels).toBeDefined();
    expect(channels.anyTogether).toBe(false);
    expect(Array.from(channels.narrowest)).toEqual([50e9, 50e9, 50e9]);
    // All three at once: FlowNetwork gives each its NIC's rate.
    expect(engineRates(rails, pairs)).toEqual(channels.narrowest);
    // Oversubscribed 4:1 the uplinks (4 x 50 GB/s) bind for the three: no longer slack.
    const tight = new Router(topology('multi-node', 32, 3e11, 2e-6, { gpus_per_node: 8, nic_bandwidth: 50e9, rails: true, oversubscription: 4 }));
    expect(engineRates(tight, pairs)[0]).toBeLessThan(50e9);
    expect(bundledChannels(tight, pairs, (q) => q)).toBeUndefined();
  });

  test('where it gives a bundle a rate, it is the rate FlowNetwork gives the flows started together', () => {
    let shared = 0;
    fc.assert(
      fc.property(
        fc.record({
          nodes: fc.integer({ min: 2, max: 5 }),
          perNode: fc.constantFrom(2, 4, 8),
          t: fc.constantFrom(1, 2, 4, 8),
          nics: fc.constantFrom(undefined, 1, 2, 4),
          oversubscription: fc.constantFrom(undefined, 1, 2, 3, 8),
          nicBandwidth: fc.constantFrom(1e9, 25e9, 5e10, 7e10),
          rails: fc.boolean(),
        }),
        (r) => {
          const t = Math.min(r.t, r.perNode);
          const gpus = r.nodes * r.perNode;
          const router = new Router(
            topology('multi-node', gpus, 3e11, 2e-6, {
              gpus_per_node: r.perNode,
              nic_bandwidth: r.nicBandwidth,
              ...(r.nics === undefined ? {} : { nics_per_node: Math.min(r.nics, r.perNode) }),
              ...(r.oversubscription === undefined ? {} : { oversubscription: r.oversubscription }),
              ...(r.rails ? { rails: true } : {}),
            }),
          );
          const pairs = groupHops(gpus, t);
          const bundled = bundledChannels(router, pairs, (q) => Math.floor(q / t));
          if (bundled === undefined) return;
          if (bundled.anyTogether) shared += 1;
          // Each bundle started alone on its links (which no other bundle's flows bind).
          for (let first = 0; first < pairs.length; first += t) {
            const bundle = pairs.slice(first, first + t);
            expect(bundled.narrowest.slice(first, first + t)).toEqual(engineRates(router, bundle));
          }
          // Every bundle at once: slack links shared between bundles change no rate.
          expect(engineRates(router, pairs)).toEqual(bundled.narrowest);
        },
      ),
      propertyOptions(150),
    );
    // Bundles that share links inside themselves (the case that needs the flow model) were drawn.
    console.log(`bundles sharing links inside: ${shared}`);
    expect(shared).toBeGreaterThan(20);
  });
});
