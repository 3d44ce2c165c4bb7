import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

// Per-rank measurement files (kvr-exec run --out 'r-{rank}.json') and kvr-exec merge
// (native/include/kvr/rank_measurement.hpp): what one process per GPU writes and how the files
// become the kvr-exec/measurement@1 that calibration reads. Written here by one process running
// every rank on the CPU backend, in the same format the launched processes write.
const kvrExec = fileURLToPath(new URL('../../build/kvr-exec', import.meta.url));
const plans = fileURLToPath(new URL('../../native/scripts/plans/', import.meta.url));
const planPath = join(plans, 'check-tiny-llama-kvr-p4.json');
const dir = mkdtempSync(join(tmpdir(), 'kvr-rank-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface PlanOp { id: number; kind: 'compute' | 'transfer'; name: string; rank?: number; src?: number; dst?: number }
interface Part { id: number; part: 'compute' | 'send' | 'recv'; start_s: number; end_s: number }
interface RankFile { schema: string; rank: number; processes: number; repeats: number; runs: { ops: Part[] }[]; logits?: number[] }
interface Measured {
  schema: string; processes: number; ttft_s: number; ttft_runs_s: number[]; median_run: number; logits_head: number[];
  ranks: { rank: number; ops: { id: number; start_s: number; end_s: number }[] }[];
  transfers: { id: number; src: number; dst: number; start_s: number; end_s: number }[];
}

const plan = JSON.parse(readFileSync(planPath, 'utf8')) as { gpus: number; last_rank: number; ops: PlanOp[] };
const rankFile = (r: number) => join(dir, `r-${r}.json`);
const read = <T>(path: string) => JSON.parse(readFileSync(path, 'utf8')) as T;
let files: RankFile[] = [];
let merged: Measured;

beforeAll(() => {
  execFileSync(kvrExec, ['run', planPath, '--warmup', '0', '--repeats', '3', '--out', join(dir, 'r-{rank}.json')]);
  files = [0, 1, 2, 3].map((r) => read<RankFile>(rankFile(r)));
  // Any order.
  execFileSync(kvrExec, ['merge', planPath, rankFile(2), rankFile(0), rankFile(3), rankFile(1), '--out', join(dir, 'merged.json'),
    '--trace', join(dir, 'trace.json')]);
  merged = read<Measured>(join(dir, 'merged.json'));
});

function merge(...paths: string[]) {
  return spawnSync(kvrExec, ['merge', planPath, ...paths], { encoding: 'utf8' });
}

describe('kvr-exec rank files', () => {
  test('rank r\'s file holds its compute ops, the send half of its outgoing and the recv half of its incoming transfers, every run', () => {
    for (const [r, file] of files.entries()) {
      expect(file).toMatchObject({ schema: 'kvr-exec/rank-measurement@1', rank: r, processes: 1, repeats: 3 });
      const expected = [
        ...plan.ops.filter((op) => op.kind === 'compute' && op.rank === r).map((op) => `${op.id}:compute`),
        ...plan.ops.filter((op) => op.kind === 'transfer' && op.src === r).map((op) => `${op.id}:send`),
        ...plan.ops.filter((op) => op.kind === 'transfer' && op.dst === r).map((op) => `${op.id}:recv`),
      ].sort();
      expect(file.runs).toHaveLength(3);
      for (const run of file.runs) expect(run.ops.map((p) => `${p.id}:${p.part}`).sort()).toEqual(expected);
      // Only the rank that ran lm_head has the logits.
      expect(file.logits !== undefined).toBe(r === plan.last_rank);
    }
  });
});

describe('kvr-exec merge', () => {
  test('gives a kvr-exec/measurement@1 of the whole plan: every op once, TTFT = the lm_head rank\'s, median run', () => {
    expect(merged).toMatchObject({ schema: 'kvr-exec/measurement@1', processes: 1 });
    const ids = [...merged.ranks.flatMap((r) => r.ops.map((o) => o.id)), ...merged.transfers.map((t) => t.id)].sort((a, b) => a - b);
    expect(ids).toEqual(plan.ops.map((op) => op.id));
    const lmHead = plan.ops.find((op) => op.name === 'lm_head')!;
    const lmEnds = files[plan.last_rank]!.runs.map((run) => run.ops.find((p) => p.id === lmHead.id)!.end_s);
    expect(merged.ttft_runs_s).toEqual(lmEnds);
    const sorted = [...lmEnds].sort((a, b) => a - b);
    expect(merged.ttft_s).toBe(sorted[1]);
    expect(merged.ttft_runs_s[merged.median_run]).toBe(merged.ttft_s);
  });

  test('a transfer runs from its sender\'s send start to its receiver\'s recv end; compute ops keep their times', () => {
    const k = merged.median_run;
    const part = (rank: number, id: number, which: string) => files[rank]!.runs[k]!.ops.find((p) => p.id === id && p.part === which)!;
    for (const t of merged.transfers) {
      expect(t.start_s).toBe(part(t.src, t.id, 'send').start_s);
      expect(t.end_s).toBe(part(t.dst, t.id, 'recv').end_s);
    }
    for (const rank of merged.ranks) {
      for (const op of rank.ops) expect([op.start_s, op.end_s]).toEqual([part(rank.rank, op.id, 'compute').start_s, part(rank.rank, op.id, 'compute').end_s]);
    }
  });

  test('the logits are those of a run written the usual way (the CPU backend is deterministic)', () => {
    const direct = JSON.parse(execFileSync(kvrExec, ['run', planPath, '--warmup', '0', '--repeats', '1'], { encoding: 'utf8' })) as Measured;
    expect(merged.logits_head).toEqual(direct.logits_head);
    expect(merged.logits_head).toHaveLength(8);
  });

  test('the trace has one process per rank', () => {
    const trace = read<{ traceEvents: { name: string; pid: number }[]; otherData: { ttft_s: number } }>(join(dir, 'trace.json'));
    expect(new Set(trace.traceEvents.map((e) => e.pid))).toEqual(new Set([0, 1, 2, 3]));
    expect(trace.otherData.ttft_s).toBe(merged.ttft_s);
  });

  test('bad input: a missing or repeated rank, another plan\'s file, a missing half of a transfer: one line, exit 2', () => {
    const cut = join(dir, 'cut-2.json');
    const broken = read<RankFile>(rankFile(2));
    const recv = broken.runs[1]!.ops.findIndex((p) => p.part === 'recv');
    const recvId = broken.runs[1]!.ops[recv]!.id;
    broken.runs[1]!.ops.splice(recv, 1);
    writeFileSync(cut, JSON.stringify(broken));
    const otherPlan = join(dir, 'tsp-plan-run-0.json');
    execFileSync(kvrExec, ['run', join(plans, 'check-tiny-llama-tsp-p2.json'), '--warmup', '0', '--repeats', '1', '--out', join(dir, 'tsp-plan-run-{rank}.json')]);
    for (const [paths, message] of [
      [[rankFile(0), rankFile(1), rankFile(3)], /merge: no file for rank 2 \(the plan has 4 ranks; got 3 file\(s\)\)/],
      [[rankFile(0), rankFile(1), rankFile(1), rankFile(3)], /r-1\.json: rank 1 is also in .*r-1\.json/],
      [[rankFile(0), rankFile(1), otherPlan, rankFile(3)], /tsp-plan-run-0\.json: strategy\/model\/context\/gpus: measured a different plan/],
      [[rankFile(0), rankFile(1), cut, rankFile(3)], new RegExp(`cut-2\\.json: run 1 has no recv time for op ${recvId}`)],
      [[join(dir, 'merged.json'), rankFile(1), rankFile(2), rankFile(3)], /merged\.json: schema: expected "kvr-exec\/rank-measurement@1"/],
      [[], /merge: expected a plan file and one rank file per rank/],
    ] as [string[], RegExp][]) {
      const run = merge(...paths);
      expect(run.status).toBe(2);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toMatch(message);
    }
  });
});
