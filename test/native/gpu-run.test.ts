import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';

// native/scripts/gpu-run.sh --dry-run: the GPU host's one command, run here against the shims of
// test/native/gpu-run-shims (nvidia-smi, nvcc, cmake, ninja, python3, node, kvr-exec).
const root = fileURLToPath(new URL('../..', import.meta.url));
const script = join(root, 'native/scripts/gpu-run.sh');
const shims = join(root, 'test/native/gpu-run-shims');
const dir = mkdtempSync(join(tmpdir(), 'gpu-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// attention before calibrate: calibration times the tiling the attention bench picked.
const STEPS = ['preflight', 'probe', 'build', 'correctness', 'attention', 'calibrate', 'prefill', 'slices'];
// The documented budgets at 480 s (30 60 100 35 45 130 60, slices the rest), scaled to --budget-s 144
// (0.3, rounded to whole seconds): roomy enough for a loaded CI machine, short enough for a test.
const BUDGETS_AT_144 = [9, 18, 30, 11, 14, 39, 18];

interface StepLine { step: string; index: number; status: string; rc: number; elapsed_s: number; limit_s: number; budget_s: number }
interface StepDoc extends StepLine { schema: string; why: string | null; finished: Record<string, unknown>[] }

function dryRun(name: string, args: string[], env: Record<string, string> = {}) {
  const out = join(dir, name);
  const run = spawnSync('bash', [script, '--dry-run', ...args, out], {
    encoding: 'utf8',
    timeout: 150_000,
    env: { ...process.env, KVR_GPU_RUN_PROBE: join(shims, 'torch_probe.py'), ...env },
  });
  const lines = (): StepLine[] =>
    readFileSync(join(out, 'steps.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as StepLine);
  const doc = (step: string): StepDoc => JSON.parse(readFileSync(join(out, `${STEPS.indexOf(step) + 1}-${step}.json`), 'utf8')) as StepDoc;
  return { out, run, lines, doc };
}

describe('gpu-run.sh --dry-run', () => {
  test('runs the eight steps in order under their budgets; a probe sleeping past its budget is killed and still writes its JSON', () => {
    const { out, run, lines, doc } = dryRun('full', ['--budget-s', '144', '--archive', join(dir, 'full.tgz')], { KVR_SHIM_PROBE_SLEEP_S: '300' });
    expect(run.status, run.stderr).toBe(0);
    const steps = lines();
    expect(steps.map((s) => s.step)).toEqual(STEPS);
    expect(steps.slice(0, 7).map((s) => s.budget_s)).toEqual(BUDGETS_AT_144);
    for (const s of steps) {
      expect(s.limit_s).toBeLessThanOrEqual(s.budget_s);
      expect(s.elapsed_s).toBeLessThanOrEqual(s.limit_s + 6); // timeout's --kill-after grace
      const d = doc(s.step);
      expect(d.schema).toBe('kvr-gpu-run/step@1');
      expect(d.status).toBe(s.status);
    }
    expect(steps.map((s) => s.status)).toEqual(['ok', 'timeout', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    const probe = doc('probe');
    expect(probe.why).toMatch(/(killed at|cut to the step's) (its )?18s limit/);
    expect(probe.finished[0]).toMatchObject({ name: 'torch-probe', status: 'timeout' });
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as {
      schema: string; elapsed_s: number; steps: StepDoc[]; digest: { correctness: { pass: boolean; plans: number } };
    };
    expect(summary.schema).toBe('kvr-gpu-run@1');
    expect(summary.steps.map((s) => s.step)).toEqual(STEPS);
    expect(summary.elapsed_s).toBeLessThanOrEqual(144 + 6);
    expect(summary.digest.correctness).toMatchObject({ pass: true, plans: 7 });
    expect(run.stdout).toMatch(/plan:\n\s+probe\s+.*torch_probe\.py\n\s+build\s+ninja, then Makefiles/);
    // The shim's bench: flash-128x64-w8 250 TF/s, flash-128x64-w4 300, flash-128x128-w8 400 but failing
    // the check. Calibration and validation run the fastest passing one, and say so in their JSON.
    expect(doc('attention').finished).toContainEqual({ kernel_for_prefill: 'flash-128x64-w4' });
    expect(doc('calibrate').finished[0]).toEqual({ attention_kernel: 'flash-128x64-w4', from: 'attention-step' });
    for (const sub of ['calibrate', 'validate']) {
      expect(readFileSync(join(out, 'calibrate', `${sub}.out`), 'utf8')).toMatch(/^attention kernel: flash-128x64-w4$/m);
    }
    expect(existsSync(join(dir, 'full.tgz'))).toBe(true);
  });

  test('a step killed in the middle records what it finished; unselected steps do not run', () => {
    const { run, lines, doc } = dryRun('killed', ['--budget-s', '96', '--steps', 'preflight,build,correctness'], {
      KVR_SHIM_SLEEP_ON: 'compare',
    });
    expect(run.status, run.stderr).toBe(0);
    expect(lines().map((s) => [s.step, s.status])).toEqual([['preflight', 'ok'], ['build', 'ok'], ['correctness', 'timeout']]);
    const correctness = doc('correctness');
    expect(correctness.limit_s).toBe(7);
    expect(correctness.finished[0]).toMatchObject({ name: 'compare-check-tiny-falcon-kvr-e-p3', status: 'timeout' });
  });

  test('without a GPU the GPU steps are skipped, each with its reason in its JSON', () => {
    const { run, lines, doc } = dryRun('nogpu', ['--budget-s', '96', '--steps', 'preflight,build,correctness,prefill'], {
      KVR_SHIM_GPUS: '0',
    });
    expect(run.status, run.stderr).toBe(0);
    expect(lines().map((s) => [s.step, s.status])).toEqual([['preflight', 'ok'], ['build', 'ok'], ['correctness', 'skipped'], ['prefill', 'skipped']]);
    expect(doc('correctness').why).toMatch(/no GPU/);
  });

  test('the build falls back from cmake + ninja to cmake + Makefiles', () => {
    const { out, run, doc } = dryRun('make', ['--budget-s', '96', '--steps', 'preflight,build'], { KVR_SHIM_NINJA_FAIL: '1' });
    expect(run.status, run.stderr).toBe(0);
    const build = doc('build');
    expect(build.status).toBe('ok');
    expect(build.finished.filter((f) => String(f['name']).startsWith('cmake')).map((f) => [f['name'], f['status']]).slice(0, 3)).toEqual([
      ['cmake-ninja-configure', 'failed'],
      ['cmake-make-configure', 'ok'],
      ['cmake-make-build', 'ok'],
    ]);
    expect(readFileSync(join(out, 'build-dry-make/generator.txt'), 'utf8').trim()).toBe('Unix Makefiles');
  });

  test('interrupted (SIGTERM): the step in flight is stopped, writes its JSON, and the summary is written', async () => {
    const out = join(dir, 'interrupted');
    const started = join(dir, 'interrupted-probe.pid');
    const child = spawn('bash', [script, '--dry-run', '--budget-s', '96', out], {
      env: { ...process.env, KVR_GPU_RUN_PROBE: join(shims, 'torch_probe.py'), KVR_SHIM_PROBE_SLEEP_S: '300', KVR_SHIM_PROBE_STARTED: started },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const stepLogs = () =>
      ['probe.log', 'probe/torch-probe.log'].map((f) => `${f}: ${existsSync(join(out, f)) ? readFileSync(join(out, f), 'utf8') : '(none)'}`).join('\n');
    // Interrupt once the probe's command is running (it writes its pid before it sleeps), not while
    // it is still starting: a fixed wait raced the start on a loaded machine.
    for (let waited = 0; waited < 60_000 && !existsSync(started); waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(existsSync(started), `the probe never started\n${stepLogs()}`).toBe(true);
    const probePid = Number(readFileSync(started, 'utf8'));
    child.kill('SIGTERM');
    expect(await exited).toBe(130);
    const probe = JSON.parse(readFileSync(join(out, '2-probe.json'), 'utf8')) as StepDoc;
    expect(probe).toMatchObject({ status: 'interrupted', why: 'gpu-run was interrupted' });
    expect(probe.finished[0], stepLogs()).toMatchObject({ name: 'torch-probe', status: 'stopped' });
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { steps: StepDoc[] };
    expect(summary.steps.map((s) => s.step)).toEqual(['preflight', 'probe']);
    // The stopped command does not outlive gpu-run (it is in a process group of its own).
    let alive = true;
    for (let waited = 0; waited < 10_000 && alive; waited += 50) {
      try {
        process.kill(probePid, 0);
        await new Promise((resolve) => setTimeout(resolve, 50));
      } catch {
        alive = false;
      }
    }
    expect(alive, `the probe (pid ${probePid}) still runs`).toBe(false);
  });

  test('bad input: one clear line and a non-zero exit', () => {
    for (const args of [['--budget-s', 'soon', 'x'], ['--steps', 'preflight,warp', 'x'], ['--budget-s', '96']]) {
      const run = spawnSync('bash', [script, ...args], { encoding: 'utf8' });
      expect(run.status).toBe(2);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toMatch(/^gpu-run: /);
    }
  });
});
