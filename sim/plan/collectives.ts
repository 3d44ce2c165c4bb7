import { PROTOCOL_WIRE, baseLatency, hopLatencyScale, type CollectiveProtocol } from './collective-tuner.js';
import type { CollectiveAlgorithm, CollectiveName, CollectiveOp, CollectiveStart } from './plan.js';
import type { PlanBuilder, TransferPayload } from './plan-builder.js';

/**
 * Collectives as point-to-point transfers (DESIGN §3), so contention and unequal links come out of
 * the link model rather than a closed form. Members are ranks in ring order; member m's block is
 * a token range.
 *
 * ring   all-gather: p-1 steps; in step s member m forwards the block of member m-s to m+1 (what it
 *        received in step s-1). reduce-scatter: p-1 steps; in step s member m adds its partial sum of
 *        block m-s-1 to what it received and forwards it to m+1; member m ends with block m
 *        reduced. all-reduce: reduce-scatter, then all-gather of the reduced blocks: 2(p-1) steps
 *        of one block each (the bandwidth-optimal ring, as NCCL's ring algorithm).
 * direct all-gather: every member sends its block to every other member at once. reduce-scatter:
 *        every member sends block q of its partial sums to member q at once. all-reduce: both.
 *
 * Start: `together` (as NCCL collectives start): every member's first transfers wait for every
 * member's ready ops; `per-member`: member m's wait only for its own (the all-gather half of an
 * all-reduce: a member's reduced block is ready when it is). A ring step then runs as soon as its
 * block has arrived. A member has the result when its incoming transfers are done: on a ring they
 * all come over one channel (FIFO), so the last one implies the others.
 *
 * The same schedule serves both forms of a collective in a plan: explicit transfer ops (tsp's
 * all-gather, via allGather below) and one `collective` op (tp, tp-sp, kvr-tp) that the engine
 * expands into exactly these transfers without building an object per transfer.
 */
export interface CollectiveSchedule {
  /** Transfers, in the order a plan lists them. */
  count: number;
  /** Member indices of each transfer's sender and receiver, its block and its step. */
  src: Int32Array;
  dst: Int32Array;
  /** Block carried (-1: the whole range the blocks tile, of which `part` is a piece). */
  block: Int32Array;
  /** Which of `parts` equal pieces of the block it carries (channel c of n carries piece c). */
  part: Int32Array;
  parts: Int32Array;
  /** Further pieces (block, part; same `parts`) a transfer carries (CSR): a multi-channel ring's merged step. */
  moreOffset: Int32Array;
  moreBlock: Int32Array;
  morePart: Int32Array;
  step: Int32Array;
  /** Ring channel of the transfer (0 for other algorithms): channels run side by side, each its own queue. */
  lane: Int32Array;
  /** 0: allgather, 1: reducescatter (the transfer's name). */
  kind: Uint8Array;
  /** 1 where sender and receiver are in different nodes (the hop crosses a NIC). */
  inter: Uint8Array;
  /** Waits for the collective's start: -1 no, -2 every member's ready ops, m >= 0 member m's. */
  start: Int32Array;
  /** Earlier transfers of the schedule each one waits for (CSR: depOffset[i]..depOffset[i+1]). */
  depOffset: Int32Array;
  depList: Int32Array;
  /** Per member, the transfers after which it has the result (CSR). */
  doneOffset: Int32Array;
  doneList: Int32Array;
}

export const TRANSFER_KIND_NAMES = ['allgather', 'reducescatter'] as const;

/**
 * How the members sit on the machine and how many channels a ring runs. Members are grouped in
 * nodes of `node_size` consecutive members (node_size = p: one node); a ring of n `channels` runs n
 * rings, each carrying 1/n of every block, and orders each node's members starting at local member
 * c in channel c, so that channel c enters a node through local member c and leaves it through local
 * member c-1: on a multi-node fabric with a NIC per GPU the n channels cross nodes through n
 * different NICs (NCCL arranges its rings this way: src/graph/search.cc searches one ring per
 * channel with a different NIC per channel, src/graph/connect.cc links them node to node).
 */
export interface CollectiveShape {
  channels: number;
  node_size: number;
}

/** Pipeline chunks of the hierarchical all-reduce (NCCL pipelines its steps in chunks likewise). */
export const HIERARCHICAL_CHUNKS = 4;

const schedules = new Map<string, CollectiveSchedule>();

