import { protocolWire, scheduleLatency, scheduleTokens } from '../plan/collectives.js';
import { expandedLayout, visitExpandedDeps, type ExpandedLayout } from '../plan/expand.js';
import type { Plan } from '../plan/plan.js';
import { planTable } from '../plan/table-plan.js';
import { OP_COLLECTIVE, OP_COMPUTE, OP_TRANSFER, type OpTable } from '../plan/op-table.js';
import type { Route, Router } from '../topology/routing.js';
import { EventQueue, type PoppedEvent } from './event-queue.js';
import { FlowNetwork } from './flow-network.js';
import { runStaticSchedule } from './static-schedule.js';
import { noiseFraction } from '../topology/link-noise.js';
import type { LinkNoise } from '../topology/topology.js';
import { KvrInputError } from '../errors.js';

/**
 * Noise periods a run may go through on one noisy link direction. Each period recomputes the
 * flow rates and leaves an outdated completion event per flow in the queue, so a period far
 * shorter than the run (1 ns against a run of seconds) would take hours and gigabytes; like
 * plan ops (MAX_PLAN_OPS), they are bounded and the topology refused past the bound.
 */
export const MAX_NOISE_PERIODS = 100_000;

/**
 * Times of every op of a run, in seconds from the common start, indexed by op id (of the plan with
 * its collectives expanded: see indexOf).
 */
export interface EngineRun {
  /** Compute: start of the op. Transfer: when it left its channel's queue. */
  start: Float64Array;
  /** Transfer: when its data began to flow (start + route latency). Compute: equals start. */
  flowStart: Float64Array;
  end: Float64Array;
  /** Latest end of any op. */
  makespan: number;
  /** Events that took effect: compute completions, latency expiries, flow completions. */
  events: number;
  /**
   * Index into these arrays of each plan op: its id, unless the plan has collective ops, whose
   * transfers the arrays list one by one (as expandCollectives(plan) numbers them).
   */
  indexOf: Int32Array;
}

const COMPUTE_DONE = 0;
const LATENCY_DONE = 1;
const FLOW_DONE = 2;
const NOISE_TICK = 3;

/**
 * Runs a plan as a discrete-event simulation. Each rank has one compute stream that runs its
 * compute ops in plan order; each (src, dst) pair has one channel that runs its transfers in plan
 * order, one at a time (FIFO), independently of both ranks' compute streams. An op starts when
 * its queue is free, the ops before it in that queue are done, and its dependencies are done.
 * A transfer first waits its route's latency, then drains its bytes on the flow network.
 * Events at equal times are handled in insertion order; rates are recomputed once per instant.
 * When no two channels share a link (and there is no background traffic or noise), every op's end
 * is known when it starts and the plan runs as one pass (static-schedule.ts): same times, same
 * event count.
 */
export function runPlan(plan: Plan, durations: Float64Array, router: Router): EngineRun {
  return executeProgram(compilePlan(plan, router), durations);
}

/**
 * A plan's dependency structure, queues and routes, compiled once. Searches that only change
 * op durations and transfer sizes (not the op graph) reuse it and pass new numbers to
 * executeProgram.
 */
export interface EngineProgram {
  /** Ops the engine runs: the plan's, with every collective op expanded into its transfers. */
  count: number;
  /** Where each plan op sits among them (sim/plan/expand.ts). */
  layout: ExpandedLayout;
  gpus: number;
  isTransfer: Uint8Array;
  queueOf: Int32Array;
  /** Bytes of each transfer (0 for compute ops); executeProgram may be given others. */
  bytes: Float64Array;
  depCount: Int32Array;
  succOffset: Int32Array;
  succ: Int32Array;
  queueCount: number;
  queueOffset: Int32Array;
  queueOps: Int32Array;
  /** Route of each (src, dst) pair a transfer uses (index src * gpus + dst). */
  pairRoutes: (Route | undefined)[];
  /** Pair index of each transfer (-1 for compute ops), and its route's latency. */
  pairOf: Int32Array;
  latency: Float64Array;
  /** Per-direction link capacities, then one virtual resource per rate-capped background flow. */
  capacities: Float64Array;
  /** Competing flows that last the whole run (flow ids count - 1 + 1, count + 1, ...). */
  background: Int32Array[];
  /** Link directions whose capacity changes every period (seeded noise). */
  noise: { resource: number; noise: LinkNoise; capacity: number }[];
  /**
   * Every link direction a transfer uses carries one channel only, and there is no background
   * traffic or noise: transfers never share a link (a channel sends one at a time), so each runs
   * at its route's narrowest link and its end is known when it starts.
   */
  dedicated: boolean;
  /** Narrowest capacity on each transfer's route (0 for compute ops). */
  narrowest: Float64Array;
}

