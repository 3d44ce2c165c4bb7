import { describe, expect, test } from 'vitest';
import type { StrategyName } from '../../../sim/plan/plan.js';
import { simulate, type Scenario } from '../../../sim/simulate.js';
import { TRACK, perfettoTrace, type TraceEvent } from '../../../sim/trace/perfetto.js';
import { a100, falcon7b, llama7b, topology } from '../../support/scenarios.js';

describe('perfettoTrace', () => {
  const sim = simulate({ model: { ...llama7b, layers: 2 }, gpu: a100, topology: topology('switch', 3, 10e9, 2e-6), gpus: 3, context: 3000, strategy: 'kvr-e' });
  const trace = perfettoTrace(sim.plan, sim.run);
  const events = trace.traceEvents;
  const slices = events.filter((e) => e.ph === 'X');

  test('one process per GPU, with compute, send and recv tracks', () => {
    const names = events.filter((e) => e.name === 'process_name').map((e) => e.args!.name);
    expect(names).toEqual(['GPU 0', 'GPU 1', 'GPU 2']);
    const threads = events.filter((e) => e.name === 'thread_name' && e.pid === 1).map((e) => [e.tid, e.args!.name]);
    expect(threads).toEqual([[0, 'compute'], [1, 'send'], [2, 'recv']]);
  });

  test('every compute op appears once, under its canonical name, with its simulated times', () => {
    const compute = slices.filter((e) => e.cat === 'compute');
    expect(compute).toHaveLength(sim.plan.ops.filter((op) => op.kind === 'compute').length);
    const lmHead = compute.find((e) => e.name === 'lm_head')!;
    expect(lmHead.pid).toBe(2);
    // Trace times are whole nanoseconds.
    expect(Math.abs((lmHead.ts! + lmHead.dur!) / 1e6 - sim.result.ttft_s)).toBeLessThanOrEqual(0.5e-9 + 1e-15);
  });

  test('each transfer has a send slice, a recv slice and a flow arrow joining them', () => {
    const sends = slices.filter((e) => e.name === 'send');
    const recvs = slices.filter((e) => e.name === 'recv');
    expect(sends).toHaveLength(2 * 2);
    expect(recvs).toHaveLength(2 * 2);
    const within = (arrow: TraceEvent, track: number) =>
      slices.some((s) => s.pid === arrow.pid && s.tid === track && s.cat === 'comm' && s.ts! <= arrow.ts! && arrow.ts! <= s.ts! + s.dur!);
    const starts = events.filter((e) => e.ph === 's');
    const ends = events.filter((e) => e.ph === 'f');
    expect(starts.map((e) => e.id)).toEqual(ends.map((e) => e.id));
    for (const arrow of starts) expect(within(arrow, TRACK.send)).toBe(true);
    for (const arrow of ends) {
      expect(arrow.bp).toBe('e');
      expect(within(arrow, TRACK.recv)).toBe(true);
    }
  });

  test('idle time on a compute stream shows as wait slices; slices on one track never overlap', () => {
    expect(slices.some((e) => e.name === 'wait')).toBe(true);
    for (let pid = 0; pid < 3; pid++) {
      const track = slices.filter((e) => e.pid === pid && e.tid === TRACK.compute).sort((a, b) => a.ts! - b.ts!);
      for (let i = 1; i < track.length; i++) {
        expect(track[i]!.ts!).toBeGreaterThanOrEqual(track[i - 1]!.ts! + track[i - 1]!.dur! - 1e-6);
      }
    }
  });
});

/** The slices of each (pid, tid) track, in start order (ties: shorter first). */
function tracks(events: TraceEvent[]): TraceEvent[][] {
  const byTrack = new Map<string, TraceEvent[]>();
  for (const e of events) {
    if (e.ph !== 'X') continue;
    const key = `${e.pid}/${e.tid}`;
    byTrack.set(key, [...(byTrack.get(key) ?? []), e]);
  }
  return [...byTrack.values()].map((slices) => slices.sort((a, b) => a.ts! - b.ts! || a.dur! - b.dur!));
}