/** The transfers of a collective over p members (memoised: it depends on nothing else). */
export function collectiveSchedule(
  name: CollectiveName,
  algorithm: CollectiveAlgorithm,
  p: number,
  start: CollectiveStart,
  shape: CollectiveShape = { channels: 1, node_size: p },
): CollectiveSchedule {
  const { channels, nodeSize } = scheduleShape(p, shape);
  const key = `${name}/${algorithm}/${p}/${start}/${channels}/${nodeSize}`;
  let schedule = schedules.get(key);
  if (schedule === undefined) {
    schedule = buildSchedule(name, algorithm, p, start, channels, nodeSize);
    schedules.set(key, schedule);
  }
  return schedule;
}

/** The channels and node size a schedule over p members runs with (a node size must divide p; channels at most a node's members). */
export function scheduleShape(p: number, shape: CollectiveShape): { channels: number; nodeSize: number } {
  const nodeSize = shape.node_size > 0 && p % shape.node_size === 0 ? shape.node_size : p;
  return { nodeSize, channels: Math.max(1, Math.min(shape.channels, nodeSize > 1 ? nodeSize : shape.channels)) };
}

/** The schedule of a collective op (its algorithm, members, start, channels and nodes). */
export function opSchedule(op: CollectiveOp): CollectiveSchedule {
  return collectiveSchedule(op.name, op.algorithm, op.ranks.length, op.start, { channels: op.channels ?? 1, node_size: op.node_size ?? op.ranks.length });
}

/**
 * Latency (s) of transfer k under a protocol, given its route's: the route's scaled by the
 * protocol's step latency relative to Simple's, plus the protocol's extra base latency on a
 * member's first step (sim/plan/collective-tuner.ts). Without a protocol, the route's.
 */
export function transferProtocolLatency(algorithm: CollectiveAlgorithm, protocol: CollectiveProtocol | undefined, schedule: CollectiveSchedule, k: number, route: number): number {
  if (protocol === undefined) return route;
  return route * hopLatencyScale(algorithm, protocol, schedule.inter[k] === 1) + transferBaseLatency(algorithm, protocol, schedule, k);
}

/** The base latency transfer k pays (a member's first step), 0 for the others or without a protocol. */
export function transferBaseLatency(algorithm: CollectiveAlgorithm, protocol: CollectiveProtocol | undefined, schedule: CollectiveSchedule, k: number): number {
  return protocol !== undefined && schedule.start[k] !== -1 ? baseLatency(algorithm, protocol) : 0;
}

/** Wire bytes per data byte of a protocol (1 without one). */
export function protocolWire(protocol: CollectiveProtocol | undefined): number {
  return protocol === undefined ? 1 : PROTOCOL_WIRE[protocol];
}

/** Token range [start, end) transfer k of a schedule carries, given the members' blocks. */
export function transferRange(blocks: readonly (readonly [number, number])[], schedule: CollectiveSchedule, k: number): [number, number] {
  const b = schedule.block[k]!;
  const lo = b < 0 ? blocks[0]![0] : blocks[b]![0];
  const hi = b < 0 ? blocks[blocks.length - 1]![1] : blocks[b]![1];
  const parts = schedule.parts[k]!;
  if (parts === 1) return [lo, hi];
  const part = schedule.part[k]!;
  const length = hi - lo;
  // A merged transfer names its first piece's range (its bytes count every piece).
  return [lo + Math.floor((part * length) / parts), lo + Math.floor(((part + 1) * length) / parts)];
}

function pieceRange(blocks: readonly (readonly [number, number])[], b: number, part: number, parts: number): [number, number] {
  const lo = b < 0 ? blocks[0]![0] : blocks[b]![0];
  const hi = b < 0 ? blocks[blocks.length - 1]![1] : blocks[b]![1];
  return [lo + Math.floor((part * (hi - lo)) / parts), lo + Math.floor(((part + 1) * (hi - lo)) / parts)];
}

const tokenCache = new WeakMap<CollectiveSchedule, Map<string, Float64Array>>();

/**
 * Tokens of every transfer of a schedule for these blocks (memoised per schedule and blocks: the
 * collectives of a plan mostly share both, and big plans have ~10^6 transfers).
 */
export function scheduleTokens(schedule: CollectiveSchedule, blocks: readonly (readonly [number, number])[]): Float64Array {
  let bySchedule = tokenCache.get(schedule);
  if (bySchedule === undefined) {
    bySchedule = new Map();
    tokenCache.set(schedule, bySchedule);
  }
  let key = '';
  for (const [a, b] of blocks) key += `${a},${b};`;
  let tokens = bySchedule.get(key);
  if (tokens === undefined) {
    // Float64: a block of a collective over bytes (kvr collective) can exceed 2^31.
    tokens = new Float64Array(schedule.count);
    for (let k = 0; k < schedule.count; k++) tokens[k] = transferTokens(blocks, schedule, k);
    if (bySchedule.size > 64) bySchedule.clear();
    bySchedule.set(key, tokens);
  }
  return tokens;
}

