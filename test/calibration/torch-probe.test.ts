import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { projectRoot } from '../../cli/project-root.js';

/**
 * calibration/probe/torch_probe.py runs on GPU hosts with PyTorch; CI has neither. What CI can
 * check runs here: the probe's own unittest suite (grids, FLOP and byte counts, the budget planner,
 * nccl-tests' bandwidth formulas, the document it writes, and its measuring path on a fake torch),
 * and the promise that --help needs no PyTorch.
 */
const root = projectRoot();
const probe = join(root, 'calibration', 'probe', 'torch_probe.py');

function python(args: string[], env: Record<string, string> = {}) {
  return spawnSync('python3', args, { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
}

describe('torch_probe.py without PyTorch', () => {
  test('python3 -m unittest: the probe\'s pure parts and its measuring path on a fake torch all pass', () => {
    const run = python(['-m', 'unittest', 'discover', '-s', join('calibration', 'probe'), '-p', 'test_*.py']);
    expect(run.error).toBeUndefined();
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/Ran \d+ tests/);
    expect(run.stderr).toMatch(/\nOK/);
  }, 120_000);

  test('--help works without PyTorch installed and names the budget, sections and torchrun', () => {
    // PYTHONNOUSERSITE and an empty PYTHONPATH keep a user's torch out of reach where there is one.
    const run = python([probe, '--help'], { PYTHONPATH: '', PYTHONNOUSERSITE: '1' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('--budget-s');
    expect(run.stdout).toContain('--sections');
    expect(run.stdout).toContain('torchrun --nproc_per_node');
  });

  test('--dry-run plans the default grid within 5 minutes and drops the lowest priorities first under a small budget', () => {
    const full = python([probe, '--dry-run', '--ranks', '8']);
    expect(full.status, full.stderr).toBe(0);
    const estimate = /~([0-9.]+) s estimated; budget 300 s/.exec(full.stdout);
    expect(estimate).not.toBeNull();
    expect(Number(estimate![1])).toBeLessThan(300);
    expect(full.stdout).not.toMatch(/^ {2}drop /m);
    const small = python([probe, '--dry-run', '--budget-s', '40']);
    expect(small.status, small.stderr).toBe(0);
    expect(small.stdout).toContain('keep p0 gemm fp16 qkv k=4096 n=12288');
    expect(small.stdout).toMatch(/^ {2}drop p4 /m);
  });
});
