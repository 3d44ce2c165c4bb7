import type { EngineProgram, EngineRun } from './engine.js';

/**
 * Runs a compiled plan whose transfers never share a link (EngineProgram.dedicated) in one pass
 * over its ops, with no event queue.
 *
 * Why this is the event engine's answer, bit for bit: every op's duration is then known before it
 * starts (compute: its duration; transfer: route latency, then its bytes at the narrowest link of
 * its route, as no other flow ever shares that link). Each queue runs its ops in plan order, and
 * both a dependency and a queue predecessor come earlier in plan order, so walking the ops in that
 * order sees every op after everything it waits for. An op starts when the later of those two
 * is done: start = max(end of its queue predecessor, ends of its dependencies), the same sums
 * and maxima the event engine forms. `events` counts what the event engine would have handled:
 * one per compute op, and per transfer its latency expiry (when there is a latency and bytes to
 * send) and its end.
 */
export function runStaticSchedule(program: EngineProgram, duration: Float64Array, bytes: Float64Array): EngineRun {
  const { count: n, isTransfer, queueOf, queueCount, succOffset, succ, latency: latencyOf, narrowest } = program;
  const start = new Float64Array(n);
  const flowStart = new Float64Array(n);
  const end = new Float64Array(n);
  // Latest end among the dependencies of each op seen so far (all of them, once the walk reaches it).
  const ready = new Float64Array(n);
  const queueFree = new Float64Array(queueCount);
  let events = 0;
  let makespan = 0;
  for (let op = 0; op < n; op++) {
    const queue = queueOf[op]!;
    const begin = ready[op]! > queueFree[queue]! ? ready[op]! : queueFree[queue]!;
    start[op] = begin;
    let finish: number;
    if (!isTransfer[op]) {
      flowStart[op] = begin;
      finish = begin + duration[op]!;
      events += 1;
    } else {
      const latency = latencyOf[op]!;
      const flowAt = begin + latency;
      flowStart[op] = flowAt;
      if (bytes[op] === 0) {
        finish = flowAt;
        events += 1;
      } else {
        finish = flowAt + bytes[op]! / narrowest[op]!;
        events += latency > 0 ? 2 : 1;
      }
    }
    end[op] = finish;
    queueFree[queue] = finish;
    if (finish > makespan) makespan = finish;
    for (let k = succOffset[op]!; k < succOffset[op + 1]!; k++) {
      const next = succ[k]!;
      if (finish > ready[next]!) ready[next] = finish;
    }
  }
  return { start, flowStart, end, makespan, events, indexOf: program.layout.indexOf };
}