const latencyCache = new WeakMap<CollectiveSchedule, Map<string, { scale: Float64Array; base: Float64Array }>>();

/** Per transfer of a schedule under an algorithm and protocol: the route-latency scale and the base latency added (memoised). */
export function scheduleLatency(schedule: CollectiveSchedule, algorithm: CollectiveAlgorithm, protocol: CollectiveProtocol): { scale: Float64Array; base: Float64Array } {
  let bySchedule = latencyCache.get(schedule);
  if (bySchedule === undefined) {
    bySchedule = new Map();
    latencyCache.set(schedule, bySchedule);
  }
  const key = `${algorithm}/${protocol}`;
  let entry = bySchedule.get(key);
  if (entry === undefined) {
    const scale = new Float64Array(schedule.count);
    const base = new Float64Array(schedule.count);
    for (let k = 0; k < schedule.count; k++) {
      scale[k] = hopLatencyScale(algorithm, protocol, schedule.inter[k] === 1);
      base[k] = transferBaseLatency(algorithm, protocol, schedule, k);
    }
    entry = { scale, base };
    bySchedule.set(key, entry);
  }
  return entry;
}

/** Tokens transfer k carries (transferRange's length, without the array). */
export function transferTokens(blocks: readonly (readonly [number, number])[], schedule: CollectiveSchedule, k: number): number {
  let tokens = pieceTokens(blocks, schedule.block[k]!, schedule.part[k]!, schedule.parts[k]!);
  for (let j = schedule.moreOffset[k]!; j < schedule.moreOffset[k + 1]!; j++) tokens += pieceTokens(blocks, schedule.moreBlock[j]!, schedule.morePart[j]!, schedule.parts[k]!);
  return tokens;
}

function pieceTokens(blocks: readonly (readonly [number, number])[], b: number, part: number, parts: number): number {
  const lo = b < 0 ? blocks[0]![0] : blocks[b]![0];
  const hi = b < 0 ? blocks[blocks.length - 1]![1] : blocks[b]![1];
  if (parts === 1) return hi - lo;
  const length = hi - lo;
  return Math.floor(((part + 1) * length) / parts) - Math.floor((part * length) / parts);
}

interface Draft {
  src: number;
  dst: number;
  block: number;
  part: number;
  parts: number;
  more?: [number, number][];
  step: number;
  lane?: number;
  kind: number;
  start: number;
  deps: number[];
}

