import type { Topology, TopologyLink, TopologyNode } from './topology.js';

export const TOPOLOGY_PRESET_NAMES = ['switch', 'ring', 'pcie', 'multi-node', 'pcie-2s'] as const;
export type TopologyPresetName = (typeof TOPOLOGY_PRESET_NAMES)[number];

/**
 * Parameters of the preset topologies. `latency_s` is what one GPU-to-GPU transfer over the
 * preset's basic path costs (split over the hops of that path), so `--latency 2us` means the
 * same on every preset.
 */
export interface PresetOptions {
  gpus: number;
  /** Per-direction bandwidth of each GPU's link (NVLink, or PCIe for `pcie`). */
  bandwidth: number;
  latency_s: number;
  /** multi-node: GPUs per node (NVSwitch inside). */
  gpus_per_node: number;
  /** multi-node: per-direction bandwidth of each GPU's NIC into the leaf switch. */
  nic_bandwidth: number;
  /** multi-node: latency of an inter-node transfer. */
  nic_latency_s: number;
  /** pcie, pcie-2s: GPUs under each PCIe switch. */
  gpus_per_switch: number;
  /**
   * multi-node: leaf-to-spine oversubscription (default 1). Above 1, each node's NICs go to the
   * node's own leaf switch, whose uplink to a common spine carries (GPUs per node x NIC bandwidth)
   * / oversubscription per direction: at 2, a node's GPUs get half their NIC bandwidth off-node
   * when they all send at once.
   */
  oversubscription?: number;
  /**
   * multi-node: NICs per node (default: one per GPU). Fewer: NIC j of a node serves GPUs
   * j*(g/n) .. (j+1)*(g/n)-1, each GPU linked to its NIC at the NIC's bandwidth, so GPUs behind one
   * NIC share its port (as on nodes with one NIC per two GPUs).
   */
  nics_per_node?: number;
  /**
   * multi-node: rail-optimised fabric: NIC j of every node goes to leaf switch `rail j`; the rails
   * are joined by a spine whose uplink from each rail carries (nodes x NIC bandwidth) /
   * oversubscription per direction. Traffic between NICs of one rail stays on its leaf.
   */
  rails?: boolean;
  /** pcie-2s: per-direction bandwidth of the inter-socket link (UPI / xGMI). */
  socket_bandwidth?: number;
}

/** Inter-socket bandwidth of pcie-2s when not given: about three UPI 2.0 links (an assumption). */
export const DEFAULT_SOCKET_BANDWIDTH = 64e9;

export function presetTopology(name: TopologyPresetName, options: PresetOptions): Topology {
  switch (name) {
    case 'switch':
      return switchTopology(options);
    case 'ring':
      return ringTopology(options);
    case 'pcie':
      return pcieTopology(options);
    case 'multi-node':
      return multiNodeTopology(options);
    case 'pcie-2s':
      return pcieTwoSocketTopology(options);
  }
}

class GraphBuilder {
  readonly nodes: TopologyNode[] = [];
  readonly links: TopologyLink[] = [];

  node(id: string, kind: TopologyNode['kind']): number {
    this.nodes.push({ id, kind });
    return this.nodes.length - 1;
  }

  link(a: number, b: number, bandwidth: number, latency: number): void {
    this.links.push({ a, b, bandwidth_ab: bandwidth, bandwidth_ba: bandwidth, latency_s: latency });
  }

  build(name: string): Topology {
    return { name, nodes: this.nodes, links: this.links, routes: [] };
  }
}

function gpus(graph: GraphBuilder, count: number): number[] {
  return Array.from({ length: count }, (_, i) => graph.node(`gpu${i}`, 'gpu'));
}

/** Every GPU has one link to a non-blocking switch (a DGX NVSwitch, or the paper's 10 GB/s fabric). */
function switchTopology(o: PresetOptions): Topology {
  const graph = new GraphBuilder();
  const ranks = gpus(graph, o.gpus);
  const hub = graph.node('switch', 'switch');
  for (const gpu of ranks) graph.link(gpu, hub, o.bandwidth, o.latency_s / 2);
  return graph.build('switch');
}

