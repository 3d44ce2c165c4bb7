import type { Topology } from '../topology/topology.js';
import type { CollectiveAlgorithm, CollectiveName } from './plan.js';

/**
 * The tuner of `--collective auto`, written in NCCL's manner (NVIDIA/nccl src/graph/tuning.cc,
 * ncclTopoTuneModel, read at commit 5067397c, June 2026): every (algorithm, protocol) pair gets a
 * time = latency + bytes / bandwidth and the cheapest one runs. Latency = a base latency per
 * algorithm and protocol (tuning.cc `baseLatencies`) + one hardware latency per step of the
 * algorithm, NVLink inside a node and network across nodes (tuning.cc `hwLatencies`); bandwidth =
 * the bus bandwidth of the algorithm on this fabric times the protocol's efficiency (tuning.cc:
 * LL `busBw * .5`, LL128 `busBw * 0.92` (there noted as 120.0/128.0), Simple 1).
 *
 * What runs is then point-to-point transfers (sim/plan/collectives.ts) under the link model; the
 * protocol reaches them as (a) wire bytes: an LL transfer moves 2x its data (a flag per 4-byte
 * word), LL128 1/0.92x, and (b) software latency: each transfer pays its step's hardware latency,
 * and the first transfers of each member the base latency. The tuner's closed form only picks.
 */

export const COLLECTIVE_PROTOCOLS = ['simple', 'll128', 'll'] as const;
export type CollectiveProtocol = (typeof COLLECTIVE_PROTOCOLS)[number];

/** Bytes a transfer puts on the wire per byte of data (tuning.cc: LL .5, LL128 .92 of the bandwidth). */
export const PROTOCOL_WIRE: Record<CollectiveProtocol, number> = { simple: 1, ll128: 1 / 0.92, ll: 2 };

/** tuning.cc baseLatencies (us): { LL, LL128, Simple } of Tree and Ring. */
const BASE_LATENCY_US = {
  tree: { ll: 6.8, ll128: 14.0, simple: 8.4 },
  ring: { ll: 6.6, ll128: 14.0, simple: 8.4 },
} as const;

/** tuning.cc hwLatencies (us) per step: NVLINK and NET rows, Tree and Ring columns. */
const HW_LATENCY_US = {
  nvlink: { tree: { ll: 0.6, ll128: 1.25, simple: 4.0 }, ring: { ll: 0.6, ll128: 1.9, simple: 3.4 } },
  net: { tree: { ll: 5.0, ll128: 8.5, simple: 14 }, ring: { ll: 2.7, ll128: 4.0, simple: 14.0 } },
} as const;

/** Which of NCCL's latency rows an algorithm of ours takes: the tree row for the hierarchical one. */
function latencyFamily(algorithm: CollectiveAlgorithm): 'ring' | 'tree' {
  return algorithm === 'hierarchical' ? 'tree' : 'ring';
}

/*
 * Anchoring on the topology. The link model already charges every transfer its route's latency
 * (`--latency`, `--nic-latency`): that is the Simple protocol's step here, so Simple adds nothing
 * and results of large messages stay as they were. The other protocols keep NCCL's proportions
 * relative to Simple: a step costs the route's latency x hwLatency(P) / hwLatency(Simple) (LL on
 * NVLink: 0.6/3.4 of it), and a collective pays max(0, baseLatency(P) - baseLatency(Simple))
 * more on its first step (LL128: 5.6 us).
 */

/** Extra base latency (s) of a collective under a protocol over Simple: paid by each member's first transfers. */
export function baseLatency(algorithm: CollectiveAlgorithm, protocol: CollectiveProtocol): number {
  const family = BASE_LATENCY_US[latencyFamily(algorithm)];
  return Math.max(0, family[protocol] - family.simple) * 1e-6;
}

/** A step's latency under a protocol as a multiple of the route's (Simple: 1). */
export function hopLatencyScale(algorithm: CollectiveAlgorithm, protocol: CollectiveProtocol, inter: boolean): number {
  const row = HW_LATENCY_US[inter ? 'net' : 'nvlink'][latencyFamily(algorithm)];
  return row[protocol] / row.simple;
}

/**
 * What the tuner needs of the machine: GPUs per node (consecutive ranks), NICs per node, and the
 * per-direction bandwidth of a GPU's intra-node link and of one NIC.
 */
export interface CollectiveFabric {
  /** Route latency of a step inside a node and across nodes (s): what the link model charges. */
  intra_latency_s: number;
  inter_latency_s: number;
  node_size: number;
  nics_per_node: number;
  intra_bandwidth: number;
  nic_bandwidth: number;
}

/**
 * The fabric of a topology: nodes are the GPUs sharing an `nvswitchK` switch (the multi-node
 * preset); a NIC is a GPU's link to a `leaf*` switch. Anything else is one node whose intra-node
 * bandwidth is its narrowest GPU link.
 */
