import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { MemoryIo } from '../support/memory-io.js';

const tinyLlama = readFileSync(new URL('../../native/scripts/models/tiny-llama.json', import.meta.url), 'utf8');

async function run(argv: string[], io = new MemoryIo({ 'tiny.json': tinyLlama })) {
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err, io };
}

describe('kvr export-plan, exec and devices', () => {
  test('export-plan prints the plan simulate runs', async () => {
    const { code, out } = await run(['export-plan', '--model', 'tiny.json', '--strategy', 'tsp', '--gpus', '2', '--context', '100']);
    expect(code).toBe(0);
    const plan = JSON.parse(out);
    expect([plan.schema, plan.strategy, plan.gpus, plan.context]).toEqual(['kvr-plan@1', 'tsp', 2, 100]);
  });

  test('exec runs the scenario on the CPU backend and prints measured beside simulated TTFT', async () => {
    const { code, out, err } = await run(['exec', '--model', 'tiny.json', '--strategy', 'kvr-e', '--gpus', '2', '--context', '200', '--repeats', '2']);
    expect([code, err]).toEqual([0, '']);
    expect(out).toMatch(/^tiny-llama, 200 tokens, kvr-e on 2 rank\(s\): cpu backend/);
    expect(out).toMatch(/measured TTFT .* \(median of 2 after 1 warm-up; runs .*\); simulated /);
  });

  test('exec runs a plan file and writes the measurement JSON and trace', async () => {
    const io = new MemoryIo({ 'tiny.json': tinyLlama });
    expect((await run(['export-plan', '--model', 'tiny.json', '--strategy', 'single', '--context', '64'], io)).code).toBe(0);
    io.files.set('plan.json', io.out);
    io.out = '';
    const { code, out } = await run(['exec', 'plan.json', '--json', '--trace', 'measured.json', '--warmup', '0'], io);
    expect(code).toBe(0);
    expect(JSON.parse(out).schema).toBe('kvr-exec/measurement@1');
    expect(JSON.parse(io.files.get('measured.json')!).traceEvents.length).toBeGreaterThan(0);
  });

  test.each([
    [['exec', '--model', 'tiny.json', '--context', '64', '--gpus', '1', '--strategy', 'single', '--backend', 'cuda'], 3, /^kvr: built-without-cuda: built without CUDA.* \(cuda_absent\/cuda_absent\.cpp:\d+\)$/],
    [['exec', 'bad.json'], 2, /^kvr: invalid-plan: /],
    [['exec', 'missing.json'], 2, /^kvr: PLAN: cannot read "missing.json"/],
    [['exec', 'bad.json', '--gpus', '2'], 2, /^kvr: --gpus: does not apply with a plan file/],
    [['exec', '--backend', 'tpu'], 2, /^kvr: --backend: expected one of cpu, cuda/],
    [['exec', '--model', 'llama2-7b', '--strategy', 'single', '--context', '1048576'], 4, /^kvr: out-of-memory: out of memory/],
  ])('%j exits %i with one line', async (argv, exit, message) => {
    const io = new MemoryIo({ 'tiny.json': tinyLlama, 'bad.json': '{"schema": "kvr-plan@1"}' });
    const { code, out, err } = await run(argv as string[], io);
    expect(code).toBe(exit);
    expect(out).toBe('');
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(err.trimEnd()).toMatch(message);
  });

  test('devices reports the build', async () => {
    const { code, out } = await run(['devices']);
    expect(code).toBe(0);
    expect(out).toMatch(/^build: cpu backend yes, cuda backend (yes|no), nccl (yes|no)$/m);
  });
});
