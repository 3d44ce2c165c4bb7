import type { Router } from '../topology/routing.js';
import { bundledChannels } from './bundled-channels.js';
import { FOLD_TOLERANCE } from './layer-fold.js';

/**
 * A plan of identical layers run as a recurrence on its queues' free times, without building it.
 *
 * Why this is the engine's answer: on dedicated links (no two channels share a link, no
 * background traffic or noise: EngineProgram.dedicated) the engine runs a plan as one pass in plan
 * order (static-schedule.ts): each op starts at the later of its queue's free time and its
 * dependencies' ends, and ends a known time later. A strategy whose ops depend only on ops of
 * their own layer and on the previous layer's last op of their queue (a rank's compute stream, a
 * channel) needs no more state between layers than the free time of every queue; inside a layer
 * it needs a few ops' ends per rank. A recurrence walks a layer's ops in plan order with exactly
 * the engine's sums and maxima, so it gives the engine's times bit for bit, in memory linear in
 * the GPUs and time linear in the ops (ring-kv on 1024 GPUs: 2 million ops a layer, 16 KB of state).
 * Where channels share links only as bundles that move together, or share slack links that never
 * set a rate (bundled-channels.ts), the engine's flow model drains each transfer at one constant
 * rate from start to end, and the same walk holds with that rate for the channel's.
 *
 * Periodic layers: when a layer leaves every queue free exactly Δ later than the layer before did
 * (within FOLD_TOLERANCE relative, for two layers running with the same Δ), the next layer sees
 * the same state shifted by Δ, and the deterministic recurrence repeats itself shifted: the
 * remaining layers are skipped and the state moved on by Δ each (layer-fold.ts's periodic form).
 */
export interface LayerRecurrence {
  /** Ranks: queues 0..gpus-1 of `state` are their compute streams. */
  readonly gpus: number;
  /** Free time of every queue: compute streams, then channels; the recurrence updates it. */
  readonly state: Float64Array;
  /** Events the event engine handles per layer (the same every layer). */
  readonly eventsPerLayer: number;
  /**
   * false: runRecurrence runs every layer unless told otherwise (a partition search runs this
   * strategy rank by rank, which has no periodic shortcut, and must give simulate's bits).
   */
  readonly periodic?: boolean;
  /**
   * Runs one layer from `state`; false when the layer breaks an assumption the recurrence rests on
   * (the run is then not the engine's, and the caller runs the plan another way).
   */
  runLayer(): boolean | void;
  /**
   * Runs the ops after the last layer (lm_head) from `state`: the first token's time and the
   * events they count.
   */
  close(): { ttft: number; events: number };
}

/** What a recurrence run gives simulate: the engine's times of the whole plan. */
export interface RecurrenceRun {
  ttft: number;
  makespan: number;
  /** Each rank's last compute end. */
  finish: Float64Array;
  events: number;
  /** Layers actually run; the rest were periodic. */
  layersRun: number;
}

/**
 * Runs `layers` layers of a recurrence and its closing ops; `periodic: false` (or the recurrence's) runs every layer
 * (the engine's times bit for bit; the shortcut agrees to rounding). Undefined when a layer broke
 * the recurrence's assumptions.
 */
export function runRecurrence(recurrence: LayerRecurrence, layers: number, options: { periodic?: boolean } = {}): RecurrenceRun | undefined {
  const periodic = options.periodic ?? recurrence.periodic ?? true;
  const state = recurrence.state;
  const before = new Float64Array(state.length);
  let lastDelta = NaN;
  let layersRun = 0;
  for (let layer = 0; layer < layers; layer++) {
    before.set(state);
    if (recurrence.runLayer() === false) return undefined;
    layersRun += 1;
    const delta = uniformShift(before, state);
    if (periodic && delta !== undefined && close(delta, lastDelta, state[0]!)) {
      // Layers layer+1 .. layers-1 repeat this one, each Δ later.
      const rest = layers - 1 - layer;
      for (let q = 0; q < state.length; q++) state[q] = state[q]! + rest * delta;
      break;
    }
    lastDelta = delta ?? NaN;
  }
  const closing = recurrence.close();
  let makespan = 0;
  for (let q = 0; q < state.length; q++) if (state[q]! > makespan) makespan = state[q]!;
  return {
    ttft: closing.ttft,
    makespan,
    finish: state.slice(0, recurrence.gpus),
    events: layers * recurrence.eventsPerLayer + closing.events,
    layersRun,
  };
}

/** The Δ by which every entry moved, if they all moved by one Δ. */
function uniformShift(before: Float64Array, after: Float64Array): number | undefined {
  const delta = after[0]! - before[0]!;
  for (let q = 1; q < after.length; q++) if (!close(after[q]! - before[q]!, delta, after[q]!)) return undefined;
  return delta;
}

function close(x: number, y: number, scale: number): boolean {
  return Math.abs(x - y) <= FOLD_TOLERANCE * Math.max(Math.abs(scale), Math.abs(x), Math.abs(y));
}

/**
 * The link facts of a recurrence's channels (src, dst pairs): each one's route latency and
 * narrowest capacity, or undefined when two of them share a link or the topology has background
 * traffic or noise (the engine would then share bandwidth, and the recurrence would not hold).
 */
export function dedicatedChannels(router: Router, pairs: readonly (readonly [number, number])[]): { latency: Float64Array; narrowest: Float64Array } | undefined {
  // Every channel a bundle of its own: no link may be shared at all.
  const channels = bundledChannels(router, pairs, (channel) => channel);
  return channels === undefined ? undefined : { latency: channels.latency, narrowest: channels.narrowest };
}

/**
 * One transfer on a dedicated channel, as the static schedule times it: it leaves at the later of
 * `ready` and the channel's free time, waits the route's latency, then drains its bytes at the
 * route's narrowest capacity. Returns its end.
 */
export function transferEnd(ready: number, channelFree: number, latency: number, bytes: number, narrowest: number): number {
  const begin = ready > channelFree ? ready : channelFree;
  const flowAt = begin + latency;
  return bytes === 0 ? flowAt : flowAt + bytes / narrowest;
}

/** Events the engine counts for one transfer (its latency expiry, if any, and its end). */
export function transferEvents(latency: number, bytes: number): number {
  return bytes === 0 ? 1 : latency > 0 ? 2 : 1;
}
