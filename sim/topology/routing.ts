import { KvrInputError } from '../errors.js';
import { gpuNodes, type LinkNoise, type Topology } from './topology.js';

/** The path of a transfer: directed link resources it occupies, and the sum of their latencies. */
export interface Route {
  /** Directed resource ids: 2 * link + 0 for a->b, 2 * link + 1 for b->a. */
  resources: Int32Array;
  latency_s: number;
  /** Node indices from source to destination, for display. */
  nodes: number[];
}

/**
 * Bytes of the reference message that ranks candidate paths: a path costs the sum over its links
 * of latency + REFERENCE_BYTES / bandwidth, so large transfers prefer fat links and equal paths
 * prefer fewer hops.
 */
const REFERENCE_BYTES = 2 ** 20;

interface Edge {
  to: number;
  link: number;
  resource: number;
}

/** Routes transfers between ranks: explicit routes from the topology first, else the fastest path. */
export class Router {
  private readonly topology: Topology;
  private readonly gpus: number[];
  private readonly adjacency: Edge[][];
  /** The adjacency in CSR form (edges of node n: offset[n] .. offset[n+1]), for Dijkstra. */
  private readonly edges: { offset: Int32Array; to: Int32Array; latency: Float64Array; cost: Float64Array; isGpu: Uint8Array };
  /** Per node: neighbour -> the resource of the first link to it in adjacency order (the one a path takes). */
  private readonly firstResource: Map<number, number>[];
  private readonly explicit = new Map<string, number[]>();
  private readonly cache = new Map<number, Route>();
  private readonly trees = new Map<number, ShortestPathTree>();
  /** Per source GPU node: the latency of the tree route to each node, and the resource entering it. */
  private readonly treeRoutes = new Map<number, { latency: Float64Array; inResource: Int32Array }>();
  private readonly extraLatency: number;

  /** `extraLatency` is added to every route (a calibrated per-transfer overhead). */
  constructor(topology: Topology, extraLatency = 0) {
    this.topology = topology;
    this.extraLatency = extraLatency;
    this.gpus = gpuNodes(topology);
    this.adjacency = topology.nodes.map(() => []);
    topology.links.forEach((link, i) => {
      this.adjacency[link.a]!.push({ to: link.b, link: i, resource: 2 * i });
      this.adjacency[link.b]!.push({ to: link.a, link: i, resource: 2 * i + 1 });
    });
    for (const edges of this.adjacency) edges.sort((x, y) => x.to - y.to || x.link - y.link);
    // The adjacency as typed arrays, with each edge's cost terms (latency, REFERENCE_BYTES over
    // its direction's bandwidth): Dijkstra runs once per source GPU, 1024 times on 1024 GPUs.
    const offset = new Int32Array(topology.nodes.length + 1);
    this.adjacency.forEach((edges, node) => (offset[node + 1] = offset[node]! + edges.length));
    const flat = this.adjacency.flat();
    this.edges = {
      offset,
      to: Int32Array.from(flat, (edge) => edge.to),
      latency: Float64Array.from(flat, (edge) => topology.links[edge.link]!.latency_s),
      cost: Float64Array.from(flat, (edge) => {
        const link = topology.links[edge.link]!;
        return REFERENCE_BYTES / (edge.resource % 2 === 0 ? link.bandwidth_ab : link.bandwidth_ba);
      }),
      isGpu: Uint8Array.from(topology.nodes, (node) => (node.kind === 'gpu' ? 1 : 0)),
    };
    this.firstResource = this.adjacency.map((edges) => {
      const first = new Map<number, number>();
      for (const edge of edges) if (!first.has(edge.to)) first.set(edge.to, edge.resource);
      return first;
    });
    for (const route of topology.routes) {
      const nodes = route.nodes;
      this.explicit.set(`${nodes[0]}:${nodes[nodes.length - 1]}`, nodes);
    }
  }

  get gpuCount(): number {
    return this.gpus.length;
  }

  /** Per-direction capacity (bytes/s) of every directed resource. */
  capacities(): Float64Array {
    const capacity = new Float64Array(2 * this.topology.links.length);
    this.topology.links.forEach((link, i) => {
      capacity[2 * i] = link.bandwidth_ab;
      capacity[2 * i + 1] = link.bandwidth_ba;
    });
    return capacity;
  }

  route(srcRank: number, dstRank: number): Route {
    const key = srcRank * this.gpus.length + dstRank;
    let route = this.cache.get(key);
    if (route === undefined) {
      route = this.findRoute(srcRank, dstRank);
      this.cache.set(key, route);
    }
    return route;
  }