function buildSchedule(name: CollectiveName, algorithm: CollectiveAlgorithm, p: number, startMode: CollectiveStart, channels: number, nodeSize: number): CollectiveSchedule {
  const drafts: Draft[] = [];
  const startOf = (m: number): number => (startMode === 'together' ? -2 : m);
  // incoming[m]: transfers into member m, in order; per channel as well for the rings.
  const incoming: number[][] = Array.from({ length: p }, () => []);
  const doneOf: number[][] = Array.from({ length: p }, () => []);
  const add = (draft: Draft): number => {
    incoming[draft.dst]!.push(drafts.length);
    drafts.push(draft);
    return drafts.length - 1;
  };
  const nodes = p / nodeSize;
  if (algorithm === 'hierarchical' && name === 'allreduce' && nodes > 1 && nodeSize > 1) {
    hierarchical(p, nodeSize, startOf, add, doneOf);
  } else if (algorithm === 'tree' && name === 'allreduce' && nodes > 1) {
    doubleBinaryTree(p, nodeSize, channels, startOf, add, doneOf);
  } else if (algorithm === 'direct') {
    const gather = (kind: number, first: (m: number) => { start: number; deps: number[] }): void => {
      for (let k = 1; k < p; k++) {
        for (let m = 0; m < p; m++) {
          const f = first(m);
          add({ src: m, dst: (m + k) % p, block: m, part: 0, parts: 1, step: k - 1, kind, start: f.start, deps: f.deps });
        }
      }
    };
    if (name === 'allgather') gather(0, (m) => ({ start: startOf(m), deps: [] }));
    else {
      const scattered: number[][] = Array.from({ length: p }, () => []);
      for (let k = 1; k < p; k++) {
        for (let m = 0; m < p; m++) scattered[(m + k) % p]!.push(add({ src: m, dst: (m + k) % p, block: (m + k) % p, part: 0, parts: 1, step: k - 1, kind: 1, start: startOf(m), deps: [] }));
      }
      if (name === 'allreduce') gather(0, (m) => ({ start: -1, deps: scattered[m]! }));
    }
    // A member has the result when every transfer into it is done.
    incoming.forEach((ids, m) => doneOf[m]!.push(...ids));
  } else if (channels > 1 && nodes > 1) {
    mergedRings(name, p, nodeSize, channels, startOf, add, doneOf);
  } else {
    // Ring: one ring per channel (inside one node they share every pair but one).
    const orders = Array.from({ length: channels }, (_, c) => {
      const order: number[] = [];
      for (let k = 0; k < nodes; k++) for (let j = 0; j < nodeSize; j++) order.push(k * nodeSize + ((c + j) % nodeSize));
      return order;
    });
    // lastIn[c][m]: the latest transfer into member m on channel c.
    const lastIn = orders.map(() => new Int32Array(p).fill(-1));
    const ringPhase = (kind: number, reduce: boolean, first: (m: number, c: number) => { start: number; deps: number[] }, stepBase: number): void => {
      for (let step = 0; step + 1 < p; step++) {
        for (let c = 0; c < channels; c++) {
          const order = orders[c]!;
          const sent: Draft[] = [];
          for (let i = 0; i < p; i++) {
            const m = order[i]!;
            const f = step === 0 ? first(m, c) : { start: -1, deps: [lastIn[c]![m]!] };
            const block = order[(((i - step - (reduce ? 1 : 0)) % p) + p) % p]!;
            sent.push({ src: m, dst: order[(i + 1) % p]!, block, part: c, parts: channels, step: stepBase + step, lane: c, kind, start: f.start, deps: f.deps });
          }
          for (const draft of sent) lastIn[c]![draft.dst] = add(draft);
        }
      }
    };
    if (name === 'allgather') ringPhase(0, false, (m) => ({ start: startOf(m), deps: [] }), 0);
    else {
      ringPhase(1, true, (m) => ({ start: startOf(m), deps: [] }), 0);
      if (name === 'allreduce') {
        const reduced = lastIn.map((ids) => ids.slice());
        // Each member forwards its reduced block (on each channel) once it holds it.
        ringPhase(0, false, (m, c) => ({ start: -1, deps: [reduced[c]![m]!] }), 0);
      }
    }
    for (let m = 0; m < p; m++) for (let c = 0; c < channels; c++) doneOf[m]!.push(lastIn[c]![m]!);
  }
  const count = drafts.length;
  const moreOffset = new Int32Array(count + 1);
  drafts.forEach((d, i) => (moreOffset[i + 1] = moreOffset[i]! + (d.more?.length ?? 0)));
  const depOffset = new Int32Array(count + 1);
  drafts.forEach((d, i) => (depOffset[i + 1] = depOffset[i]! + d.deps.length));
  const doneOffset = new Int32Array(p + 1);
  doneOf.forEach((ids, m) => (doneOffset[m + 1] = doneOffset[m]! + ids.length));
  return {
    count,
    src: Int32Array.from(drafts, (d) => d.src),
    dst: Int32Array.from(drafts, (d) => d.dst),
    block: Int32Array.from(drafts, (d) => d.block),
    part: Int32Array.from(drafts, (d) => d.part),
    parts: Int32Array.from(drafts, (d) => d.parts),
    moreOffset,
    moreBlock: Int32Array.from(drafts.flatMap((d) => (d.more ?? []).map(([b]) => b))),
    morePart: Int32Array.from(drafts.flatMap((d) => (d.more ?? []).map(([, part]) => part))),
    step: Int32Array.from(drafts, (d) => d.step),
    lane: Int32Array.from(drafts, (d) => d.lane ?? 0),
    kind: Uint8Array.from(drafts, (d) => d.kind),
    inter: Uint8Array.from(drafts, (d) => (Math.floor(d.src / nodeSize) !== Math.floor(d.dst / nodeSize) ? 1 : 0)),
    start: Int32Array.from(drafts, (d) => d.start),
    depOffset,
    depList: Int32Array.from(drafts.flatMap((d) => d.deps)),
    doneOffset,
    doneList: Int32Array.from(doneOf.flat()),
  };
}

