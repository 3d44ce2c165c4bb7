import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { Router } from '../../../sim/topology/routing.js';
import type { Topology, TopologyLink, TopologyNode } from '../../../sim/topology/topology.js';
import { propertyOptions } from '../../support/property.js';

const REFERENCE_BYTES = 2 ** 20;

/**
 * Dijkstra written plainly (settle the unsettled node of least (distance, index), O(V^2)), with
 * the router's rules: a link costs latency + 1 MiB / bandwidth, strict improvements only, other
 * GPUs are endpoints (reached, never crossed). The path to dst, or undefined.
 */
function referencePath(t: Topology, src: number, dst: number): number[] | undefined {
  const n = t.nodes.length;
  const distance = new Array<number>(n).fill(Infinity);
  const previous = new Array<number>(n).fill(-1);
  const done = new Array<boolean>(n).fill(false);
  // A link's latency and transfer time are added to the distance one after the other, as the router
  // adds them: (d + latency) + transfer, not d + (latency + transfer), which can round apart and so
  // break a tie between two equal-cost paths the other way.
  const edges = t.nodes.map(() => [] as { to: number; link: number; latency: number; transfer: number }[]);
  t.links.forEach((l, i) => {
    edges[l.a]!.push({ to: l.b, link: i, latency: l.latency_s, transfer: REFERENCE_BYTES / l.bandwidth_ab });
    edges[l.b]!.push({ to: l.a, link: i, latency: l.latency_s, transfer: REFERENCE_BYTES / l.bandwidth_ba });
  });
  for (const list of edges) list.sort((x, y) => x.to - y.to || x.link - y.link);
  distance[src] = 0;
  for (;;) {
    let node = -1;
    for (let i = 0; i < n; i++) if (!done[i] && distance[i]! < Infinity && (node < 0 || distance[i]! < distance[node]!)) node = i;
    if (node < 0) break;
    done[node] = true;
    if (node !== src && t.nodes[node]!.kind === 'gpu') continue;
    for (const e of edges[node]!) {
      const candidate = distance[node]! + e.latency + e.transfer;
      if (candidate < distance[e.to]!) {
        distance[e.to] = candidate;
        previous[e.to] = node;
      }
    }
  }
  if (!done[dst]) return undefined;
  const path = [dst];
  while (path[path.length - 1] !== src) path.push(previous[path[path.length - 1]!]!);
  return path.reverse();
}

const graphArb = fc
  .record({
    gpus: fc.integer({ min: 2, max: 10 }),
    switches: fc.integer({ min: 1, max: 5 }),
    links: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 30 }),
  })
  .map(({ gpus, switches, links }): Topology => {
    const nodes: TopologyNode[] = [
      ...Array.from({ length: gpus }, (_, i): TopologyNode => ({ id: `gpu${i}`, kind: 'gpu' })),
      ...Array.from({ length: switches }, (_, i): TopologyNode => ({ id: `sw${i}`, kind: 'switch' })),
    ];
    // Every GPU hangs off a switch; the drawn links add switch-switch, GPU-switch and GPU-GPU links
    // (parallel ones included), of few distinct bandwidths so that equal-cost paths occur.
    const all: TopologyLink[] = Array.from({ length: gpus }, (_, g) => ({ a: g, b: gpus + (g % switches), bandwidth_ab: 1e9, bandwidth_ba: 1e9, latency_s: 0 }));
    for (const [a, b, ab, ba, latency] of links) {
      const x = a % nodes.length;
      const y = b % nodes.length;
      if (x !== y) all.push({ a: x, b: y, bandwidth_ab: ab * 1e9, bandwidth_ba: ba * 1e9, latency_s: latency * 1e-6 });
    }
    return { name: 'random', nodes, links: all, routes: [] };
  });

describe('Router: the shortest-path tree of each source', () => {
  test('random graphs: every route that avoids other GPUs is the plain Dijkstra path, GPUs settled as endpoints', () => {
    fc.assert(
      fc.property(graphArb, (t) => {
        const router = new Router(t);
        const gpus = t.nodes.filter((node) => node.kind === 'gpu').length;
        for (let src = 0; src < gpus; src++) {
          for (let dst = 0; dst < gpus; dst++) {
            if (src === dst) continue;
            const expected = referencePath(t, src, dst);
            if (expected === undefined) continue; // only through other GPUs: the router's fallback search
            expect(router.route(src, dst).nodes).toEqual(expected);
          }
        }
      }),
      propertyOptions(400),
    );
  });
});
