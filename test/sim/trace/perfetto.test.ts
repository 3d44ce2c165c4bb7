import { describe, expect, test } from 'vitest';
import { simulate } from '../../../sim/simulate.js';
import { TRACK, perfettoTrace, type TraceEvent } from '../../../sim/trace/perfetto.js';
import { a100, llama7b, topology } from '../../support/scenarios.js';

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
    expect((lmHead.ts! + lmHead.dur!) / 1e6).toBeCloseTo(sim.result.ttft_s, 12);
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
