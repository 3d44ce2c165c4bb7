import { KvrInputError } from '../errors.js';
import type { LinkNoise, Topology } from './topology.js';

/**
 * Copies of a topology with one thing changed, for what-if studies (a slow link, competing
 * traffic, a noisy network). The original is never modified.
 */

/** Both directions of one link set to `bandwidth` bytes/s. */
export function withLinkBandwidth(topology: Topology, link: number, bandwidth: number): Topology {
  if (topology.links[link] === undefined) throw new KvrInputError('link', `no link ${link} (the topology has ${topology.links.length})`);
  return {
    ...topology,
    links: topology.links.map((l, i) => (i === link ? { ...l, bandwidth_ab: bandwidth, bandwidth_ba: bandwidth } : l)),
  };
}

/** A competing flow along a path of node ids for the whole prefill; rate null takes its fair share. */
export function withBackgroundFlow(topology: Topology, path: string[], rate: number | null): Topology {
  const nodes = path.map((id) => {
    const index = topology.nodes.findIndex((n) => n.id === id);
    if (index < 0) throw new KvrInputError('background', `unknown node ${JSON.stringify(id)}`);
    return index;
  });
  return { ...topology, background: [...(topology.background ?? []), { nodes, rate }] };
}

/** Seeded bandwidth noise on the given links (the paper's noisy network). */
export function withLinkNoise(topology: Topology, links: number[], noise: LinkNoise): Topology {
  return { ...topology, links: topology.links.map((l, i) => (links.includes(i) ? { ...l, noise } : l)) };
}

/** Index of the link joining two nodes by id, for use with the functions above. */
export function linkBetween(topology: Topology, a: string, b: string): number {
  const [x, y] = [topology.nodes.findIndex((n) => n.id === a), topology.nodes.findIndex((n) => n.id === b)];
  const index = topology.links.findIndex((l) => (l.a === x && l.b === y) || (l.a === y && l.b === x));
  if (index < 0) throw new KvrInputError('link', `no link between ${a} and ${b}`);
  return index;
}
