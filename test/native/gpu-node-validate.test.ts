import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import type { PaperGridPlan } from '../../calibration/paper-grid.js';

// native/scripts/gpu-node-validate.sh --dry-run: the paper's node (issue 16 item 7) on the shims of
// test/native/gpu-run-shims, KVR_SHIM_GPUS GPUs. The plan is the real planner's; the runs are the
// shim node's, so this checks the order, the per-run JSON and the summary, not the numbers.
const root = fileURLToPath(new URL('../..', import.meta.url));
const script = join(root, 'native/scripts/gpu-node-validate.sh');
const dir = mkdtempSync(join(tmpdir(), 'gpu-node-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], gpus = '2') {
  return spawnSync('bash', [script, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, KVR_SHIM_GPUS: gpus, KVR_GPU_RUN_PROBE: join(root, 'test/native/gpu-run-shims/torch_probe.py') },
  });
}

describe('gpu-node-validate.sh --dry-run', () => {
  test('a 2-GPU host: the calibration, then the 2-GPU runs in the plan\'s order on GPUs 0 and 1, each with its JSON; the summary lists them', () => {
    const out = join(dir, 'two');
    const r = run(['--dry-run', '--budget-s', '400', '--archive', join(dir, 'two.tgz'), out]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const plan = JSON.parse(readFileSync(join(out, 'plan.json'), 'utf8')) as PaperGridPlan;
    expect(plan.host).toEqual({ gpus: 2, gpu: 'h200' });
    expect(plan.runs.length).toBeGreaterThan(1);
    expect(plan.runs.every((x) => x.devices.join() === '0,1')).toBe(true);
    expect(plan.skipped.filter((s) => /^needs [48] GPUs, the host has 2$/.test(s.why))).toHaveLength(40);
    const files = readdirSync(join(out, 'runs')).filter((f) => /^\d\d-.*\.json$/.test(f)).sort();
    expect(files).toEqual(plan.runs.map((x) => `${String(x.index).padStart(2, '0')}-${x.id}.json`));
    for (const [i, f] of files.entries()) {
      const doc = JSON.parse(readFileSync(join(out, 'runs', f), 'utf8')) as Record<string, unknown>;
      expect(doc).toMatchObject({ schema: 'kvr-gpu-node/run@1', index: i + 1, id: plan.runs[i]!.id, status: 'ok', rc: 0, dry_run: true, devices: plan.runs[i]!.devices });
    }
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { schema: string; host_gpus: number; runs: { id: string }[] };
    expect(summary).toMatchObject({ schema: 'kvr-gpu-node@1', host_gpus: 2, gpu: 'h200' });
    expect(summary.runs.map((x) => x.id)).toEqual(plan.runs.map((x) => x.id));
    expect(existsSync(join(dir, 'two.tgz'))).toBe(true);
  });

  test('the attention bench runs in the setup, after the build and before the calibration; every run times the tiling it picked', () => {
    const out = join(dir, 'two');
    const steps = readFileSync(join(out, 'setup', 'steps.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: string; status: string });
    expect(steps.map((s) => [s.step, s.status])).toEqual([['preflight', 'ok'], ['build', 'ok'], ['attention', 'ok']]);
    // The shim's bench: flash-128x64-w8 250 TF/s, flash-128x64-w4 300, flash-128x128-w8 400 but failing
    // the check; the shim node prints the KVR_CUDA_ATTENTION it was given.
    const plan = JSON.parse(readFileSync(join(out, 'plan.json'), 'utf8')) as PaperGridPlan;
    expect(plan.runs[0]!.kind).toBe('calibrate');
    for (const x of plan.runs) {
      expect(readFileSync(join(out, 'runs', `${x.id}.out`), 'utf8')).toMatch(/^attention kernel: flash-128x64-w4$/m);
    }
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Record<string, unknown>;
    expect(summary).toMatchObject({ attention_kernel: 'flash-128x64-w4', attention_from: 'attention-step' });
  });

  test.each([
    [[], /^gpu-node-validate: usage: /],
    [['--budget-s', '5', 'x'], /^gpu-node-validate: --budget-s expects whole seconds, at least 60, not '5'$/],
    [['--gpus', 'all', 'x'], /^gpu-node-validate: --gpus expects a number of GPUs, at least 1, not 'all'$/],
    [['--bogus', 'x'], /^gpu-node-validate: unknown option --bogus/],
    [['a', 'b'], /^gpu-node-validate: one OUT_DIR only/],
  ])('%j: one line, exit 2', (args, message) => {
    const r = run(args);
    expect(r.status).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(message);
  });

  test('--gpus above what the host has: one line, exit 2, after the preflight', () => {
    const r = run(['--dry-run', '--gpus', '4', join(dir, 'four')], '2');
    expect(r.status).toBe(2);
    expect(r.stderr.trimEnd()).toBe('gpu-node-validate: --gpus 4: the host has 2 GPU(s)');
  });
});