export function compilePlan(plan: Plan, router: Router): EngineProgram {
  const table = planTable(plan);
  return compileTable(table, plan.gpus, router, expandedLayout(table));
}

/** compilePlan of a plan's op table, laid out by `layout`. */
function compileTable(table: OpTable, p: number, router: Router, layout: ExpandedLayout): EngineProgram {
  const n = layout.count;

  // Queues: 0..p-1 are compute streams; channels follow in order of first use.
  const queueOf = new Int32Array(n);
  // Channel of each (src, dst) pair (src * p + dst), numbered in order of first use; -1: unused.
  const channelOf = new Int32Array(p * p).fill(-1);
  const pairRoute: (Route | undefined)[] = new Array(p * p);
  // Narrowest capacity on each pair's route, and so on each transfer's.
  const links = router.capacities();
  const pairNarrowest = new Float64Array(p * p);
  const narrowest = new Float64Array(n);
  let channels = 0;
  const pairOf = new Int32Array(n).fill(-1);
  const latency = new Float64Array(n);
  const bytes = new Float64Array(n);
  const isTransfer = new Uint8Array(n);
  const depsLeft = new Int32Array(n);
  const succCount = new Int32Array(n + 1);
  // Ring channel c > 0 of a collective gets its own queue on a pair (NCCL's channels run side by
  // side; their flows share the links): key (pair, lane).
  const laneQueues = new Map<number, number>();
  // Route of each channel queue, for counting how many queues each link carries.
  const queueRoutes: Route[] = [];
  const channel = (i: number, src: number, dst: number, lane = 0): void => {
    const key = src * p + dst;
    let queue = lane === 0 ? channelOf[key]! : (laneQueues.get(key * 64 + lane) ?? -1);
    if (queue === -1) {
      queue = p + channels++;
      if (lane === 0) channelOf[key] = queue;
      else laneQueues.set(key * 64 + lane, queue);
    }
    if (pairRoute[key] === undefined) {
      const route = router.route(src, dst);
      pairRoute[key] = route;
      let rate = Infinity;
      for (let k = 0; k < route.resources.length; k++) rate = Math.min(rate, links[route.resources[k]!]!);
      pairNarrowest[key] = rate;
    }
    if (queueRoutes.length < channels) queueRoutes.push(pairRoute[key]!);
    narrowest[i] = pairNarrowest[key]!;
    latency[i] = pairRoute[key]!.latency_s;
    isTransfer[i] = 1;
    queueOf[i] = queue;
    pairOf[i] = key;
  };
  // Dependency edges (op, dep), in the order the deps are listed: the plan's own, gathered in the
  // same pass as the queues (each pass over the op objects costs cache misses on big plans), or,
  // with collectives, those of the expanded ops.
  let edgeOp = new Int32Array(Math.max(16, 2 * n));
  let edgeDep = new Int32Array(edgeOp.length);
  let edges = 0;
  const addEdge = (i: number, dep: number): void => {
    if (edges === edgeOp.length) {
      const grownOp = new Int32Array(2 * edges);
      grownOp.set(edgeOp);
      edgeOp = grownOp;
      const grownDep = new Int32Array(2 * edges);
      grownDep.set(edgeDep);
      edgeDep = grownDep;
    }
    edgeOp[edges] = i;
    edgeDep[edges++] = dep;
  };
  const { kind, rank, dst, amount, depOffset, deps } = table;
  for (let id = 0; id < table.count; id++) {
    const i = layout.indexOf[id]!;
    const k = kind[id]!;
    if (k === OP_COMPUTE) {
      queueOf[i] = rank[id]!;
    } else if (k === OP_TRANSFER) {
      const protocol = table.protocolOf(id);
      bytes[i] = protocol === undefined ? amount[id]! : amount[id]! * protocolWire(protocol);
      channel(i, rank[id]!, dst[id]!);
      if (table.latency[id]! >= 0) {
        const hopScale = table.hopScaleOf(id);
        if (hopScale !== undefined) latency[i]! *= hopScale;
        const base = table.baseSecondsOf(id);
        if (base !== undefined) latency[i]! += base;
      }
    } else {
      // Written out (not via collectiveTransfers' callback): big tp plans have ~10^5 of these.
      const op = table.collective(id);
      const schedule = layout.schedules[id]!;
      const { ranks, blocks, bytes_per_token: perToken, protocol } = op;
      // Wire bytes per token: the protocol's (LL and LL128 carry flags with the data).
      const wirePerToken = perToken * protocolWire(protocol);
      const tokens = scheduleTokens(schedule, blocks);
      const { src, dst: to, lane } = schedule;
      for (let k = 0; k < schedule.count; k++) {
        bytes[i + k] = tokens[k]! * wirePerToken;
        channel(i + k, ranks[src[k]!]!, ranks[to[k]!]!, lane[k]!);
      }
      if (protocol !== undefined) {
        const { scale, base } = scheduleLatency(schedule, op.algorithm, protocol);
        for (let k = 0; k < schedule.count; k++) latency[i + k] = latency[i + k]! * scale[k]! + base[k]!;
      }
    }
    if (layout.identity) for (let e = depOffset[id]!; e < depOffset[id + 1]!; e++) addEdge(i, deps[e]!);
  }
  if (!layout.identity) visitExpandedDeps(table, layout, addEdge);
  for (let e = 0; e < edges; e++) {
    const i = edgeOp[e]!;
    const dep = edgeDep[e]!;
    if (!(dep >= 0 && dep < i)) throw new Error(`plan op ${i} depends on ${dep}, which does not precede it`);
    depsLeft[i]! += 1;
    succCount[dep]! += 1;
  }
  // Successor lists (CSR), each in the order the deps were listed.
  const succOffset = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) succOffset[i + 1] = succOffset[i]! + succCount[i]!;
  const succ = new Int32Array(succOffset[n]!);
  const fill = succOffset.slice(0, n);
  for (let e = 0; e < edges; e++) succ[fill[edgeDep[e]!]!++] = edgeOp[e]!;
  // Ops of each queue in plan order (CSR).
  const queueCount = p + channels;
  const queueOffset = new Int32Array(queueCount + 1);
  for (let i = 0; i < n; i++) queueOffset[queueOf[i]! + 1]! += 1;
  for (let q = 0; q < queueCount; q++) queueOffset[q + 1]! += queueOffset[q]!;
  const queueOps = new Int32Array(n);
  const queueFill = queueOffset.slice(0, queueCount);
  for (let i = 0; i < n; i++) queueOps[queueFill[queueOf[i]!]!++] = i;
  // Channels per link direction.
  const channelsOn = new Int32Array(links.length);
  for (const route of queueRoutes) for (const resource of route.resources) channelsOn[resource]! += 1;
  const background = router.backgroundFlows();
  const capped = background.filter((flow) => flow.rate !== null);
  const capacities = new Float64Array(links.length + capped.length);
  capacities.set(links);
  let virtual = links.length;
  const noise = router.noisyResources();
  const backgroundRoutes = background.map((flow) => {
    if (flow.rate === null) return flow.resources;
    // A rate cap is a private resource of that capacity on the flow's route.
    capacities[virtual] = flow.rate;
    return Int32Array.from([...flow.resources, virtual++]);
  });
  return {
    count: n,
    layout,
    gpus: p,
    isTransfer,
    queueOf,
    bytes,
    depCount: depsLeft,
    succOffset,
    succ,
    queueCount,
    queueOffset,
    queueOps,
    pairRoutes: pairRoute,
    pairOf,
    latency,
    capacities,
    background: backgroundRoutes,
    noise,
    dedicated: background.length === 0 && noise.length === 0 && channelsOn.every((channels) => channels <= 1),
    narrowest,
  };
}

