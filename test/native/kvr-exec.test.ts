import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { modelFromJson } from '../../sim/model/model-spec.js';
import { buildPlan } from '../../sim/plan/build-plan.js';

// The standalone CLI (native/cli/kvr_exec.cpp) that npm install builds beside the addon.
const kvrExec = fileURLToPath(new URL('../../build/kvr-exec', import.meta.url));
const tinyLlama = modelFromJson(
  JSON.parse(readFileSync(new URL('../../native/scripts/models/tiny-llama.json', import.meta.url), 'utf8')),
);
const dir = mkdtempSync(join(tmpdir(), 'kvr-exec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const plan = buildPlan({ strategy: 'kvr-e', model: tinyLlama, context: 128, gpus: 2 });
const planPath = join(dir, 'plan.json');
writeFileSync(planPath, JSON.stringify(plan));
const bytes = 64 * 512; // the K,V of rank 0's 64 tokens
const linksPath = join(dir, 'links.json');
writeFileSync(linksPath, JSON.stringify({ capacity: [bytes / 3e-3], routes: [{ src: 0, dst: 1, latency_s: 1e-3, resources: [0] }] }));

describe('kvr-exec', () => {
  test('time-ops prints kvr-exec/op-times@1 for the listed ops', () => {
    const out = execFileSync(kvrExec, ['time-ops', planPath, '--ops', '1,0', '--warmup', '0', '--repeats', '2', '--links', linksPath], { encoding: 'utf8' });
    const timed = JSON.parse(out) as { schema: string; ops: { id: number; kind: string; times_s: number[] }[] };
    expect(timed.schema).toBe('kvr-exec/op-times@1');
    expect(timed.ops.map((op) => [op.id, op.kind, op.times_s.length])).toEqual([
      [1, 'transfer', 2],
      [0, 'compute', 2],
    ]);
    // 1 ms latency + 3 ms of bytes, never less.
    for (const t of timed.ops[0]!.times_s) expect(t).toBeGreaterThanOrEqual(4e-3 - 1e-6);
  });

  test('run --links paces the transfers', () => {
    const out = execFileSync(kvrExec, ['run', planPath, '--warmup', '0', '--repeats', '1', '--links', linksPath], { encoding: 'utf8' });
    const measurement = JSON.parse(out) as { transfers: { start_s: number; end_s: number }[] };
    for (const t of measurement.transfers) expect(t.end_s - t.start_s).toBeGreaterThanOrEqual(4e-3 - 1e-6);
  });

  test.each([
    [['time-ops', planPath], /^kvr-exec: invalid-argument: time-ops: --ops is required/],
    [['time-ops', planPath, '--ops', '0,x'], /^kvr-exec: invalid-argument: --ops: expected a comma-separated list of op ids/],
    [['time-ops', planPath, '--ops', '99'], /^kvr-exec: invalid-argument: op ids\[0\]: 99 is not an op of the plan/],
    [['run', planPath, '--links', planPath], /^kvr-exec: invalid-argument: links: unknown field "schema"/],
  ])('%j exits 2 with one line', (args, message) => {
    const result = spawnSync(kvrExec, args, { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
  });
});