/**
 * A ring over n channels across nodes of g members, with the pieces that share a pair merged.
 * Channel c orders node k as local members c, c+1, ..., c-1 and leaves it from local c-1 to local
 * c of node k+1 (through local c-1's NIC out and local c's NIC in); with n < g, read c*(g/n) for c. So member (k, y) always sends
 * to local y+1: inside its node on every channel but y+1, and to node k+1 on channel y+1. Per
 * step it sends one transfer to (k, y+1) carrying the pieces of the n-1 channels that stay in the
 * node, and one to (k+1, y+1) carrying channel y+1's piece: 2p transfers a step instead of n*p,
 * with the same bytes on every link (the channels of a pair would queue behind each other in
 * the link model anyway). Coupling: a member's step waits for both of its previous step's
 * receives, where separate rings would let each channel run ahead on its own.
 */
/**
 * Where members sit on the merged rings over nodes of g members with n channels: the member at ring
 * position i of channel c, member m's position in channel c, and the channel that leaves a node
 * from local member y (n: none, when y is no channel's last member). Channel c starts each node at
 * local member c*stride: with fewer channels than members (or NICs shared by stride GPUs) the
 * crossings still leave through n different NICs.
 */
export function mergedRingLayout(p: number, g: number, n: number): { at(c: number, i: number): number; position(c: number, m: number): number; crossChannel(y: number): number } {
  const mod = (a: number, b: number): number => ((a % b) + b) % b;
  const stride = g % n === 0 ? g / n : 1;
  return {
    at: (c, i) => {
      const pos = mod(i, p);
      return Math.floor(pos / g) * g + mod(c * stride + (pos % g), g);
    },
    position: (c, m) => Math.floor(m / g) * g + mod((m % g) - c * stride, g),
    crossChannel: (y) => (mod(y + 1, stride) === 0 ? mod((y + 1) / stride, n) : n),
  };
}

function mergedRings(
  name: CollectiveName,
  p: number,
  g: number,
  n: number,
  startOf: (m: number) => number,
  add: (draft: Draft) => number,
  doneOf: number[][],
): void {
  const nodes = p / g;
  const mod = (a: number, b: number): number => ((a % b) + b) % b;
  const { at, position, crossChannel: leavingChannel } = mergedRingLayout(p, g, n);
  const lastIntra = new Int32Array(p).fill(-1);
  const lastCross = new Int32Array(p).fill(-1);
  const phase = (kind: number, reduce: boolean, first: (m: number) => { start: number; deps: number[] }, stepBase: number): void => {
    for (let s = 0; s + 1 < p; s++) {
      const sent: Draft[] = [];
      for (let m = 0; m < p; m++) {
        const k = Math.floor(m / g);
        const y = m % g;
        const crossChannel = leavingChannel(y);
        const blockOf = (c: number): number => at(c, position(c, m) - s - (reduce ? 1 : 0));
        const intraPieces: [number, number][] = [];
        for (let c = 0; c < n; c++) if (c !== crossChannel) intraPieces.push([blockOf(c), c]);
        const f = s === 0 ? first(m) : undefined;
        const depsBoth = [lastIntra[m]!, lastCross[m]!].filter((d) => d >= 0);
        if (intraPieces.length > 0) {
          const [b, c] = intraPieces[0]!;
          sent.push({ src: m, dst: k * g + mod(y + 1, g), block: b, part: c, parts: n, more: intraPieces.slice(1), step: stepBase + s, kind, start: f?.start ?? -1, deps: f?.deps ?? depsBoth });
        }
        if (crossChannel < n) {
          // Channel y+1's previous piece came in from (k, y-1) unless y+1 = y's own channel.
          const deps = f?.deps ?? [lastIntra[m]!].filter((d) => d >= 0);
          sent.push({ src: m, dst: mod(k + 1, nodes) * g + mod(y + 1, g), block: blockOf(crossChannel), part: crossChannel, parts: n, step: stepBase + s, kind, start: f?.start ?? -1, deps: deps.length > 0 ? deps : depsBoth });
        }
      }
      for (const d of sent) {
        const id = add(d);
        if (Math.floor(d.src / g) === Math.floor(d.dst / g)) lastIntra[d.dst] = id;
        else lastCross[d.dst] = id;
      }
    }
  };
  const both = (m: number): number[] => [lastIntra[m]!, lastCross[m]!].filter((d) => d >= 0);
  if (name === 'allgather') phase(0, false, (m) => ({ start: startOf(m), deps: [] }), 0);
  else {
    phase(1, true, (m) => ({ start: startOf(m), deps: [] }), 0);
    if (name === 'allreduce') {
      const reduced = Array.from({ length: p }, (_, m) => both(m));
      phase(0, false, (m) => ({ start: -1, deps: reduced[m]! }), 0);
    }
  }
  for (let m = 0; m < p; m++) doneOf[m]!.push(...both(m));
}