/** Runs a compiled plan with the given compute durations and transfer sizes (seconds, bytes). */
export function executeProgram(
  program: EngineProgram,
  durations: Float64Array,
  bytes: Float64Array = program.bytes,
): EngineRun {
  const { count: n, isTransfer, layout } = program;
  // Durations come by plan op id; the engine's ops are the expanded ones.
  let duration = durations;
  if (!layout.identity) {
    duration = new Float64Array(n);
    for (let i = 0; i < n; i++) if (!isTransfer[i]) duration[i] = durations[layout.planOf[i]!]!;
  }
  return program.dedicated ? runStaticSchedule(program, duration, bytes) : runEvents(program, duration, bytes);
}

/**
 * The event loop: compute ops and transfers as events, transfers draining on the flow network.
 * `duration` is by engine op (collectives expanded). Exported so tests can hold the static
 * schedule to it.
 */
export function runEvents(program: EngineProgram, duration: Float64Array, bytes: Float64Array): EngineRun {
  const { count: n, isTransfer, queueOf, succOffset, succ, queueCount, queueOffset, queueOps, pairRoutes, pairOf, layout } = program;
  const depsLeft = program.depCount.slice();
  const queueNext = queueOffset.slice(0, queueCount);
  const queueBusy = new Uint8Array(queueCount);
  const start = new Float64Array(n);
  const flowStart = new Float64Array(n);
  const end = new Float64Array(n).fill(NaN);
  const events = new EventQueue();
  const capacity = program.capacities.slice();
  const background = program.background;
  // Route resources and latency of every flow id (transfers, then background flows), looked up per event.
  const latencyOf = program.latency;
  const network = new FlowNetwork(capacity, n + background.length, (flow) => (flow < n ? pairRoutes[pairOf[flow]!]!.resources : background[flow - n]!));
  let now = 0;
  let processed = 0;
  let completed = 0;
  let ratesDirty = false;

  const tryStart = (queue: number): void => {
    if (queueBusy[queue]) return;
    const next = queueNext[queue]!;
    if (next >= queueOffset[queue + 1]!) return;
    const op = queueOps[next]!;
    if (depsLeft[op] !== 0) return;
    queueBusy[queue] = 1;
    queueNext[queue] = next + 1;
    start[op] = now;
    if (!isTransfer[op]) {
      flowStart[op] = now;
      events.push(now + duration[op]!, COMPUTE_DONE, op, 0);
      return;
    }
    const latency = latencyOf[op]!;
    if (latency > 0 || bytes[op] === 0) {
      events.push(now + latency, LATENCY_DONE, op, 0);
    } else {
      flowStart[op] = now;
      network.add(op, bytes[op]!, now);
      ratesDirty = true;
    }
  };

  const complete = (op: number): void => {
    end[op] = now;
    completed += 1;
    const queue = queueOf[op]!;
    queueBusy[queue] = 0;
    for (let k = succOffset[op]!; k < succOffset[op + 1]!; k++) {
      const next = succ[k]!;
      if (--depsLeft[next]! === 0) tryStart(queueOf[next]!);
    }
    tryStart(queue);
  };

  const scheduleFlow = (flow: number, finish: number): void => {
    events.push(finish, FLOW_DONE, flow, network.version[flow]!);
  };

  for (let k = 0; k < background.length; k++) {
    network.add(n + k, Infinity, 0);
    ratesDirty = true;
  }
  program.noise.forEach((noisy, index) => {
    capacity[noisy.resource] = noisy.capacity * noiseFraction(noisy.noise, noisy.resource, 0);
    events.push(noisy.noise.period_s, NOISE_TICK, index, 1);
  });
  for (let q = 0; q < queueCount; q++) tryStart(q);
  if (ratesDirty) {
    network.recompute(now, scheduleFlow);
    ratesDirty = false;
  }
  const event: PoppedEvent = { time: 0, type: 0, op: 0, version: 0 };
  while (events.size > 0) {
    now = events.peekTime();
    while (events.size > 0 && events.peekTime() === now) {
      events.pop(event);
      const op = event.op;
      if (event.type === FLOW_DONE && event.version !== network.version[op]) continue; // rate changed since
      if (event.type === NOISE_TICK) {
        // op is the index of the noisy resource, version the period that starts now.
        const noisy = program.noise[op]!;
        if (event.version >= MAX_NOISE_PERIODS) throw tooManyNoisePeriods(noisy, now);
        network.setCapacity(noisy.resource, noisy.capacity * noiseFraction(noisy.noise, noisy.resource, event.version), now);
        ratesDirty = true;
        if (completed < n) events.push(now + noisy.noise.period_s, NOISE_TICK, op, event.version + 1);
        continue;
      }
      processed += 1;
      if (event.type === COMPUTE_DONE) {
        complete(op);
      } else if (event.type === LATENCY_DONE) {
        flowStart[op] = now;
        if (bytes[op] === 0) {
          complete(op);
        } else {
          network.add(op, bytes[op]!, now);
          ratesDirty = true;
        }
      } else {
        network.remove(op, now);
        ratesDirty = true;
        complete(op);
      }
    }
    if (ratesDirty) {
      network.recompute(now, scheduleFlow);
      ratesDirty = false;
    }
  }
  // Dependencies and queue order both point backwards in plan order, so every op runs; this
  // guards that invariant if either rule is ever relaxed.
  if (completed !== n) {
    const stuck = end.findIndex((time) => Number.isNaN(time));
    throw new Error(`plan deadlocked: op ${stuck} never ran`);
  }
  let makespan = 0;
  for (let i = 0; i < n; i++) if (end[i]! > makespan) makespan = end[i]!;
  return { start, flowStart, end, makespan, events: processed, indexOf: layout.indexOf };
}