describe('perfettoTrace times on real plans', () => {
  // Odd contexts, bandwidths and latencies give times that are not round in binary, so the
  // floating-point sum ts + dur of one slice and the ts of the next disagree unless emitted with care.
  const scenarios: Scenario[] = [];
  const strategies: StrategyName[] = ['single', 'tsp', 'tsp-causal', 'kvr', 'kvr-e'];
  for (const strategy of strategies) {
    for (const [gpus, context, bandwidth, latency] of [
      [2, 4097, 300e9, 0],
      [3, 3001, 10e9, 2e-6],
      [4, 7777, 123e9, 1.3e-6],
      [8, 16383, 300e9, 5e-6],
    ] as const) {
      const g = strategy === 'single' ? 1 : gpus;
      // kvr: front-loaded chunks in proportion g, g-1, ..., 1; the last takes what is left.
      const weight = (g * (g + 1)) / 2;
      const partition = strategy === 'kvr' ? Array.from({ length: g }, (_, i) => Math.floor((context * (g - i)) / weight)) : undefined;
      if (partition) partition[g - 1]! += context - partition.reduce((a, b) => a + b, 0);
      scenarios.push({
        model: { ...(gpus === 3 ? falcon7b : llama7b), layers: 4 },
        gpu: a100,
        topology: topology('switch', g, bandwidth, latency),
        gpus: g,
        context,
        strategy,
        ...(partition ? { partition } : {}),
      });
    }
  }
  scenarios.push({ model: { ...llama7b, layers: 3 }, gpu: a100, topology: topology('ring', 4, 50e9, 1e-6), gpus: 4, context: 5003, strategy: 'tsp', collective: 'direct' });

  test.each(scenarios.map((s) => [`${s.strategy} on ${s.gpus} GPUs, ${s.context} tokens`, s] as const))(
    '%s: on every track a slice starts no earlier than the slice before it ends, unless the run overlaps them by >= 1 ns',
    (_, scenario) => {
      const sim = simulate(scenario);
      const trace = perfettoTrace(sim.plan, sim.run);
      for (const track of tracks(trace.traceEvents)) {
        for (let i = 1; i < track.length; i++) {
          const before = track[i - 1]!;
          const slice = track[i]!;
          const overlap = before.ts! + before.dur! - slice.ts!;
          // Compute streams and kvr's one-successor channels never overlap in the run; other
          // tracks (a rank sending to several peers at once) may, but then by whole nanoseconds.
          const sequential = slice.tid === TRACK.compute || scenario.strategy.startsWith('kvr') || scenario.strategy === 'single';
          if (sequential || overlap < 0.001 - 1e-9) expect(overlap, `${slice.name} on ${slice.pid}/${slice.tid} at ${slice.ts} µs`).toBeLessThanOrEqual(0);
        }
      }
    },
  );

  test.each(scenarios.map((s) => [`${s.strategy} on ${s.gpus} GPUs, ${s.context} tokens`, s] as const))(
    '%s: ts and dur are whole nanoseconds, so a reader that converts them to integer ns gets no overlap either',
    (_, scenario) => {
      const sim = simulate(scenario);
      const ns = (us: number) => Math.round(us * 1000);
      for (const track of tracks(perfettoTrace(sim.plan, sim.run).traceEvents)) {
        for (const slice of track) for (const value of [slice.ts!, slice.dur!]) expect(Math.abs(value * 1000 - ns(value))).toBeLessThan(1e-6);
        for (let i = 1; i < track.length; i++) {
          const before = track[i - 1]!;
          const slice = track[i]!;
          const sequential = slice.tid === TRACK.compute || scenario.strategy.startsWith('kvr') || scenario.strategy === 'single';
          if (sequential) expect(ns(slice.ts!)).toBeGreaterThanOrEqual(ns(before.ts!) + ns(before.dur!));
        }
      }
    },
  );
});