/**
 * Tree all-reduce across nodes as NCCL runs it (src/graph/trees.cc: ncclGetDtree, a double binary
 * tree; src/graph/connect.cc: a chain inside each node): n channels, each carrying 1/n of the data
 * in TREE_CHUNKS pipelined chunks. Channel c's node leader is local member c*(g/n) (its NIC);
 * inside a node the members form a chain from the leader. A chunk is reduced up the chain to the
 * leader, up the tree of leaders to the root, broadcast down the tree and down each chain. Even
 * channels use the tree of node indices with parent (i-1)/2 rooted at node 0; odd channels its
 * mirror (node i plays N-1-i), so a node that is a leaf in one is interior in the other.
 */
export const TREE_CHUNKS = 4;

function doubleBinaryTree(
  p: number,
  g: number,
  n: number,
  startOf: (m: number) => number,
  add: (draft: Draft) => number,
  doneOf: number[][],
): void {
  const nodes = p / g;
  const stride = g % n === 0 ? g / n : 1;
  const Q = TREE_CHUNKS;
  const parts = n * Q;
  const mod = (a: number, b: number): number => ((a % b) + b) % b;
  for (let q = 0; q < Q; q++) {
    for (let c = 0; c < n; c++) {
      const part = c * Q + q;
      const leaderLocal = (c * stride) % g;
      // chain[k][j]: member at chain position j of node k (j = 0: the leader).
      const chain = (k: number, j: number): number => k * g + mod(leaderLocal + j, g);
      // Tree over nodes; mirrored on odd channels.
      const label = (k: number): number => (c % 2 === 0 ? k : nodes - 1 - k);
      const node = (i: number): number => (c % 2 === 0 ? i : nodes - 1 - i);
      const parentOf = (k: number): number => (label(k) === 0 ? -1 : node(Math.floor((label(k) - 1) / 2)));
      const childrenOf = (k: number): number[] => [2 * label(k) + 1, 2 * label(k) + 2].filter((i) => i < nodes).map(node);
      const lane = 2 * c;
      const draft = (src: number, dst: number, kind: number, step: number, deps: number[], first: boolean, down: boolean): Draft => ({
        src, dst, block: -1, part, parts, step, lane: lane + (down ? 1 : 0), kind, start: first ? startOf(src) : -1, deps: first ? [] : deps,
      });
      // Reduce up each chain: position j sends to j-1 once it holds its own partial sum.
      const chainIn = new Int32Array(p).fill(-1);
      for (let j = g - 1; j >= 1; j--) {
        for (let k = 0; k < nodes; k++) {
          const m = chain(k, j);
          const id = add(draft(m, chain(k, j - 1), 1, g - 1 - j, [chainIn[m]!], j === g - 1, false));
          chainIn[chain(k, j - 1)] = id;
        }
      }
      // Reduce up the tree of leaders, deepest labels first (children before parents).
      const treeIn: number[][] = Array.from({ length: nodes }, () => []);
      const order = Array.from({ length: nodes }, (_, i) => node(nodes - 1 - i));
      const first = (k: number): boolean => g === 1 && childrenOf(k).length === 0;
      for (const k of order) {
        const parent = parentOf(k);
        if (parent < 0) continue;
        const m = chain(k, 0);
        const deps = [...(g > 1 ? [chainIn[m]!] : []), ...treeIn[k]!];
        treeIn[parent]!.push(add(draft(m, chain(parent, 0), 1, g - 1, deps, first(k) && deps.length === 0, false)));
      }
      // Broadcast down the tree: the root once it holds the sum, then each leader once it got it.
      const down = new Int32Array(nodes).fill(-1);
      const rootDeps = (k: number): number[] => [...(g > 1 ? [chainIn[chain(k, 0)]!] : []), ...treeIn[k]!];
      for (const k of [...order].reverse()) {
        const deps = parentOf(k) < 0 ? rootDeps(k) : [down[k]!];
        for (const child of childrenOf(k)) down[child] = add(draft(chain(k, 0), chain(child, 0), 0, g, deps, false, true));
      }
      // Broadcast down each chain.
      for (let k = 0; k < nodes; k++) {
        const leader = chain(k, 0);
        const leaderDone = parentOf(k) < 0 ? rootDeps(k) : [down[k]!];
        doneOf[leader]!.push(...leaderDone);
        let previous = leaderDone;
        for (let j = 1; j < g; j++) {
          const id = add(draft(chain(k, j - 1), chain(k, j), 0, g + j, previous, false, true));
          doneOf[chain(k, j)]!.push(id);
          previous = [id];
        }
      }
    }
  }
}