  private findRoute(srcRank: number, dstRank: number): Route {
    const src = this.gpus[srcRank]!;
    const dst = this.gpus[dstRank]!;
    const nodes =
      this.explicit.get(`${src}:${dst}`) ?? this.pathInTree(src, dst) ?? this.fastestPath(src, dst, true);
    if (nodes === undefined) {
      throw new KvrInputError(
        'topology',
        `no path from ${this.topology.nodes[src]!.id} to ${this.topology.nodes[dst]!.id}`,
      );
    }
    const resources = this.pathResources(nodes);
    let latency = this.extraLatency;
    for (const resource of resources) latency += this.topology.links[resource >> 1]!.latency_s;
    return { resources, latency_s: latency, nodes };
  }

  /**
   * Adds bytes[dst] to every directed resource on the route from srcRank to each rank dst (0: no
   * transfer) and returns the largest latency of those routes (0 if none): what route(src, dst)
   * for every dst would give, without a Route per pair. Destinations served by src's
   * shortest-path tree share it: their bytes are summed per subtree, leaves first, so each tree
   * link is added to once (O(nodes) per source, not O(ranks x hops)). Explicit routes and paths
   * through other GPUs go through route(). Sums are the same up to the order of additions.
   */
  addRouteLoads(srcRank: number, bytes: Float64Array, load: Float64Array): number {
    const src = this.gpus[srcRank]!;
    const tree = this.treeOf(src);
    const routes = this.treeRoutesOf(src, tree);
    const subtree = new Float64Array(this.topology.nodes.length);
    let latency = 0;
    for (let dstRank = 0; dstRank < bytes.length; dstRank++) {
      const amount = bytes[dstRank]!;
      if (!(amount > 0) || dstRank === srcRank) continue;
      const dst = this.gpus[dstRank]!;
      if (!tree.done[dst] || (this.explicit.size > 0 && this.explicit.has(`${src}:${dst}`))) {
        const route = this.route(srcRank, dstRank);
        latency = Math.max(latency, route.latency_s);
        for (const resource of route.resources) load[resource]! += amount;
        continue;
      }
      latency = Math.max(latency, routes.latency[dst]!);
      subtree[dst]! += amount;
    }
    for (let i = tree.order.length - 1; i > 0; i--) {
      const node = tree.order[i]!;
      const amount = subtree[node]!;
      if (amount === 0) continue;
      load[routes.inResource[node]!]! += amount;
      subtree[tree.previous[node]!]! += amount;
    }
    return latency;
  }

  private treeOf(src: number): ShortestPathTree {
    let tree = this.trees.get(src);
    if (tree === undefined) {
      tree = this.shortestPathTree(src, -1, false);
      this.trees.set(src, tree);
    }
    return tree;
  }

  /** Latency (as findRoute sums it, source first) and entering resource of every node of src's tree. */
  private treeRoutesOf(src: number, tree: ShortestPathTree): { latency: Float64Array; inResource: Int32Array } {
    let routes = this.treeRoutes.get(src);
    if (routes === undefined) {
      const count = this.topology.nodes.length;
      const latency = new Float64Array(count);
      const inResource = new Int32Array(count).fill(-1);
      latency[src] = this.extraLatency;
      for (let i = 1; i < tree.order.length; i++) {
        const node = tree.order[i]!;
        const from = tree.previous[node]!;
        const resource = this.firstResource[from]!.get(node)!;
        inResource[node] = resource;
        latency[node] = latency[from]! + this.topology.links[resource >> 1]!.latency_s;
      }
      routes = { latency, inResource };
      this.treeRoutes.set(src, routes);
    }
    return routes;
  }

  /** Directed resources along a path of adjacent nodes. */
  pathResources(nodes: readonly number[]): Int32Array {
    const resources = new Int32Array(nodes.length - 1);
    for (let i = 1; i < nodes.length; i++) {
      const resource = this.firstResource[nodes[i - 1]!]?.get(nodes[i]!);
      if (resource === undefined) throw new Error(`path has no link ${nodes[i - 1]}->${nodes[i]}`);
      resources[i - 1] = resource;
    }
    return resources;
  }

  /** The topology's background flows, as the directed resources they occupy. */
  backgroundFlows(): { resources: Int32Array; rate: number | null }[] {
    return (this.topology.background ?? []).map((flow) => ({ resources: this.pathResources(flow.nodes), rate: flow.rate }));
  }

  /** Every directed resource whose link is noisy, with its noise and undisturbed capacity. */
  noisyResources(): { resource: number; noise: LinkNoise; capacity: number }[] {
    const noisy: { resource: number; noise: LinkNoise; capacity: number }[] = [];
    this.topology.links.forEach((link, i) => {
      if (link.noise === undefined) return;
      noisy.push({ resource: 2 * i, noise: link.noise, capacity: link.bandwidth_ab });
      noisy.push({ resource: 2 * i + 1, noise: link.noise, capacity: link.bandwidth_ba });
    });
    return noisy;
  }