export function topologyFabric(topology: Topology, gpus: number): CollectiveFabric {
  const gpuIndex = new Map<number, number>();
  let g = 0;
  topology.nodes.forEach((node, i) => {
    if (node.kind === 'gpu') gpuIndex.set(i, g++);
  });
  const nodeOf = new Int32Array(g).fill(-1);
  let intra = Infinity;
  let nic = Infinity;
  let intraLatency = 0;
  let nicLatency = 0;
  // NICs of each GPU rank: its own link to a leaf, or the `nic` node it is linked to.
  const nicOf = new Map<number, number>();
  for (const link of topology.links) {
    for (const [gpu, other] of [
      [link.a, link.b],
      [link.b, link.a],
    ] as const) {
      const rank = gpuIndex.get(gpu);
      if (rank === undefined || rank >= gpus) continue;
      const id = topology.nodes[other]!.id;
      const bandwidth = Math.min(link.bandwidth_ab, link.bandwidth_ba);
      if (/^leaf/.test(id)) {
        nic = Math.min(nic, bandwidth);
        nicLatency = Math.max(nicLatency, link.latency_s);
        nicOf.set(rank, -1 - rank);
      } else if (topology.nodes[other]!.kind === 'nic') {
        nic = Math.min(nic, bandwidth);
        nicOf.set(rank, other);
      } else {
        intra = Math.min(intra, bandwidth);
        intraLatency = Math.max(intraLatency, link.latency_s);
        if (/^nvswitch/.test(id)) nodeOf[rank] = other;
      }
    }
  }
  // Nodes of equal size, consecutive ranks; otherwise one node.
  let nodeSize = gpus;
  if (gpus > 0 && nodeOf[0] !== -1) {
    let size = 0;
    while (size < gpus && nodeOf[size] === nodeOf[0]) size++;
    let regular = gpus % size === 0;
    for (let r = 0; regular && r < gpus; r++) regular = nodeOf[r] === nodeOf[r - (r % size)] && (r % size === 0 || nodeOf[r] !== -1);
    for (let k = size; regular && k < gpus; k += size) regular = nodeOf[k] !== nodeOf[k - size];
    if (regular) nodeSize = size;
  }
  // A NIC's own link to its leaf: its bandwidth and latency count too.
  const nicNodes = new Set([...nicOf.values()].filter((v) => v >= 0));
  for (const link of topology.links) {
    for (const end of [link.a, link.b]) {
      if (nicNodes.has(end)) {
        nic = Math.min(nic, link.bandwidth_ab, link.bandwidth_ba);
        nicLatency = Math.max(nicLatency, link.latency_s);
      }
    }
  }
  const firstNode = new Set<number>();
  for (let r = 0; r < Math.min(nodeSize, gpus); r++) if (nicOf.has(r)) firstNode.add(nicOf.get(r)!);
  const nics = firstNode.size;
  // A step crosses two links (GPU, switch, GPU) on the presets.
  return {
    intra_latency_s: 2 * intraLatency,
    inter_latency_s: 2 * (nicLatency || intraLatency),
    node_size: nodeSize,
    nics_per_node: Math.max(1, nics),
    intra_bandwidth: Number.isFinite(intra) ? intra : 1e12,
    nic_bandwidth: Number.isFinite(nic) ? nic : Number.isFinite(intra) ? intra : 1e12,
  };
}

/** What the tuner decided for one collective. */
export interface CollectiveTuning {
  algorithm: CollectiveAlgorithm;
  protocol: CollectiveProtocol;
  channels: number;
  node_size: number;
  /** The tuner's own estimate (s): latency + bytes / bandwidth. */
  estimate_s: number;
}

/** What a caller may force; the rest the tuner picks. */
export interface CollectiveRequestOptions {
  algorithm?: CollectiveAlgorithm | 'auto';
  protocol?: CollectiveProtocol;
  channels?: number;
}

/**
 * Picks algorithm, protocol and channels for a collective over `p` consecutive ranks starting at
 * `firstRank`, of `bytes` of data (the whole buffer: an all-reduce's input, an all-gather's output).
 * Candidates: ring over n channels (n = NICs per node across nodes, 1 inside one node, where one
 * ring already fills each GPU's switch port in the link model) with each protocol. `hierarchical`
 * (the shape of NCCL's NVLS-tree and CollNet-chain, which need NVLink SHARP or SHARP switches) and
 * `direct` (no NCCL algorithm) are only forced; forced, the protocol is still the tuner's.
 */
