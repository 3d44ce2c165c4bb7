import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { defaultProfilePath } from '../../cli/project-root.js';
import type { ValidationReport } from '../../calibration/validate.js';
import { MemoryIo } from '../support/memory-io.js';

// kvr calibrate/validate --sm-partitions (slice profiles of one GPU) and the flags that keep a
// GPU session's matrix small. The partitions themselves need a GPU (native/scripts/gpu-calibrate.sh).
describe('kvr calibrate and kvr validate: SM partitions and matrix flags', () => {
  test.each([
    [['calibrate', '--sm-partitions', '2'], /^kvr: --sm-partitions: only applies to --backend cuda: the cpu backend has no SMs to split \(its ranks are threads\)$/],
    [['calibrate', '--backend', 'cuda', '--name', 'h200', '--sm-partitions', 'x'], /^kvr: --sm-partitions: expected an integer in 0\.\.4096/],
    [['calibrate', '--backend', 'cuda', '--name', 'h200/16sm', '--sm-partitions', '8'], /^kvr: --name: with --sm-partitions, the GPU's name \(e\.g\. h200\)/],
    [['calibrate', '--link-tokens', '0'], /^kvr: --link-tokens: expected an integer in 1\.\./],
    [['validate', '--sm-partitions', '2'], /^kvr: --sm-partitions: only applies to --backend cuda/],
    [['validate', '--gpu-whole', 'cpu'], /^kvr: --gpu-whole: only applies with --sm-partitions/],
    [['validate', '--backend', 'cuda', '--sm-partitions', '8'], /^kvr: --gpu: is required with --backend cuda: the calibrated profile to validate \(e\.g\. h200, or h200\/16sm with --sm-partitions\)$/],
    [['validate', '--backend', 'cuda', '--gpu', 'h200/16sm', '--sm-partitions', '8', '--single', 'none'], /^kvr: --gpu: cannot read "h200\/16sm"/],
  ])('%j', async (argv, message) => {
    const io = new MemoryIo();
    expect(await runCli(argv, io)).toBe(2);
    expect(io.err.trimEnd().split('\n')).toHaveLength(1);
    expect(io.err.trimEnd()).toMatch(message);
  });

  test('a profile named with a "/" is found under calibration/profiles/ before any file of that name', async () => {
    const io = new MemoryIo();
    const calibrated = ['calibrate', '--model', 'tiny-llama', '--tokens', '16,64', '--prefixes', '0,64', '--link-tokens', '16', '--repeats', '1', '--warmup', '0', '--out', 'p.json'];
    expect(await runCli(calibrated, io)).toBe(0);
    const profile = JSON.parse(io.files.get('p.json')!) as { samples: { transfers: unknown[] } };
    expect(profile.samples.transfers).toHaveLength(1); // --link-tokens 16
    io.files.set(defaultProfilePath('slice-test/8sm'), io.files.get('p.json')!);
    io.out = '';
    expect(await runCli(['simulate', '--model', 'tiny-llama', '--gpu', 'slice-test/8sm', '--gpus', '2', '--bandwidth', '1 GB/s', '--context', '100', '--json'], io)).toBe(0);
    expect(JSON.parse(io.out)).toMatchObject({ gpu_profile: 'calibrated', uncalibrated: false });

    // --single/--ranks/--contexts choose the matrix; rows name their profile and partitions.
    io.out = '';
    io.err = '';
    const code = await runCli(['validate', '--gpu', 'slice-test/8sm', '--single', 'none', '--ranks', '2', '--contexts', '96', '--repeats', '1', '--out', 'v'], io);
    expect([code, io.err.split('\n').filter((l) => l.startsWith('kvr:'))]).toEqual([0, []]);
    const report = JSON.parse(io.files.get('v/report.json')!) as ValidationReport;
    expect(report.rows.map((r) => [r.strategy, r.gpus, r.context, r.sm_partitions])).toEqual([
      ['tsp', 2, 96, 0], ['kvr-e', 2, 96, 0], ['kvr-s', 2, 96, 0],
      ['tsp', 2, 96, 0], ['kvr-e', 2, 96, 0], ['kvr-s', 2, 96, 0],
    ]);
    expect(new Set(report.rows.map((r) => r.profile))).toEqual(new Set(['cpu']));
  }, 60_000);

  test('no case left to run is an input error', async () => {
    const io = new MemoryIo();
    expect(await runCli(['validate', '--single', 'none', '--ranks', 'none'], io)).toBe(2);
    expect(io.err).toMatch(/^kvr: --ranks: no validation case is left to run/);
  });
});
