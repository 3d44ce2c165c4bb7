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

// The flash kernel's tile loop emulated on the CPU (`attention-check --tiling`, kvr/flash_tiling.hpp):
// the same blocks, warps, key tiles, skips and masks as the CUDA kernel, for every tiling, causal and
// dense-masked. The shapes put the chunk's end inside a block and the prefix off the tile grid (a
// prefix of 1 or 129 puts a warp's last row on a tile start, where an off-by-one skip would bite).
interface TilingResult { tiling: string; causal: boolean; fault: string; visibility_errors: number; max_rel_error: number; pass: boolean }
interface TilingCheck { schema: string; pass: boolean; results: TilingResult[] }

function tilingCheck(...args: string[]): TilingCheck {
  const run = spawnSync(kvrExec, ['attention-check', '--tiling', 'all', ...args], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as TilingCheck;
}

describe('flash tile loop emulated on the CPU', () => {
  test.each([
    ['MHA, hd 128, chunk 200 over 129', ['--heads', '2', '--chunk', '200', '--prefix', '129']],
    ['GQA, hd 64, chunk 300 over 1', ['--heads', '4', '--kv-heads', '2', '--head-dim', '64', '--chunk', '300', '--prefix', '1']],
    ['MQA, hd 64, chunk 64 over 100', ['--heads', '3', '--kv-heads', '1', '--head-dim', '64', '--chunk', '64', '--prefix', '100']],
    ['one query, no prefix', ['--heads', '1', '--head-dim', '64', '--chunk', '1', '--prefix', '0']],
  ])('every tiling sees exactly keys [0, t] and matches the reference: %s', (_name, args) => {
    const out = tilingCheck(...args);
    expect(out.schema).toBe('kvr-exec/flash-tiling-check@1');
    // 7 tilings, causal and dense each, the default first.
    expect(out.results).toHaveLength(14);
    expect(out.results[0]).toMatchObject({ tiling: 'flash-128x64-w8', causal: true });
    for (const r of out.results) expect(r, r.tiling).toMatchObject({ visibility_errors: 0, pass: true });
    expect(out.pass).toBe(true);
  });

  test.each(['skip-diagonal', 'mask-last-row', 'limit-off-by-one'])('a %s slip in the tile arithmetic fails', (fault) => {
    const out = tilingCheck('--heads', '2', '--head-dim', '64', '--chunk', '200', '--prefix', '129', '--tiling-fault', fault);
    expect(out.pass).toBe(false);
    // Every tiling's causal loop is caught; dense mode never skips tiles.
    for (const r of out.results.filter((x) => x.causal)) expect(r.pass, r.tiling).toBe(false);
  });

  test('an unknown tiling is one line and exit 2', () => {
    const run = spawnSync(kvrExec, ['attention-check', '--tiling', 'flash-1x1'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^kvr-exec: invalid-argument: --tiling: expected all\|flash-128x64-w8\|/);
  });
});