  /**
   * The fastest path from src to dst that crosses no other GPU, read off the shortest-path tree of
   * src (one Dijkstra per source serves every destination: routes of all pairs cost p searches,
   * not p^2). Dijkstra settles every node of a path before its end, so the tree's path to dst is
   * the one a search stopping at dst finds.
   */
  private pathInTree(src: number, dst: number): number[] | undefined {
    const tree = this.treeOf(src);
    if (!tree.done[dst]) return undefined;
    const path = [dst];
    while (path[path.length - 1] !== src) path.push(tree.previous[path[path.length - 1]!]!);
    return path.reverse();
  }

  /**
   * Dijkstra over directed link costs; ties go to the lower node index, so routes are
   * deterministic. GPUs are endpoints, not routers: a path crosses another GPU only when no other
   * path exists (`throughGpus`), as on a ring of NVLinks without a switch.
   */
  private fastestPath(src: number, dst: number, throughGpus: boolean): number[] | undefined {
    const { previous, done } = this.shortestPathTree(src, dst, throughGpus);
    if (!done[dst]) return undefined;
    const path = [dst];
    while (path[path.length - 1] !== src) path.push(previous[path[path.length - 1]!]!);
    return path.reverse();
  }

  /** Dijkstra from src, stopping once `stopAt` is settled (-1: settle everything reachable). */
  private shortestPathTree(src: number, stopAt: number, throughGpus: boolean): ShortestPathTree {
    const count = this.topology.nodes.length;
    const distance = new Float64Array(count).fill(Infinity);
    const previous = new Int32Array(count).fill(-1);
    const done = new Uint8Array(count);
    const settled: number[] = [];
    const heap = new MinHeap();
    distance[src] = 0;
    heap.push(0, src);
    // Without throughGpus, other GPUs are leaves: they stay out of the heap (on a 1024-GPU leaf
    // switch that is most of its work) and are settled at the end. Their predecessor is the same:
    // every relaxation into a node comes from a node settled no later than it, and links cost > 0.
    const leaves: number[] = [];
    while (heap.size > 0) {
      const node = heap.pop();
      if (done[node]) continue;
      done[node] = 1;
      settled.push(node);
      if (node === stopAt) break;
      const { offset, to, latency, cost, isGpu } = this.edges;
      for (let e = offset[node]!; e < offset[node + 1]!; e++) {
        const next = to[e]!;
        const candidate = distance[node]! + latency[e]! + cost[e]!;
        if (candidate < distance[next]!) {
          const leaf = !throughGpus && next !== src && isGpu[next] === 1;
          if (leaf && distance[next] === Infinity) leaves.push(next);
          distance[next] = candidate;
          previous[next] = node;
          if (!leaf) heap.push(candidate, next);
        }
      }
    }
    // In node order (a scan, not a sort: on 1024 GPUs nearly every node is a leaf of every tree).
    const isLeaf = new Uint8Array(count);
    for (const leaf of leaves) isLeaf[leaf] = 1;
    for (let leaf = 0; leaf < count; leaf++) {
      if (!isLeaf[leaf]) continue;
      done[leaf] = 1;
      settled.push(leaf);
    }
    return { previous, done, order: Int32Array.from(settled) };
  }
}

/** Dijkstra's result: each settled node's predecessor, and the nodes in the order settled (src first). */
interface ShortestPathTree {
  previous: Int32Array;
  done: Uint8Array;
  order: Int32Array;
}

/** Binary heap of (key, node), ordered by key then node index. */
class MinHeap {
  private keys: number[] = [];
  private nodes: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  push(key: number, node: number): void {
    this.keys.push(key);
    this.nodes.push(node);
    let i = this.keys.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): number {
    const top = this.nodes[0]!;
    const lastKey = this.keys.pop()!;
    const lastNode = this.nodes.pop()!;
    if (this.keys.length > 0) {
      this.keys[0] = lastKey;
      this.nodes[0] = lastNode;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < this.keys.length && this.less(left, smallest)) smallest = left;
        if (right < this.keys.length && this.less(right, smallest)) smallest = right;
        if (smallest === i) break;
        this.swap(i, smallest);
        i = smallest;
      }
    }
    return top;
  }

  private less(i: number, j: number): boolean {
    return this.keys[i]! < this.keys[j]! || (this.keys[i] === this.keys[j] && this.nodes[i]! < this.nodes[j]!);
  }

  private swap(i: number, j: number): void {
    // Temporaries, not destructuring: a swap must not allocate (p Dijkstras at 1024 GPUs).
    const key = this.keys[i]!;
    this.keys[i] = this.keys[j]!;
    this.keys[j] = key;
    const node = this.nodes[i]!;
    this.nodes[i] = this.nodes[j]!;
    this.nodes[j] = node;
  }
}
