import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

// bench-attention's check of the CUDA attention kernels (native/include/kvr/attention_check.hpp),
// run on the CPU by `kvr-exec attention-check`: the bench's inputs and reference against an output
// computed with a deliberately broken mask.
const kvrExec = fileURLToPath(new URL('../../build/kvr-exec', import.meta.url));

interface Check { fault: string; q_scale: number; rows_checked: number; score_std: number; max_rel_error: number; tolerance: number; pass: boolean }

function check(...args: string[]): Check {
  const run = spawnSync(kvrExec, ['attention-check', ...args], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Check;
}

// A chunk of 256 queries over a prefix of 1024 keys (the default shape): the chunk-over-prefix
// boundary and the causal diagonal both fall inside the checked rows.
describe('attention check (CPU reference path)', () => {
  test('Q is scaled so the scaled scores have a standard deviation of 3 or more, and a correct output passes', () => {
    const ok = check();
    expect(ok.q_scale).toBe(10.5);
    expect(ok.score_std).toBeGreaterThanOrEqual(3);
    expect(ok.tolerance).toBe(2e-2);
    expect(ok).toMatchObject({ fault: 'none', max_rel_error: 0, pass: true });
    // 64 spread rows plus both sides of the 64- and 128-row tile boundaries.
    expect(ok.rows_checked).toBeGreaterThan(64);
  });

  test.each(['diagonal-tile', 'prefix-tile', 'off-by-one'])('a %s mask fault fails the check', (fault) => {
    const broken = check('--fault', fault);
    expect(broken.pass).toBe(false);
    expect(broken.max_rel_error).toBeGreaterThan(2e-2);
  });

  test('sharp scores make every fault stand out more than the old uniform inputs did', () => {
    for (const fault of ['diagonal-tile', 'prefix-tile', 'off-by-one']) {
      const sharp = check('--fault', fault);
      const uniform = check('--fault', fault, '--q-scale', '1');
      expect(uniform.score_std).toBeLessThan(0.5);
      expect(sharp.max_rel_error).toBeGreaterThan(2 * uniform.max_rel_error);
    }
  });

  test('grouped-query attention over a prefix: a broken prefix tile fails the check', () => {
    const gqa = check('--heads', '8', '--kv-heads', '2', '--head-dim', '64', '--chunk', '192', '--prefix', '640', '--fault', 'prefix-tile');
    expect(gqa.score_std).toBeGreaterThanOrEqual(3);
    expect(gqa.pass).toBe(false);
  });

  test('bad input: one line and exit 2', () => {
    for (const args of [['--fault', 'sideways'], ['--q-scale', '-1'], ['--heads', '6', '--kv-heads', '4']]) {
      const run = spawnSync(kvrExec, ['attention-check', ...args], { encoding: 'utf8' });
      expect(run.status).toBe(2);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toMatch(/^kvr-exec: invalid-argument: /);
    }
  });
});