/**
 * Hierarchical all-reduce over nodes of g members (the bandwidth shape of NCCL's NVLS-tree and
 * CollNet-chain: each NIC carries 2(N-1)/N of 1/g of the data, where a flat ring carries 2(p-1)/p
 * of 1/g per channel). The whole range is cut into HIERARCHICAL_CHUNKS chunks, pipelined; each chunk
 * q goes through: (1) a ring reduce-scatter inside each node, local member x ending with column x of
 * the chunk summed over the node; (2) a ring all-reduce of column x across the N nodes between the
 * members of local index x (one rail: each crossing uses local member x's own NIC); (3) a ring
 * all-gather of the columns inside each node.
 */
function hierarchical(
  p: number,
  g: number,
  startOf: (m: number) => number,
  add: (draft: Draft) => number,
  doneOf: number[][],
): void {
  const nodes = p / g;
  const Q = HIERARCHICAL_CHUNKS;
  const columnParts = Q * g;
  const pieceParts = Q * g * nodes;
  const member = (k: number, x: number): number => k * g + x;
  let step = 0;
  for (let q = 0; q < Q; q++) {
    // (1) intra-node reduce-scatter of the chunk's g columns.
    const lastIntra: number[] = new Array(p).fill(-1);
    for (let s = 0; s + 1 < g; s++) {
      const sent: Draft[] = [];
      for (let k = 0; k < nodes; k++) {
        for (let x = 0; x < g; x++) {
          const m = member(k, x);
          const column = (((x - s - 1) % g) + g) % g;
          sent.push({ src: m, dst: member(k, (x + 1) % g), block: -1, part: q * g + column, parts: columnParts, step: step + s, kind: 1, start: s === 0 ? startOf(m) : -1, deps: s === 0 ? [] : [lastIntra[m]!] });
        }
      }
      for (const d of sent) lastIntra[d.dst] = add(d);
    }
    // (2) inter-node ring all-reduce of column x (N pieces) among the members of local index x.
    const lastInter: number[] = new Array(p).fill(-1);
    for (let phase = 0; phase < 2; phase++) {
      const reduced = lastInter.slice();
      for (let s = 0; s + 1 < nodes; s++) {
        const sent: Draft[] = [];
        for (let x = 0; x < g; x++) {
          for (let k = 0; k < nodes; k++) {
            const m = member(k, x);
            const piece = phase === 0 ? (((k - s - 1) % nodes) + nodes) % nodes : (((k - s) % nodes) + nodes) % nodes;
            const deps = s > 0 ? [lastInter[m]!] : phase === 0 ? [lastIntra[m]!] : [reduced[m]!];
            sent.push({ src: m, dst: member((k + 1) % nodes, x), block: -1, part: (q * g + x) * nodes + piece, parts: pieceParts, step: step + g - 1 + phase * (nodes - 1) + s, kind: phase === 0 ? 1 : 0, start: -1, deps });
          }
        }
        for (const d of sent) lastInter[d.dst] = add(d);
      }
    }
    // (3) intra-node all-gather of the columns, on its own queue (lane 1): chunk q+1's
    // reduce-scatter need not wait behind chunk q's all-gather, which waits for the network.
    const lastGather: number[] = new Array(p).fill(-1);
    for (let s = 0; s + 1 < g; s++) {
      const sent: Draft[] = [];
      for (let k = 0; k < nodes; k++) {
        for (let x = 0; x < g; x++) {
          const m = member(k, x);
          const column = (((x - s) % g) + g) % g;
          sent.push({ src: m, dst: member(k, (x + 1) % g), block: -1, part: q * g + column, parts: columnParts, step: step + g - 1 + 2 * (nodes - 1) + s, lane: 1, kind: 0, start: -1, deps: [s === 0 ? lastInter[m]! : lastGather[m]!] });
        }
      }
      for (const d of sent) lastGather[d.dst] = add(d);
    }
    for (let m = 0; m < p; m++) doneOf[m]!.push(lastInter[m]!, lastGather[m]!);
    step += 2 * (g - 1) + 2 * (nodes - 1);
  }
}

/** A collective written out as transfer ops into a plan. */
export interface CollectiveRequest {
  builder: PlanBuilder;
  /** Ranks of the members, in ring order. */
  ranks: readonly number[];
  /** Token range [start, end) of each member's block. */
  blocks: readonly (readonly [number, number])[];
  layer: number;
  /** Ops each member must have finished before the collective starts. */
  ready: (member: number) => number[];
  algorithm: CollectiveAlgorithm;
  payload?: TransferPayload;
  /** Each member starts when its own `ready` ops are done, not every member's. */
  perMember?: boolean;
  /** Channels and nodes (absent: one ring, one node) and the NCCL protocol (absent: none). */
  shape?: CollectiveShape;
  protocol?: CollectiveProtocol;
}

