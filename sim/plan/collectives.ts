import type { CollectiveAlgorithm, CollectiveName, CollectiveStart } from './plan.js';
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
  block: Int32Array;
  step: Int32Array;
  /** 0: allgather, 1: reducescatter (the transfer's name). */
  kind: Uint8Array;
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

const schedules = new Map<string, CollectiveSchedule>();

/** The transfers of a collective over p members (memoised: it depends on nothing else). */
export function collectiveSchedule(name: CollectiveName, algorithm: CollectiveAlgorithm, p: number, start: CollectiveStart): CollectiveSchedule {
  const key = `${name}/${algorithm}/${p}/${start}`;
  let schedule = schedules.get(key);
  if (schedule === undefined) {
    schedule = buildSchedule(name, algorithm, p, start);
    schedules.set(key, schedule);
  }
  return schedule;
}

interface Draft {
  src: number;
  dst: number;
  block: number;
  step: number;
  kind: number;
  start: number;
  deps: number[];
}

function buildSchedule(name: CollectiveName, algorithm: CollectiveAlgorithm, p: number, startMode: CollectiveStart): CollectiveSchedule {
  const drafts: Draft[] = [];
  const startOf = (m: number): number => (startMode === 'together' ? -2 : m);
  // incoming[m]: transfers into member m, in order.
  const incoming: number[][] = Array.from({ length: p }, () => []);
  const add = (draft: Draft): void => {
    incoming[draft.dst]!.push(drafts.length);
    drafts.push(draft);
  };
  const done = (ids: number[]): number[] => (algorithm === 'ring' ? ids.slice(-1) : ids);
  const gather = (kind: number, first: (m: number) => { start: number; deps: number[] }): void => {
    const before = incoming.map((ids) => ids.length);
    if (algorithm === 'direct') {
      for (let k = 1; k < p; k++) {
        for (let m = 0; m < p; m++) {
          const f = first(m);
          add({ src: m, dst: (m + k) % p, block: m, step: k - 1, kind, start: f.start, deps: f.deps });
        }
      }
      return;
    }
    for (let step = 0; step + 1 < p; step++) {
      const sent: Draft[] = [];
      for (let m = 0; m < p; m++) {
        const f = step === 0 ? first(m) : { start: -1, deps: [incoming[m]![before[m]! + step - 1]!] };
        sent.push({ src: m, dst: (m + 1) % p, block: (m - step + p) % p, step, kind, start: f.start, deps: f.deps });
      }
      for (const draft of sent) add(draft);
    }
  };
  const scatter = (): void => {
    if (algorithm === 'direct') {
      for (let k = 1; k < p; k++) {
        for (let m = 0; m < p; m++) add({ src: m, dst: (m + k) % p, block: (m + k) % p, step: k - 1, kind: 1, start: startOf(m), deps: [] });
      }
      return;
    }
    for (let step = 0; step + 1 < p; step++) {
      const sent: Draft[] = [];
      for (let m = 0; m < p; m++) {
        const deps = step === 0 ? [] : [incoming[m]![step - 1]!];
        sent.push({ src: m, dst: (m + 1) % p, block: (((m - step - 1) % p) + p) % p, step, kind: 1, start: step === 0 ? startOf(m) : -1, deps });
      }
      for (const draft of sent) add(draft);
    }
  };
  if (name === 'allgather') {
    gather(0, (m) => ({ start: startOf(m), deps: [] }));
  } else if (name === 'reducescatter') {
    scatter();
  } else {
    scatter();
    const scattered = incoming.map((ids) => ids.slice());
    // Each member forwards its reduced block once it holds it.
    gather(0, (m) => ({ start: -1, deps: done(scattered[m]!) }));
  }
  const count = drafts.length;
  const depOffset = new Int32Array(count + 1);
  drafts.forEach((d, i) => (depOffset[i + 1] = depOffset[i]! + d.deps.length));
  const doneLists = incoming.map((ids) => done(ids));
  const doneOffset = new Int32Array(p + 1);
  doneLists.forEach((ids, m) => (doneOffset[m + 1] = doneOffset[m]! + ids.length));
  return {
    count,
    src: Int32Array.from(drafts, (d) => d.src),
    dst: Int32Array.from(drafts, (d) => d.dst),
    block: Int32Array.from(drafts, (d) => d.block),
    step: Int32Array.from(drafts, (d) => d.step),
    kind: Uint8Array.from(drafts, (d) => d.kind),
    start: Int32Array.from(drafts, (d) => d.start),
    depOffset,
    depList: Int32Array.from(drafts.flatMap((d) => d.deps)),
    doneOffset,
    doneList: Int32Array.from(doneLists.flat()),
  };
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
}

/**
 * Writes a collective out as transfer ops (its schedule, in order) and returns, per member, the
 * ids of the transfers into it. tsp's all-gather is built this way.
 */
export function writeCollective(name: CollectiveName, request: CollectiveRequest): number[][] {
  const { builder, ranks, blocks, layer, algorithm, payload } = request;
  const p = ranks.length;
  const schedule = collectiveSchedule(name, algorithm, p, request.perMember === true ? 'per-member' : 'together');
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
    } else {
      deps = start === -1 ? [] : start === -2 ? all : ready[start]!.slice();
      if (last > first && start === -2) deps = all.slice();
      for (let k = first; k < last; k++) deps.push(ids[schedule.depList[k]!]!);
    }
    const block = blocks[schedule.block[i]!]!;
    const dst = schedule.dst[i]!;
    const id = builder.transfer(TRANSFER_KIND_NAMES[schedule.kind[i]!]!, ranks[schedule.src[i]!]!, ranks[dst]!, layer, block[0], block[1], deps, schedule.step[i]!, payload);
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
