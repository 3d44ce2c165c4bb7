import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { projectRoot } from '../../cli/project-root.js';
import { sharedMeasurementsPath } from '../../notebooks/lib/setting.js';
import { runCli } from '../../cli/main.js';
import { MemoryIo } from '../support/memory-io.js';
import { knownAnalyticGpu, probeFileOf } from '../support/analytic-gpu.js';

describe('kvr calibrate --from FILE... --name NAME', () => {
  const probe = probeFileOf(knownAnalyticGpu());

  test('fits a shape profile; simulate with it prints the TTFT with its band and what was extrapolated', async () => {
    const io = new MemoryIo({ 'probe.json': probe });
    expect(await runCli(['calibrate', '--from', 'probe.json', '--name', 'analytic', '--out', 'p.json'], io)).toBe(0);
    expect(io.out).toMatch(/^wrote p.json: shape profile analytic \(PyTorch analytic eager \+ SDPA/);
    expect(io.out).toMatch(/gemm: mean \d+\.\d%, max \d+\.\d% over 20 points/);
    const profile = JSON.parse(io.files.get('p.json')!);
    expect(profile.command).toBe('kvr calibrate --from probe.json --name analytic');
    // Same files, same bits.
    const first = io.files.get('p.json');
    expect(await runCli(['calibrate', '--from', 'probe.json', '--name', 'analytic', '--out', 'p.json'], io)).toBe(0);
    expect(io.files.get('p.json')).toBe(first);

    io.out = '';
    expect(await runCli(['simulate', '--model', 'llama2-7b', '--gpu', 'p.json', '--strategy', 'single', '--context', '32768'], io)).toBe(0);
    expect(io.out).toMatch(/TTFT \d+(\.\d+)? m?s \(±\d+\.\d%\)/);
    expect(io.out).toMatch(/warning: attention c=32768 outside the measured range \[256, 16384\]/);
    io.out = '';
    expect(await runCli(['simulate', '--model', 'llama2-7b', '--gpu', 'p.json', '--strategy', 'single', '--context', '4096', '--json'], io)).toBe(0);
    const result = JSON.parse(io.out);
    expect(result.ttft_band_s[0]).toBeLessThan(result.ttft_s);
    expect(result.extrapolated).toBe(true); // the LM head's m = 1
    expect(result.warnings).toContain('gemm m=1 outside the measured m range [64, 16384]');
    expect(result.ttft_band_s[1]).toBeCloseTo(result.ttft_s * (1 + result.ttft_band), 12);
    // The probe measured elementwise kernels, so memory-bound kernels are inside the band, not a warning.
    expect(result.warnings.some((w: string) => w.startsWith('memory-bound kernels:'))).toBe(false);
    // Every strategy is costed by shape: tensor-parallel shards and ring blocks run, and say what was not measured.
    for (const strategy of ['tp', 'tp-sp', 'ring-kv', 'kvr-e', 'tsp']) {
      io.out = '';
      expect(await runCli(['simulate', '--model', 'llama2-7b', '--gpu', 'p.json', '--gpus', '4', '--strategy', strategy, '--context', '8192', '--json'], io)).toBe(0);
      expect(JSON.parse(io.out).ttft_band).toBeGreaterThan(0);
    }
  }, 60_000);

  test('without --out the profile goes to kvr-out/profiles/<name>.json in the working directory (never the install folder), and --gpu <name> finds it there before a shipped profile of that name', async () => {
    const io = new MemoryIo({ 'probe.json': probe });
    expect(await runCli(['calibrate', '--from', 'probe.json', '--name', 'analytic'], io)).toBe(0);
    expect(io.out).toMatch(/^wrote kvr-out\/profiles\/analytic\.json: shape profile analytic/);
    expect([...io.files.keys()].filter((path) => path.endsWith('.json') && path !== 'probe.json')).toEqual(['kvr-out/profiles/analytic.json']);
    io.out = '';
    expect(await runCli(['simulate', '--model', 'llama2-7b', '--gpu', 'analytic', '--strategy', 'single', '--context', '4096', '--json'], io)).toBe(0);
    expect(JSON.parse(io.out)).toMatchObject({ gpu: 'analytic', gpu_profile: 'calibrated' });
    // A profile calibrated here under a shipped name (h200-pytorch) wins over the shipped one.
    io.files.set('kvr-out/profiles/h200-pytorch.json', io.files.get('kvr-out/profiles/analytic.json')!);
    io.out = '';
    expect(await runCli(['simulate', '--model', 'llama2-7b', '--gpu', 'h200-pytorch', '--strategy', 'single', '--context', '4096', '--json'], io)).toBe(0);
    expect(JSON.parse(io.out).gpu).toBe('analytic');
  }, 60_000);

  test.each([
    [['calibrate', '--from', 'bad.json', '--name', 'x'], /^kvr: --from bad.json: schema: expected one of kvr-measurements\/h200-pytorch-microbench@1, kvr-measurements\/torch-probe@1 \(got "nope@1"\)$/],
    [['calibrate', '--from', 'probe.json'], /^kvr: --name: is required with --from/],
    [['calibrate', '--from', 'probe.json', '--name', 'x', '--stack', 'jax'], /^kvr: --stack: expected one of eager, fused \(got "jax"\)$/],
    [['calibrate', '--from', 'probe.json', '--name', 'x', '--repeats', '3'], /^kvr: --from: fits files; it takes no executor flags \(got --repeats\)$/],
    [['calibrate', '--stack', 'eager'], /^kvr: --stack: only with --from FILE\.\.\.$/],
    [['calibrate', '--from', 'missing.json', '--name', 'x'], /^kvr: --from: cannot read "missing.json"/],
  ])('%j', async (argv, message) => {
    const io = new MemoryIo({ 'bad.json': '{"schema": "nope@1"}', 'probe.json': probe });
    expect(await runCli(argv, io)).toBe(2);
    expect(io.err.trimEnd().split('\n')).toHaveLength(1);
    expect(io.err.trimEnd()).toMatch(message);
  });
});

describe('kvr plan and shape profiles', () => {
  test('the band of a shape profile is its worst op class leave-one-out error (mean or max); a plan meets a target only at the band upper edge', async () => {
    const { gpuBand } = await import('../../cli/commands/plan.js');
    const io = new MemoryIo({ 'probe.json': probeFileOf(knownAnalyticGpu()) });
    expect(await runCli(['calibrate', '--from', 'probe.json', '--name', 'analytic', '--out', 'p.json'], io)).toBe(0);
    const cv = JSON.parse(io.files.get('p.json')!).fit.cv;
    const mean = gpuBand(io, 'p.json', 'llama2-7b', 'mean');
    expect(mean.e).toBe(Math.max(cv.gemm.mean, cv.attention.mean, cv.memory.mean));
    expect(mean.note).toMatch(/mean leave-one-out kernel error of the shape profile/);
    expect(gpuBand(io, 'p.json', 'llama2-7b', 'max').e).toBe(Math.max(cv.gemm.max, cv.attention.max, cv.memory.max));
  }, 60_000);
});

describe('the shipped h200-pytorch profile', () => {
  test('--gpu h200-pytorch resolves to calibration/profiles/h200-pytorch.json: TTFT with its band', async () => {
    const io = new MemoryIo();
    expect(await runCli(['simulate', '--model', 'llama2-7b', '--gpu', 'h200-pytorch', '--strategy', 'single', '--context', '16384', '--json'], io)).toBe(0);
    const result = JSON.parse(io.out);
    expect(result).toMatchObject({ gpu: 'h200-pytorch', gpu_profile: 'calibrated', uncalibrated: false });
    expect(result.ttft_band).toBeGreaterThan(0.01);
    expect(result.ttft_band).toBeLessThan(0.1);
  }, 60_000);

  // The shared file where it sits beside the repository, else the repository's byte-identical copy.
  const source = sharedMeasurementsPath('h200-pytorch-microbench.json');
  test('its recorded command, with the --out calibration/README.md gives, reproduces it bit for bit', async () => {
    const committed = readFileSync(join(projectRoot(), 'calibration', 'profiles', 'h200-pytorch.json'), 'utf8');
    const command = JSON.parse(committed).command as string;
    // The profile records what it depends on; --out (where it is written) is not part of that.
    expect(command).toBe('kvr calibrate --from ../shared/measurements/h200-pytorch-microbench.json --name h200-pytorch');
    const documented = `${command} --out calibration/profiles/h200-pytorch.json`;
    expect(readFileSync(join(projectRoot(), 'calibration', 'README.md'), 'utf8')).toContain(documented.replace(/^kvr /, 'npx kvr '));
    const io = new MemoryIo({ '../shared/measurements/h200-pytorch-microbench.json': readFileSync(source, 'utf8') });
    expect(await runCli(documented.split(' ').slice(1), io)).toBe(0);
    expect(io.files.get('calibration/profiles/h200-pytorch.json')).toBe(committed);
  }, 120_000);
});