/**
 * Writes a collective out as transfer ops (its schedule, in order) and returns, per member, the
 * ids of the transfers into it. tsp's all-gather is built this way.
 */
export function writeCollective(name: CollectiveName, request: CollectiveRequest): number[][] {
  const { builder, ranks, blocks, layer, algorithm, payload } = request;
  const p = ranks.length;
  const schedule = collectiveSchedule(name, algorithm, p, request.perMember === true ? 'per-member' : 'together', request.shape);
  const protocol = request.protocol;
  const tokens = scheduleTokens(schedule, blocks);
  const perToken = builder.bytesPerToken(payload ?? {});
  const latencies = protocol === undefined ? undefined : scheduleLatency(schedule, algorithm, protocol);
  const all = request.perMember === true ? [] : allReady(request);
  const ready = ranks.map((_, m) => (request.perMember === true ? request.ready(m) : all));
  const ids: number[] = new Array(schedule.count);
  const incoming: number[][] = ranks.map(() => []);
  for (let i = 0; i < schedule.count; i++) {
    const start = schedule.start[i]!;
    const first = schedule.depOffset[i]!;
    const last = schedule.depOffset[i + 1]!;
    // The first step of a together start shares one deps array (as the plan always had it). A
    // ring step waits for one transfer: a one-element literal, as an array grown by push from
    // empty reserves 16 slots, and big plans hold ~10^5 of these.
    let deps: number[];
    if (start === -1 && last - first === 1) {
      deps = [ids[schedule.depList[first]!]!];
    } else if (start === -1 && last - first === 2) {
      // A merged multi-channel ring step waits for both of its member's receives.
      deps = [ids[schedule.depList[first]!]!, ids[schedule.depList[first + 1]!]!];
    } else {
      deps = start === -1 ? [] : start === -2 ? all : ready[start]!.slice();
      if (last > first && start === -2) deps = all.slice();
      for (let k = first; k < last; k++) deps.push(ids[schedule.depList[k]!]!);
    }
    const block = transferRange(blocks, schedule, i);
    const dst = schedule.dst[i]!;
    const id = builder.transfer(TRANSFER_KIND_NAMES[schedule.kind[i]!]!, ranks[schedule.src[i]!]!, ranks[dst]!, layer, block[0], block[1], deps, schedule.step[i]!, payload);
    const more = schedule.moreOffset[i + 1]! - schedule.moreOffset[i]!;
    if (more > 0) {
      // A merged ring step (pieces of several channels): its token range spans the pieces, its
      // bytes are theirs (no per-piece ranges: tsp across nodes writes ~10^5 of these a plan).
      let lo = block[0];
      let hi = block[1];
      for (let j = schedule.moreOffset[i]!; j < schedule.moreOffset[i + 1]!; j++) {
        const piece = pieceRange(blocks, schedule.moreBlock[j]!, schedule.morePart[j]!, schedule.parts[i]!);
        if (piece[0] < lo) lo = piece[0];
        if (piece[1] > hi) hi = piece[1];
      }
      builder.table.reshapeTransfer(id, lo, hi, tokens[i]! * perToken);
    }
    if (latencies !== undefined) {
      builder.table.setProtocol(id, protocol!, latencies.scale[i]!, latencies.base[i]! > 0 ? latencies.base[i]! : undefined);
    }
    ids[i] = id;
    incoming[dst]!.push(id);
  }
  return incoming;
}

/** Every member ends with every block. */
export function allGather(request: CollectiveRequest): number[][] {
  return writeCollective('allgather', request);
}

/** Member m ends with block m summed over all members. */
export function reduceScatter(request: CollectiveRequest): number[][] {
  return writeCollective('reducescatter', request);
}

/** Every member ends with every block summed over all members: reduce-scatter, then all-gather. */
export function allReduce(request: CollectiveRequest): number[][] {
  return writeCollective('allreduce', request);
}

/** Union of every member's ready ops, in member order, without repeats. */
function allReady(request: CollectiveRequest): number[] {
  const seen = new Set<number>();
  const all: number[] = [];
  request.ranks.forEach((_, m) => {
    for (const id of request.ready(m)) {
      if (!seen.has(id)) {
        seen.add(id);
        all.push(id);
      }
    }
  });
  return all;
}
