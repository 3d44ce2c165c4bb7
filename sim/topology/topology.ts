import { KvrInputError, describeValue } from '../errors.js';
import {
  checkEnum,
  checkString,
  expectArray,
  expectObject,
  rejectUnknownKeys,
  requireKey,
} from '../input/fields.js';
import { parseQuantity } from '../units/quantity.js';

export const NODE_KINDS = ['gpu', 'switch', 'nic', 'host'] as const;
export type NodeKind = (typeof NODE_KINDS)[number];

export interface TopologyNode {
  id: string;
  kind: NodeKind;
}

/**
 * Seeded bandwidth noise of a link (the paper's noisy network): every `period_s`, each direction's
 * capacity becomes its bandwidth times a fraction drawn uniformly from [min_fraction, 1].
 */
export interface LinkNoise {
  period_s: number;
  min_fraction: number;
  seed: number;
}

/** A full-duplex link; each direction has its own bandwidth (bytes/s). */
export interface TopologyLink {
  a: number;
  b: number;
  bandwidth_ab: number;
  bandwidth_ba: number;
  latency_s: number;
  noise?: LinkNoise;
}

/**
 * Competing traffic that lasts the whole prefill along a path of nodes: it shares every link of
 * the path max-min fairly with the plan's transfers, taking at most `rate` bytes/s (null: as much
 * as fairness gives it).
 */
export interface BackgroundFlow {
  nodes: number[];
  rate: number | null;
}

/** A route fixed by the user: node indices from the source GPU to the destination GPU. */
export interface ExplicitRoute {
  nodes: number[];
}

/**
 * A graph of GPUs, switches, NICs and hosts. Rank r runs on the r-th GPU node in `nodes` order.
 * Transfers without an explicit route take the fastest path (topology/routing.ts).
 */
export interface Topology {
  name: string;
  nodes: TopologyNode[];
  links: TopologyLink[];
  routes: ExplicitRoute[];
  background?: BackgroundFlow[];
}

/** Node index of each GPU, in rank order. */
export function gpuNodes(topology: Topology): number[] {
  const gpus: number[] = [];
  topology.nodes.forEach((node, index) => {
    if (node.kind === 'gpu') gpus.push(index);
  });
  return gpus;
}

const TOPOLOGY_KEYS = ['schema', 'name', 'description', 'nodes', 'links', 'routes', 'background'] as const;
const LINK_KEYS = ['a', 'b', 'bandwidth', 'bandwidth_ab', 'bandwidth_ba', 'latency', 'noise'] as const;
const MAX_NODES = 1 << 16;

/**
 * Reads a topology file:
 *   { "name": "...", "nodes": [{"id": "gpu0", "kind": "gpu"}, ...],
 *     "links": [{"a": "gpu0", "b": "sw", "bandwidth": "300 GB/s", "latency": "1 us"}, ...],
 *     "routes": [{"path": ["gpu0", "sw", "gpu1"]}],
 *     "background": [{"path": ["gpu1", "sw"], "rate": "100 GB/s"}] }
 * A link gives "bandwidth" for both directions or "bandwidth_ab" and "bandwidth_ba" for each, and
 * optionally "noise": {"period": "1 ms", "min_fraction": 0.5, "seed": 7}. A background flow without
 * "rate" takes whatever max-min fairness leaves it.
 */
