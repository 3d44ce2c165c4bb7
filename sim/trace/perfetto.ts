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

const US = 1e6;

/**
 * A Perfetto/Chrome trace of a run: one process per GPU with compute, send and recv tracks;
 * compute ops under their canonical names, idle gaps as `wait`, each transfer as a slice on the
 * sender's send track (from leaving the queue to delivery) and on the receiver's recv track
 * (while data flows), joined by a flow arrow. Times are microseconds.
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
  const streamFree = new Array<number>(plan.gpus).fill(0);
  // The engine's ops: a collective op is drawn as the transfers it ran as.
  for (const op of expandCollectives(plan).ops) {
    if (op.kind === 'collective') continue;
    const start = run.start[op.id]!;
    const end = run.end[op.id]!;
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
    const flowStart = run.flowStart[op.id]!;
    events.push(slice(op.name, 'comm', op.src, TRACK.send, start, end, args));
    events.push(slice('recv', 'comm', op.dst, TRACK.recv, flowStart, end, args));
    events.push({ name: 'kv', ph: 's', cat: 'flow', id: op.id, pid: op.src, tid: TRACK.send, ts: start * US });
    events.push({ name: 'kv', ph: 'f', bp: 'e', cat: 'flow', id: op.id, pid: op.dst, tid: TRACK.recv, ts: flowStart * US });
  }
  return {
    traceEvents: events,
    displayTimeUnit: 'ms',
    otherData: { schema: 'kvr-sim/trace@1', strategy: plan.strategy, model: plan.model.name, ...meta },
  };
}

function slice(
  name: string,
  cat: string,
  pid: number,
  tid: number,
  start: number,
  end: number,
  args: Record<string, unknown>,
): TraceEvent {
  return { name, ph: 'X', cat, pid, tid, ts: start * US, dur: (end - start) * US, args };
}
