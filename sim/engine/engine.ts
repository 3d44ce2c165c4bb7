import type { Plan } from '../plan/plan.js';
import type { Route, Router } from '../topology/routing.js';
import { EventQueue, type PoppedEvent } from './event-queue.js';
import { FlowNetwork } from './flow-network.js';
import { noiseFraction } from '../topology/link-noise.js';
import type { LinkNoise } from '../topology/topology.js';

/** Times of every op of a run, indexed by op id, in seconds from the common start. */
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
  /** Route of each transfer, by op id (undefined for compute ops). */
  routes: (Route | undefined)[];
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
  count: number;
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
  routes: (Route | undefined)[];
  /** Per-direction link capacities, then one virtual resource per rate-capped background flow. */
  capacities: Float64Array;
  /** Competing flows that last the whole run (flow ids count - 1 + 1, count + 1, ...). */
  background: Int32Array[];
  /** Link directions whose capacity changes every period (seeded noise). */
  noise: { resource: number; noise: LinkNoise; capacity: number }[];
}

export function compilePlan(plan: Plan, router: Router): EngineProgram {
  const ops = plan.ops;
  const n = ops.length;
  const p = plan.gpus;

  // Queues: 0..p-1 are compute streams; channels follow in order of first use.
  const queueOf = new Int32Array(n);
  const channelIndex = new Map<number, number>();
  const routes: (Route | undefined)[] = new Array(n);
  const bytes = new Float64Array(n);
  const isTransfer = new Uint8Array(n);
  const depsLeft = new Int32Array(n);
  const succCount = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    if (op.id !== i) throw new Error(`plan op ${i} has id ${op.id}`);
    if (op.kind === 'compute') {
      queueOf[i] = op.rank;
    } else {
      isTransfer[i] = 1;
      bytes[i] = op.bytes;
      const key = op.src * p + op.dst;
      let channel = channelIndex.get(key);
      if (channel === undefined) {
        channel = p + channelIndex.size;
        channelIndex.set(key, channel);
      }
      queueOf[i] = channel;
      routes[i] = router.route(op.src, op.dst);
    }
    depsLeft[i] = op.deps.length;
    for (const dep of op.deps) {
      if (!(dep >= 0 && dep < i)) throw new Error(`plan op ${i} depends on ${dep}, which does not precede it`);
      succCount[dep]! += 1;
    }
  }
  // Successor lists (CSR).
  const succOffset = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) succOffset[i + 1] = succOffset[i]! + succCount[i]!;
  const succ = new Int32Array(succOffset[n]!);
  const fill = succOffset.slice(0, n);
  for (let i = 0; i < n; i++) for (const dep of ops[i]!.deps) succ[fill[dep]!++] = i;
  // Ops of each queue in plan order (CSR).
  const queueCount = p + channelIndex.size;
  const queueOffset = new Int32Array(queueCount + 1);
  for (let i = 0; i < n; i++) queueOffset[queueOf[i]! + 1]! += 1;
  for (let q = 0; q < queueCount; q++) queueOffset[q + 1]! += queueOffset[q]!;
  const queueOps = new Int32Array(n);
  const queueFill = queueOffset.slice(0, queueCount);
  for (let i = 0; i < n; i++) queueOps[queueFill[queueOf[i]!]!++] = i;
  const links = router.capacities();
  const background = router.backgroundFlows();
  const capped = background.filter((flow) => flow.rate !== null);
  const capacities = new Float64Array(links.length + capped.length);
  capacities.set(links);
  let virtual = links.length;
  const backgroundRoutes = background.map((flow) => {
    if (flow.rate === null) return flow.resources;
    // A rate cap is a private resource of that capacity on the flow's route.
    capacities[virtual] = flow.rate;
    return Int32Array.from([...flow.resources, virtual++]);
  });
  return {
    count: n,
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
    routes,
    capacities,
    background: backgroundRoutes,
    noise: router.noisyResources(),
  };
}

/** Runs a compiled plan with the given compute durations and transfer sizes (seconds, bytes). */
export function executeProgram(
  program: EngineProgram,
  durations: Float64Array,
  bytes: Float64Array = program.bytes,
): EngineRun {
  const { count: n, isTransfer, queueOf, succOffset, succ, queueCount, queueOffset, queueOps, routes } = program;
  const depsLeft = program.depCount.slice();
  const queueNext = queueOffset.slice(0, queueCount);
  const queueBusy = new Uint8Array(queueCount);
  const start = new Float64Array(n);
  const flowStart = new Float64Array(n);
  const end = new Float64Array(n).fill(NaN);
  const events = new EventQueue();
  const capacity = program.capacities.slice();
  const background = program.background;
  const network = new FlowNetwork(capacity, n + background.length, (flow) => (flow < n ? routes[flow]!.resources : background[flow - n]!));
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
      events.push(now + durations[op]!, COMPUTE_DONE, op, 0);
      return;
    }
    const latency = routes[op]!.latency_s;
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
  return { start, flowStart, end, makespan, events: processed, routes };
}