export function topologyFromJson(value: unknown, field = 'topology'): Topology {
  const object = expectObject(value, field);
  rejectUnknownKeys(object, TOPOLOGY_KEYS, field);
  if (object.schema !== undefined && object.schema !== 'kvr-topology@1') {
    throw new KvrInputError(`${field}.schema`, `expected "kvr-topology@1" (got ${describeValue(object.schema)})`);
  }
  const name = object.name === undefined ? 'custom' : checkString(object.name, `${field}.name`);
  const rawNodes = expectArray(requireKey(object, 'nodes', field), `${field}.nodes`);
  if (rawNodes.length === 0 || rawNodes.length > MAX_NODES) {
    throw new KvrInputError(`${field}.nodes`, `expected 1..${MAX_NODES} nodes (got ${rawNodes.length})`);
  }
  const index = new Map<string, number>();
  const nodes = rawNodes.map((raw, i): TopologyNode => {
    const where = `${field}.nodes[${i}]`;
    const node = expectObject(raw, where);
    rejectUnknownKeys(node, ['id', 'kind'], where);
    const id = checkString(requireKey(node, 'id', where), `${where}.id`);
    if (index.has(id)) throw new KvrInputError(`${where}.id`, `duplicate node id ${describeValue(id)}`);
    index.set(id, i);
    return { id, kind: checkEnum(requireKey(node, 'kind', where), NODE_KINDS, `${where}.kind`) };
  });
  const nodeRef = (raw: unknown, where: string): number => {
    const id = checkString(raw, where);
    const found = index.get(id);
    if (found === undefined) throw new KvrInputError(where, `unknown node ${describeValue(id)}`);
    return found;
  };
  const pairs = new Set<string>();
  const rawLinks = expectArray(requireKey(object, 'links', field), `${field}.links`);
  const links = rawLinks.map((raw, i): TopologyLink => {
    const where = `${field}.links[${i}]`;
    const link = expectObject(raw, where);
    rejectUnknownKeys(link, LINK_KEYS, where);
    const a = nodeRef(requireKey(link, 'a', where), `${where}.a`);
    const b = nodeRef(requireKey(link, 'b', where), `${where}.b`);
    if (a === b) throw new KvrInputError(where, 'a link must join two different nodes');
    const pair = a < b ? `${a}:${b}` : `${b}:${a}`;
    if (pairs.has(pair)) throw new KvrInputError(where, `duplicate link between ${nodes[a]!.id} and ${nodes[b]!.id}`);
    pairs.add(pair);
    const rate = (key: string): number => {
      const bandwidth = parseQuantity(link[key], 'bandwidth', `${where}.${key}`, { bareNumbers: true });
      if (bandwidth <= 0) throw new KvrInputError(`${where}.${key}`, `must be > 0 (got ${describeValue(link[key])})`);
      return bandwidth;
    };
    let ab: number;
    let ba: number;
    if (link.bandwidth !== undefined) {
      if (link.bandwidth_ab !== undefined || link.bandwidth_ba !== undefined) {
        throw new KvrInputError(where, 'give either bandwidth or bandwidth_ab + bandwidth_ba, not both');
      }
      ab = ba = rate('bandwidth');
    } else {
      if (link.bandwidth_ab === undefined || link.bandwidth_ba === undefined) {
        throw new KvrInputError(`${where}.bandwidth`, 'is required (or both bandwidth_ab and bandwidth_ba)');
      }
      ab = rate('bandwidth_ab');
      ba = rate('bandwidth_ba');
    }
    const latency =
      link.latency === undefined ? 0 : parseQuantity(link.latency, 'time', `${where}.latency`, { bareNumbers: true });
    const parsed: TopologyLink = { a, b, bandwidth_ab: ab, bandwidth_ba: ba, latency_s: latency };
    if (link.noise !== undefined) parsed.noise = noiseFromJson(link.noise, `${where}.noise`);
    return parsed;
  });
  const rawRoutes = object.routes === undefined ? [] : expectArray(object.routes, `${field}.routes`);
  const routes = rawRoutes.map((raw, i): ExplicitRoute => {
    const where = `${field}.routes[${i}]`;
    const route = expectObject(raw, where);
    rejectUnknownKeys(route, ['path'], where);
    const path = expectArray(requireKey(route, 'path', where), `${where}.path`).map((id, j) =>
      nodeRef(id, `${where}.path[${j}]`),
    );
    return { nodes: path };
  });
  const rawBackground = object.background === undefined ? [] : expectArray(object.background, `${field}.background`);
  const background = rawBackground.map((raw, i): BackgroundFlow => {
    const where = `${field}.background[${i}]`;
    const flow = expectObject(raw, where);
    rejectUnknownKeys(flow, ['path', 'rate'], where);
    const path = expectArray(requireKey(flow, 'path', where), `${where}.path`).map((id, j) => nodeRef(id, `${where}.path[${j}]`));
    let rate: number | null = null;
    if (flow.rate !== undefined) {
      rate = parseQuantity(flow.rate, 'bandwidth', `${where}.rate`, { bareNumbers: true });
      if (rate <= 0) throw new KvrInputError(`${where}.rate`, 'must be > 0 (omit it for traffic that takes its fair share)');
    }
    return { nodes: path, rate };
  });
  const topology: Topology = { name, nodes, links, routes, background };
  validateTopology(topology, field);
  return topology;
}

function noiseFromJson(value: unknown, where: string): LinkNoise {
  const noise = expectObject(value, where);
  rejectUnknownKeys(noise, ['period', 'min_fraction', 'seed'], where);
  const period = parseQuantity(requireKey(noise, 'period', where), 'time', `${where}.period`, { bareNumbers: true });
  if (period <= 0) throw new KvrInputError(`${where}.period`, 'must be > 0');
  const fraction = requireKey(noise, 'min_fraction', where);
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction <= 1)) {
    throw new KvrInputError(`${where}.min_fraction`, `expected a number in (0, 1] (got ${describeValue(fraction)})`);
  }
  const seed = requireKey(noise, 'seed', where);
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new KvrInputError(`${where}.seed`, `expected an integer in 0..4294967295 (got ${describeValue(seed)})`);
  }
  return { period_s: period, min_fraction: fraction, seed };
}

/** Checks what any topology, preset or file, must satisfy. */
export function validateTopology(topology: Topology, field = 'topology'): void {
  if (gpuNodes(topology).length === 0) throw new KvrInputError(`${field}.nodes`, 'needs at least one node of kind "gpu"');
  const linked = new Set(topology.links.map((l) => `${Math.min(l.a, l.b)}:${Math.max(l.a, l.b)}`));
  const checkPath = (nodes: number[], where: string): void => {
    if (nodes.length < 2) throw new KvrInputError(where, 'needs at least two nodes');
    if (new Set(nodes).size !== nodes.length) throw new KvrInputError(where, 'must not visit a node twice');
    for (let j = 1; j < nodes.length; j++) {
      const [x, y] = [nodes[j - 1]!, nodes[j]!];
      if (!linked.has(`${Math.min(x, y)}:${Math.max(x, y)}`)) {
        throw new KvrInputError(where, `no link between ${topology.nodes[x]!.id} and ${topology.nodes[y]!.id}`);
      }
    }
  };
  topology.routes.forEach((route, i) => {
    const where = `${field}.routes[${i}].path`;
    const nodes = route.nodes;
    if (nodes.length >= 2 && (topology.nodes[nodes[0]!]!.kind !== 'gpu' || topology.nodes[nodes[nodes.length - 1]!]!.kind !== 'gpu')) {
      throw new KvrInputError(where, 'must start and end at a gpu node');
    }
    checkPath(nodes, where);
  });
  (topology.background ?? []).forEach((flow, i) => checkPath(flow.nodes, `${field}.background[${i}].path`));
}
