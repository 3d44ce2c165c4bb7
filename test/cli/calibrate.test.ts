import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { gpuProfileFromJson } from '../../sim/hardware/gpu-profile.js';
import { MemoryIo } from '../support/memory-io.js';

describe('kvr calibrate and kvr validate', () => {
  test('calibrate writes a profile and prints the fit error', async () => {
    const io = new MemoryIo();
    const code = await runCli(['calibrate', '--model', 'tiny-llama', '--tokens', '16,64', '--prefixes', '0,64', '--repeats', '1', '--warmup', '0', '--out', 'p.json'], io);
    expect(code).toBe(0);
    expect(io.out).toMatch(/^wrote p.json: profile cpu on cpu/);
    expect(io.out).toMatch(/tiny-llama attn: mean \d+\.\d%, max \d+\.\d% over \d+ shapes between grid points/);
    expect(io.out).toMatch(/transfers: overhead /);
    const gpu = gpuProfileFromJson(JSON.parse(io.files.get('p.json')!));
    expect(gpu.profile).toBe('calibrated');
    // The profile is usable straight away as --gpu FILE.
    io.out = '';
    expect(await runCli(['simulate', '--model', 'tiny-llama', '--gpu', 'p.json', '--gpus', '2', '--bandwidth', '1 GB/s', '--context', '100', '--json'], io)).toBe(0);
    expect(JSON.parse(io.out)).toMatchObject({ gpu: 'cpu', gpu_profile: 'calibrated', uncalibrated: false });
    // The executor's timings also go through the shape-profile fit, in the probe's format.
    const measurements = JSON.parse(io.files.get('p.measurements.json')!);
    expect(measurements.schema).toBe('kvr-measurements/torch-probe@1');
    expect(measurements.attention.length).toBeGreaterThan(0);
    expect(measurements.gemm.length).toBeGreaterThan(0);
    io.out = '';
    expect(await runCli(['calibrate', '--from', 'p.measurements.json', '--name', 'cpu-exec', '--base', 'h100-sxm', '--stack', 'fused', '--out', 's.json'], io)).toBe(0);
    expect(io.out).toMatch(/attention: mean \d+\.\d%/);
  }, 60_000);

  test.each([
    [['calibrate', '--backend', 'tpu'], /^kvr: --backend: expected one of cpu, cuda/],
    [['calibrate', '--backend', 'cuda'], /^kvr: --name: is required with --backend cuda/],
    [['calibrate', '--tokens', '16,,32'], /^kvr: --tokens: expected a comma-separated list/],
    [['calibrate', '--link-bandwidth', '0'], /^kvr: --link-bandwidth: must be > 0/],
    [['validate', '--gpu', 'a100-80g'], /^kvr: --gpu: a100-80g has no calibrated profile \(kvr-out\/profiles\/a100-80g.json or calibration\/profiles\/a100-80g.json\); run kvr calibrate first$/],
    [['validate', '--backend', 'cuda'], /^kvr: --gpu: is required with --backend cuda/],
  ])('%j', async (argv, message) => {
    const io = new MemoryIo();
    expect(await runCli(argv, io)).toBe(2);
    expect(io.err.trimEnd().split('\n')).toHaveLength(1);
    expect(io.err.trimEnd()).toMatch(message);
  });
});