/** Each GPU linked to its two neighbours; traffic to farther GPUs crosses the GPUs between. */
function ringTopology(o: PresetOptions): Topology {
  const graph = new GraphBuilder();
  const ranks = gpus(graph, o.gpus);
  for (let i = 0; i + 1 < ranks.length; i++) graph.link(ranks[i]!, ranks[i + 1]!, o.bandwidth, o.latency_s);
  if (ranks.length > 2) graph.link(ranks[ranks.length - 1]!, ranks[0]!, o.bandwidth, o.latency_s);
  return graph.build('ring');
}

/**
 * A PCIe tree: `gpus_per_switch` GPUs share a PCIe switch whose uplink to the host bridge has the
 * same bandwidth as one GPU link, so GPUs under different switches contend on the uplinks.
 */
function pcieTopology(o: PresetOptions): Topology {
  const graph = new GraphBuilder();
  const ranks = gpus(graph, o.gpus);
  const host = graph.node('host', 'host');
  for (let first = 0; first < ranks.length; first += o.gpus_per_switch) {
    const pcieSwitch = graph.node(`pcie-switch${first / o.gpus_per_switch}`, 'switch');
    graph.link(pcieSwitch, host, o.bandwidth, 0);
    for (const gpu of ranks.slice(first, first + o.gpus_per_switch)) {
      graph.link(gpu, pcieSwitch, o.bandwidth, o.latency_s / 2);
    }
  }
  return graph.build('pcie');
}

/**
 * Nodes of `gpus_per_node` GPUs on an NVSwitch; every GPU also has its own NIC link into one leaf
 * switch (rail-optimised), so inter-node traffic leaves through the sender's NIC.
 */
function multiNodeTopology(o: PresetOptions): Topology {
  const oversubscription = o.oversubscription ?? 1;
  const nics = o.nics_per_node ?? o.gpus_per_node;
  if (o.rails === true || nics !== o.gpus_per_node) return nicTopology(o, nics, oversubscription);
  if (oversubscription !== 1) return leafSpineTopology(o, oversubscription);
  const graph = new GraphBuilder();
  const ranks = gpus(graph, o.gpus);
  const leaf = graph.node('leaf', 'switch');
  for (let first = 0; first < ranks.length; first += o.gpus_per_node) {
    const nvswitch = graph.node(`nvswitch${first / o.gpus_per_node}`, 'switch');
    for (const gpu of ranks.slice(first, first + o.gpus_per_node)) {
      graph.link(gpu, nvswitch, o.bandwidth, o.latency_s / 2);
      graph.link(gpu, leaf, o.nic_bandwidth, o.nic_latency_s / 2);
    }
  }
  return graph.build('multi-node');
}

/**
 * multi-node with an oversubscribed fabric: node k's NICs connect to its own leaf switch `leafk`;
 * every leaf has one uplink to the `spine` of (GPUs in the node x NIC bandwidth) / oversubscription
 * per direction, no latency. Off-node traffic crosses leaf -> spine -> leaf and shares the uplinks.
 */
function leafSpineTopology(o: PresetOptions, oversubscription: number): Topology {
  const graph = new GraphBuilder();
  const ranks = gpus(graph, o.gpus);
  const spine = graph.node('spine', 'switch');
  for (let first = 0; first < ranks.length; first += o.gpus_per_node) {
    const k = first / o.gpus_per_node;
    const nvswitch = graph.node(`nvswitch${k}`, 'switch');
    const leaf = graph.node(`leaf${k}`, 'switch');
    const members = ranks.slice(first, first + o.gpus_per_node);
    graph.link(leaf, spine, (members.length * o.nic_bandwidth) / oversubscription, 0);
    for (const gpu of members) {
      graph.link(gpu, nvswitch, o.bandwidth, o.latency_s / 2);
      graph.link(gpu, leaf, o.nic_bandwidth, o.nic_latency_s / 2);
    }
  }
  return graph.build('multi-node');
}

