import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { describeDevices, executePlan, timeOps } from '../../native/js/executor.js';
import { modelFromJson } from '../../sim/model/model-spec.js';
import { buildPlan } from '../../sim/plan/build-plan.js';
import { rejection } from '../support/native-rejection.js';

// SM partitions (BackendOptions::sm_partitions) reach the backends through the addon's
// `smPartitions` and kvr-exec's --sm-partitions. Without a GPU only the plumbing and the
// rejections can be checked; native/scripts/gpu-calibrate.sh exercises the partitions themselves.
const tinyLlama = modelFromJson(
  JSON.parse(readFileSync(new URL('../../native/scripts/models/tiny-llama.json', import.meta.url), 'utf8')),
);
const plan = buildPlan({ strategy: 'kvr-e', model: tinyLlama, context: 64, gpus: 2 });
const once = { warmup: 0, repeats: 1 };
const cudaBuild = ((await describeDevices()) as { build: { cuda: boolean } }).build.cuda;

describe('smPartitions option', () => {
  test('the cpu backend rejects it: it has no SMs', async () => {
    const error = await rejection(executePlan(plan, { ...once, smPartitions: 2 }));
    expect(error.code).toBe('invalid-argument');
    expect(error.message).toMatch(/^sm_partitions: the cpu backend has no SMs; ranks are threads/);
    expect(error.where).toMatch(/cpu\/cpu_backend\.cpp:\d+$/);
    const timing = await rejection(timeOps(plan, [0], { ...once, smPartitions: 1 }));
    expect(timing.code).toBe('invalid-argument');
  });

  test('0 means whole devices, as when it is absent', async () => {
    const run = await executePlan(plan, { ...once, smPartitions: 0 });
    expect(run.measurement.backend).toBe('cpu');
  });

  test('a value that is not a partition count is rejected with the option named', async () => {
    for (const smPartitions of [-1, 5000]) {
      const error = await rejection(executePlan(plan, { ...once, smPartitions }));
      expect([error.code, error.message]).toEqual(['invalid-argument', 'options.smPartitions: expected an integer in 0..4096']);
    }
    const error = await rejection(executePlan(plan, { ...once, smPartitions: '2' as unknown as number }));
    expect([error.code, error.message]).toEqual(['invalid-argument', 'options.smPartitions: expected a number']);
  });

  // A CUDA build skips this, visibly (.ci/allowed-skips.json): gpu-calibrate.sh covers the
  // partitions themselves on the GPU host.
  test.skipIf(cudaBuild)('the cuda backend in a build without CUDA: built-without-cuda, before the partitions', async () => {
    const error = await rejection(executePlan(plan, { ...once, backend: 'cuda', smPartitions: 8 }));
    expect(error.code).toBe('built-without-cuda');
  });
});

describe('kvr-exec --sm-partitions', () => {
  const kvrExec = fileURLToPath(new URL('../../build/kvr-exec', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'kvr-exec-sm-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const planPath = join(dir, 'plan.json');
  writeFileSync(planPath, JSON.stringify(plan));
  const run = (args: string[]) => spawnSync(kvrExec, args, { encoding: 'utf8' });

  test('run, time-ops and compare take the flag', () => {
    expect(run(['run', planPath, '--warmup', '0', '--repeats', '1', '--sm-partitions', '0']).status).toBe(0);
    expect(run(['time-ops', planPath, '--ops', '0', '--repeats', '1', '--sm-partitions=0']).status).toBe(0);
    // compare applies it to the cuda backend only: the cpu reference runs as always.
    const compared = run(['compare', planPath, '--backends', 'cpu,cpu', '--sm-partitions', '4']);
    expect(compared.status).toBe(0);
    expect(JSON.parse(compared.stdout)).toMatchObject({ schema: 'kvr-exec/compare@1', logits_max_rel_error: 0 });
  });

  test.each([
    [['run', planPath, '--sm-partitions', '2'], 2, /^kvr-exec: invalid-argument: sm_partitions: the cpu backend has no SMs; ranks are threads/],
    [['time-ops', planPath, '--ops', '0', '--sm-partitions', 'x'], 2, /^kvr-exec: invalid-argument: --sm-partitions: expected an integer in 0\.\.4096 \(got "x"\)/],
    [['run', planPath, '--sm-partitions', '-1'], 2, /^kvr-exec: invalid-argument: --sm-partitions: expected an integer in 0\.\.4096/],
  ])('%j exits %i with one line', (args, status, message) => {
    const result = run(args);
    expect(result.status).toBe(status);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
  });

  test('--help documents it', () => {
    const help = run(['--help']).stdout;
    expect(help.match(/--sm-partitions N/g)!.length).toBeGreaterThanOrEqual(3);
  });
});