function tooManyNoisePeriods(noisy: { resource: number; noise: LinkNoise }, now: number): KvrInputError {
  // Resources 2i and 2i+1 are the two directions of topology link i (sim/topology/routing.ts).
  const period = noisy.noise.period_s;
  return new KvrInputError(
    `topology.links[${noisy.resource >> 1}].noise.period`,
    `${period * 1e9 < 1000 ? `${+(period * 1e9).toPrecision(6)} ns` : `${+(period * 1e6).toPrecision(6)} us`} gives more than ${MAX_NOISE_PERIODS} noise periods ` +
      `(the run had not finished after ${+(now * 1e3).toPrecision(4)} ms simulated); use a period of at least a thousandth of the TTFT, e.g. "1 ms"`,
  );
}

/**
 * Transfer sizes of a plan in the engine's op order (a collective's transfers expanded), for
 * executeProgram after the plan's sizes changed but not its graph.
 */
export function programBytes(plan: Plan, program: EngineProgram, out: Float64Array = new Float64Array(program.count)): Float64Array {
  const { indexOf, schedules } = program.layout;
  const table = planTable(plan);
  for (let id = 0; id < table.count; id++) {
    const kind = table.kind[id]!;
    if (kind === OP_TRANSFER) {
      const protocol = table.protocolOf(id);
      out[indexOf[id]!] = protocol === undefined ? table.amount[id]! : table.amount[id]! * protocolWire(protocol);
    } else if (kind === OP_COLLECTIVE) {
      const op = table.collective(id);
      const base = indexOf[id]!;
      const perToken = op.bytes_per_token * protocolWire(op.protocol);
      const schedule = schedules[id]!;
      const tokens = scheduleTokens(schedule, op.blocks);
      for (let k = 0; k < schedule.count; k++) out[base + k] = tokens[k]! * perToken;
    }
  }
  return out;
}