export function tuneCollective(
  name: CollectiveName,
  bytes: number,
  p: number,
  firstRank: number,
  fabric: CollectiveFabric,
  options: CollectiveRequestOptions = {},
): CollectiveTuning {
  const g = fabric.node_size;
  // Members form whole nodes, or sit inside one node.
  const nodeSize = p > g && p % g === 0 && firstRank % g === 0 ? g : p;
  const nodes = p / nodeSize;
  const channelsDefault = nodes > 1 ? Math.max(1, Math.min(fabric.nics_per_node, nodeSize)) : 1;
  // Inside one node a ring already fills each GPU's switch port in the link model: one channel.
  const channels = nodes > 1 ? Math.max(1, Math.min(options.channels ?? channelsDefault, nodeSize)) : 1;
  const forced = options.algorithm !== undefined && options.algorithm !== 'auto' ? options.algorithm : undefined;
  // NCCL without NVLink SHARP or CollNet runs rings (and trees) only; the hierarchical shape is
  // theirs (NVLS-tree, CollNet-chain), so auto leaves it to be forced.
  const candidates: CollectiveAlgorithm[] = forced !== undefined ? [forced] : name === 'allreduce' && nodes > 1 ? ['ring', 'tree'] : ['ring'];
  const protocols: readonly CollectiveProtocol[] = options.protocol !== undefined ? [options.protocol] : COLLECTIVE_PROTOCOLS;
  let best: CollectiveTuning | undefined;
  for (const algorithm of candidates) {
    for (const protocol of protocols) {
      const estimate_s = estimateCollective(name, algorithm, protocol, bytes, p, nodeSize, channels, fabric);
      if (best === undefined || estimate_s < best.estimate_s) best = { algorithm, protocol, channels: algorithm === 'ring' || algorithm === 'tree' ? channels : 1, node_size: nodeSize, estimate_s };
    }
  }
  return best!;
}

/** The tuner's closed form: latency + bytes / bus bandwidth, as tuning.cc. */
export function estimateCollective(
  name: CollectiveName,
  algorithm: CollectiveAlgorithm,
  protocol: CollectiveProtocol,
  bytes: number,
  p: number,
  nodeSize: number,
  channels: number,
  fabric: CollectiveFabric,
): number {
  const nodes = p / nodeSize;
  const wire = PROTOCOL_WIRE[protocol];
  const intra = fabric.intra_bandwidth;
  const nic = fabric.nic_bandwidth;
  const ringSteps = name === 'allreduce' ? 2 * (p - 1) : p - 1;
  const hop = (inter: boolean): number => (inter ? fabric.inter_latency_s : fabric.intra_latency_s) * hopLatencyScale(algorithm, protocol, inter);
  if (algorithm === 'hierarchical' && name === 'allreduce' && nodes > 1 && nodeSize > 1) {
    const latency = baseLatency(algorithm, protocol) + 2 * (nodeSize - 1) * hop(false) + 2 * (nodes - 1) * hop(true);
    const a = (bytes * wire * (nodeSize - 1)) / nodeSize / intra;
    const b = (2 * (nodes - 1) * bytes * wire) / nodes / nodeSize / Math.min(nic, intra);
    // The intra-node reduce-scatter and all-gather share each GPU's link (2a); pipelined over q
    // chunks, the busier of link and NIC sets the pace once the pipeline is full.
    const q = 4;
    return latency + (2 * a + b) / q + (Math.max(2 * a, b) * (q - 1)) / q;
  }
  if (algorithm === 'tree' && name === 'allreduce' && nodes > 1) {
    // tuning.cc: latency base + 2((g-1) intra + log2(N) inter); tree all-reduce bandwidth x .92.
    // Bandwidth: the busier of a GPU's link (the chains reduce and broadcast: 2 (g-1)/g of the
    // data) and a NIC (an interior leader sends its channel's data up once and down to two
    // children: 3/n of it), over a pipeline of TREE_CHUNKS chunks that takes 1/chunks more to fill.
    const latency = baseLatency('tree', protocol) + 2 * ((nodeSize - 1) * hop(false) + Math.ceil(Math.log2(nodes)) * hop(true));
    const linkTime = (2 * bytes * wire * (nodeSize - 1)) / nodeSize / intra;
    const nicTime = (bytes * wire * (nodes > 2 ? 3 : 1)) / channels / Math.min(nic, intra);
    return latency + (Math.max(linkTime, nicTime) / 0.92) * (1 + 1 / 4);
  }
  if (algorithm === 'direct') {
    return baseLatency('ring', protocol) + hop(nodes > 1) * (name === 'allreduce' ? 2 : 1) + (ringSteps * bytes * wire) / p / (nodes > 1 ? Math.min(intra, nic) : intra);
  }
  const interSteps = nodes === 1 ? 0 : name === 'allreduce' ? 2 * (nodes - 1) : nodes - 1;
  const latency = baseLatency('ring', protocol) + (ringSteps - interSteps) * hop(false) + interSteps * hop(true);
  // Per channel, a crossing uses one NIC; a GPU's link carries the n-1 channels that stay in its node.
  const busBw = nodes > 1 ? channels * Math.min(nic, intra / Math.max(1, channels - 1)) : intra;
  return latency + (ringSteps * bytes * wire) / p / busBw;
}
