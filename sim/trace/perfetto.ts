import type { EngineRun } from '../engine/engine.js';
import { expandCollectives } from '../plan/expand.js';
import type { Plan } from '../plan/plan.js';

/** One Chrome trace event (the JSON format ui.perfetto.dev and chrome://tracing open). */
export interface TraceEvent {
  name: string;
  ph: 'X' | 'M' | 's' | 'f';
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  cat?: string;
  id?: number;
  bp?: 'e';
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ms';
  otherData: Record<string, unknown>;
}

/** Thread ids of a GPU's tracks. */
export const TRACK = { compute: 0, send: 1, recv: 2 } as const;

/** Nanoseconds per second: trace times are whole nanoseconds (see slice). */
const NS = 1e9;

/**
 * A Perfetto/Chrome trace of a run: one process per GPU with compute, send and recv tracks;
 * compute ops under their canonical names, idle gaps as `wait`, each transfer as a slice on the
 * sender's send track (from leaving the queue to delivery) and on the receiver's recv track
 * (while data flows), joined by a flow arrow. Times are microseconds, on a grid of whole
 * nanoseconds: every instant is rounded once, so two slices that meet in the run meet in the trace,
 * and a slice never starts before the one before it on its track ends (see slice).
 */
export function perfettoTrace(plan: Plan, run: EngineRun, meta: Record<string, unknown> = {}): ChromeTrace {
  const events: TraceEvent[] = [];
  for (let rank = 0; rank < plan.gpus; rank++) {
    events.push({ name: 'process_name', ph: 'M', pid: rank, tid: 0, args: { name: `GPU ${rank}` } });
    events.push({ name: 'process_sort_index', ph: 'M', pid: rank, tid: 0, args: { sort_index: rank } });
    for (const [track, tid] of Object.entries(TRACK)) {
      events.push({ name: 'thread_name', ph: 'M', pid: rank, tid, args: { name: track } });
    }
  }
  // End of the last compute slice on each rank, in nanoseconds.
  const streamFree = new Array<number>(plan.gpus).fill(0);
  // The engine's ops: a collective op is drawn as the transfers it ran as.
  for (const op of expandCollectives(plan).ops) {
    if (op.kind === 'collective') continue;
    const start = nanos(run.start[op.id]!);
    const end = nanos(run.end[op.id]!);
    if (op.kind === 'compute') {
      if (start > streamFree[op.rank]!) {
        events.push(slice('wait', 'idle', op.rank, TRACK.compute, streamFree[op.rank]!, start, {}));
      }
      streamFree[op.rank] = end;
      events.push(
        slice(op.name, 'compute', op.rank, TRACK.compute, start, end, {
          layer: op.layer,
          tokens: op.tokens,
          prefix: op.prefix,
          keys: op.keys,
          flops: op.flops,
        }),
      );
      continue;
    }
    const args = {
      layer: op.layer,
      bytes: op.bytes,
      tokens: [op.token_start, op.token_end],
      src: op.src,
      dst: op.dst,
      ...(op.step === undefined ? {} : { step: op.step }),
    };
    const flowStart = nanos(run.flowStart[op.id]!);
    events.push(slice(op.name, 'comm', op.src, TRACK.send, start, end, args));
    events.push(slice('recv', 'comm', op.dst, TRACK.recv, flowStart, end, args));
    events.push({ name: 'kv', ph: 's', cat: 'flow', id: op.id, pid: op.src, tid: TRACK.send, ts: start / 1000 });
    events.push({ name: 'kv', ph: 'f', bp: 'e', cat: 'flow', id: op.id, pid: op.dst, tid: TRACK.recv, ts: flowStart / 1000 });
  }
  return {
    traceEvents: events,
    displayTimeUnit: 'ms',
    otherData: { schema: 'kvr-sim/trace@1', strategy: plan.strategy, model: plan.model.name, ...meta },
  };
}

/** A time of the run (seconds) as whole nanoseconds; rounding is monotone, so order is kept. */
function nanos(seconds: number): number {
  return Math.round(seconds * NS);
}

/**
 * A complete slice from `start` to `end` (whole nanoseconds), as ts = start/1000 and
 * dur = (end - start)/1000 microseconds, so a reader that rounds them to whole nanoseconds gets
 * start and end back exactly. In floating point, ts + dur can still land one ulp above end/1000,
 * past the start of a slice that begins at `end`; dur then gives up that ulp (about 1e-13 µs at a
 * second's scale; one step always suffices), so ts + dur <= end/1000 as any reader computes it.
 */
function slice(
  name: string,
  cat: string,
  pid: number,
  tid: number,
  start: number,
  end: number,
  args: Record<string, unknown>,
): TraceEvent {
  const ts = start / 1000;
  const endUs = end / 1000;
  let dur = Math.max(0, end - start) / 1000;
  for (let tries = 0; ts + dur > endUs && tries < 8; tries++) dur = Math.max(0, dur - (ts + dur - endUs));
  return { name, ph: 'X', cat, pid, tid, ts, dur, args };
}