/**
 * multi-node with NIC nodes: node k's NIC j (`nic{k}.{j}`) serves GPUs j*s .. (j+1)*s-1 (s = GPUs
 * per NIC; each GPU-NIC link at the NIC's bandwidth, no latency) and links to a leaf at the NIC's
 * bandwidth and half the inter-node latency. Leaves: one per rail (`leaf-rail{j}`, joined by a
 * `spine` with uplinks of nodes x NIC bandwidth / oversubscription) with `rails`; else one per node
 * under a spine when oversubscribed; else a single `leaf`.
 */
function nicTopology(o: PresetOptions, nics: number, oversubscription: number): Topology {
  const graph = new GraphBuilder();
  const ranks = gpus(graph, o.gpus);
  const nodes = Math.ceil(ranks.length / o.gpus_per_node);
  const perNic = Math.max(1, Math.ceil(o.gpus_per_node / nics));
  const spine = o.rails === true || oversubscription !== 1 ? graph.node('spine', 'switch') : -1;
  const single = spine === -1 ? graph.node('leaf', 'switch') : -1;
  const rails: number[] = [];
  if (o.rails === true) {
    for (let j = 0; j < nics; j++) {
      const rail = graph.node(`leaf-rail${j}`, 'switch');
      graph.link(rail, spine, (nodes * o.nic_bandwidth) / oversubscription, 0);
      rails.push(rail);
    }
  }
  for (let k = 0; k < nodes; k++) {
    const members = ranks.slice(k * o.gpus_per_node, (k + 1) * o.gpus_per_node);
    const nvswitch = graph.node(`nvswitch${k}`, 'switch');
    let leaf = single;
    if (o.rails !== true && spine !== -1) {
      leaf = graph.node(`leaf${k}`, 'switch');
      graph.link(leaf, spine, (Math.min(nics, members.length) * o.nic_bandwidth) / oversubscription, 0);
    }
    const nicNodes: number[] = [];
    for (let j = 0; j * perNic < members.length; j++) {
      const nic = graph.node(`nic${k}.${j}`, 'nic');
      graph.link(nic, o.rails === true ? rails[j]! : leaf, o.nic_bandwidth, o.nic_latency_s / 2);
      nicNodes.push(nic);
    }
    members.forEach((gpu, y) => {
      graph.link(gpu, nvswitch, o.bandwidth, o.latency_s / 2);
      graph.link(gpu, nicNodes[Math.floor(y / perNic)]!, o.nic_bandwidth, 0);
    });
  }
  return graph.build('multi-node');
}

/**
 * A dual-socket PCIe host: GPUs under PCIe switches (`gpus_per_switch` each, uplinks as fast as a
 * GPU link, as in `pcie`), the first half of the switches under socket 0's root complex and the
 * rest under socket 1's; the two sockets are joined by one inter-socket link (UPI / xGMI) of
 * `socket_bandwidth` per direction and latency `latency_s`. GPU-to-GPU traffic between sockets
 * crosses it.
 */
function pcieTwoSocketTopology(o: PresetOptions): Topology {
  const graph = new GraphBuilder();
  const ranks = gpus(graph, o.gpus);
  const sockets = [graph.node('socket0', 'host'), graph.node('socket1', 'host')];
  graph.link(sockets[0]!, sockets[1]!, o.socket_bandwidth ?? DEFAULT_SOCKET_BANDWIDTH, o.latency_s);
  const switches = Math.ceil(ranks.length / o.gpus_per_switch);
  for (let s = 0; s < switches; s++) {
    const pcieSwitch = graph.node(`pcie-switch${s}`, 'switch');
    graph.link(pcieSwitch, sockets[s < Math.ceil(switches / 2) ? 0 : 1]!, o.bandwidth, 0);
    for (const gpu of ranks.slice(s * o.gpus_per_switch, (s + 1) * o.gpus_per_switch)) {
      graph.link(gpu, pcieSwitch, o.bandwidth, o.latency_s / 2);
    }
  }
  return graph.build('pcie-2s');
}
