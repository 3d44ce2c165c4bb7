import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import type { Plan } from '../../sim/plan/plan.js';
import { MemoryIo } from '../support/memory-io.js';

// kvr export-plan and kvr exec (cli/commands) with the strategies the executor runs on its CPU
// backend only: collectives written out as transfers, and the CUDA backend refused in one line.

describe('kvr export-plan and kvr exec with ring-kv and tensor-parallel strategies', () => {
  const tinyJson = readFileSync(new URL('../../native/scripts/models/tiny-llama.json', import.meta.url), 'utf8');
  async function cli(argv: string[], io = new MemoryIo({ 'tiny.json': tinyJson })) {
    const code = await runCli(argv, io);
    return { code, out: io.out, err: io.err, io };
  }

  test.each([
    ['tp', ['--gpus', '2', '--collective', 'direct']],
    ['tp-sp', ['--gpus', '2']],
    ['ring-kv', ['--gpus', '3']],
  ])('exec runs %s on the CPU backend beside the simulated TTFT', async (strategy, extra) => {
    const { code, out, err } = await cli(['exec', '--model', 'tiny.json', '--strategy', strategy, '--context', '96', '--repeats', '1', '--warmup', '0', ...extra]);
    expect([code, err]).toEqual([0, '']);
    expect(out).toMatch(new RegExp(`^tiny-llama, 96 tokens, ${strategy} on \\d rank\\(s\\): cpu backend`));
    expect(out).toMatch(/; simulated /);
  });

  test('export-plan writes collectives out as transfers, and exec runs that file', async () => {
    const io = new MemoryIo({ 'tiny.json': tinyJson });
    expect((await cli(['export-plan', '--model', 'tiny.json', '--strategy', 'tp', '--gpus', '2', '--context', '64'], io)).code).toBe(0);
    const plan = JSON.parse(io.out) as Plan;
    expect(plan.ops.some((op) => op.kind === 'collective')).toBe(false);
    expect(plan.ops.some((op) => op.kind === 'transfer' && op.name === 'reducescatter' && op.payload === 'hidden')).toBe(true);
    io.files.set('plan.json', io.out);
    io.out = '';
    const { code, out } = await cli(['exec', 'plan.json', '--json', '--warmup', '0', '--repeats', '1'], io);
    expect(code).toBe(0);
    expect(JSON.parse(out).transfers).toHaveLength(plan.ops.filter((op) => op.kind === 'transfer').length);
  });

  test('exec --backend cuda refuses tensor-parallel and ring-kv plans in one line', async () => {
    const { code, out, err } = await cli(['exec', '--model', 'tiny.json', '--strategy', 'tp', '--gpus', '2', '--context', '64', '--backend', 'cuda']);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(err).toMatch(/^kvr: --strategy: tp plans run on the cpu backend only; the cuda backend runs single, tsp, tsp-causal, kvr, kvr-e, kvr-s, kvr-p plans/);
  });
});
