/**
 * The bad inputs behind issue 13 (hangs, unbounded memory, stack overflows, nonsense accepted),
 * run through the built CLI (bin/kvr.js over dist/, as a user runs it; `npm test` builds dist
 * first). Each must exit 2 with exactly one line on stderr, within 10 s. Add a row for every bad
 * input found; keep each cheap.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/kvr.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kvr-corpus-'));
const hasProc = existsSync('/proc/self');

function kvr(args: string[], env: Record<string, string> = {}) {
  const started = performance.now();
  const run = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
  return { ...run, seconds: (performance.now() - started) / 1000 };
}

beforeAll(() => {
  const noisy = {
    nodes: [{ id: 'gpu0', kind: 'gpu' }, { id: 'gpu1', kind: 'gpu' }, { id: 'sw', kind: 'switch' }],
    links: [
      { a: 'gpu0', b: 'sw', bandwidth: '300 GB/s', latency: '1 us' },
      { a: 'gpu1', b: 'sw', bandwidth: '300 GB/s', latency: '1 us', noise: { period: '1 ns', min_fraction: 0.5, seed: 7 } },
    ],
  };
  writeFileSync(join(dir, 'noisy.json'), JSON.stringify(noisy));
  writeFileSync(join(dir, 'deep.json'), `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
  const exported = spawnSync(process.execPath, [bin, 'export-plan', '--model', 'tiny-llama', '--strategy', 'single', '--context', '64'], { encoding: 'utf8' });
  expect(exported.status).toBe(0);
  const plan = JSON.parse(exported.stdout) as { ops: { flops: unknown }[] } & Record<string, unknown>;
  for (const [name, flops] of [['neg', -1], ['huge', 1e300], ['lots', 'lots']] as const) {
    const copy = structuredClone(plan);
    copy.ops[0]!.flops = flops;
    writeFileSync(join(dir, `plan-${name}.json`), JSON.stringify(copy));
  }
  writeFileSync(join(dir, 'plan-extra.json'), JSON.stringify({ ...plan, extra: 1 }));
  writeFileSync(join(dir, 'empty-axes.yaml'), 'axes: {}\n');
  writeFileSync(join(dir, 'spec.txt'), 'axes:\n  context: [1024]\n');
  writeFileSync(join(dir, 'locked.yaml'), 'axes:\n  context: [1024]\n  gpus: [2]\n');
  // A live owner: this test's own process.
  mkdirSync(join(dir, 'kvr-out'), { recursive: true });
  writeFileSync(join(dir, 'kvr-out', 'locked.lock'), `${process.pid}\n`);
  mkdirSync(join(dir, 'a-folder'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Case = [string, string[], RegExp, Record<string, string>?];

const CASES: Case[] = [
  ['link noise period of 1 ns on a 65k context (grew past 5.8 GB, never ended)', ['simulate', '--topology', 'noisy.json', '--gpus', '2', '--context', '65536', '--strategy', 'kvr-e'], /^kvr: topology\.links\[1\]\.noise\.period: 1 ns gives more than 100000 noise periods/],
  // Simulate holds only a sample of the layers (issue 17), so the guard counts the sample's memory.
  ['tsp, direct collective, 512 GPUs, 1M tokens (a 6-layer sample alone needs 13 GB)', ['simulate', '--strategy', 'tsp', '--collective', 'direct', '--gpus', '512', '--context', '1000000'], /^kvr: --gpus: tsp with the direct collective on 512 GPUs with a sample of 6 of its 32 layers needs about 13 GB of memory to simulate .*limit 2\.0 GB/],
  ['--model nested 100,000 deep (stack overflow, exit 1)', ['simulate', '--model', 'deep.json'], /^kvr: --model: "deep\.json" is nested more than 64 levels deep/],
  ['exec of a plan nested 100,000 deep', ['exec', 'deep.json'], /^kvr: PLAN: "deep\.json" is nested more than 64 levels deep/],
  ['exec plan with flops -1', ['exec', 'plan-neg.json'], /^kvr: plan\.ops\[0\]\.flops: expected the op's matmul FLOPs, a number >= 0 \(got -1\)$/],
  ['exec plan with flops 1e300', ['exec', 'plan-huge.json'], /^kvr: plan\.ops\[0\]\.flops: expected \d+, the matmul FLOPs of qkv/],
  ['exec plan with flops "lots"', ['exec', 'plan-lots.json'], /^kvr: plan\.ops\[0\]\.flops: expected the op's matmul FLOPs, a number >= 0 \(got "lots"\)$/],
  ['exec plan with an unknown top-level key', ['exec', 'plan-extra.json'], /^kvr: plan\.extra: unknown key/],
  ['sweep spec with axes: {}', ['sweep', 'empty-axes.yaml', '--jobs', '0'], /^kvr: spec\.axes: is empty/],
  ['sweep spec with a .txt extension', ['sweep', 'spec.txt', '--jobs', '0'], /^kvr: spec: "spec\.txt": expected a \.yaml, \.yml, \.json or \.csv file/],
  ['sweep into an output a live sweep holds', ['sweep', 'locked.yaml', '--jobs', '0'], /^kvr: --out: "kvr-out\/locked" is being written by another kvr run \(pid \d+, lock file "kvr-out\/locked\.lock"\)/],
  ['calibrate --name ../../etc/x (wrote outside calibration/profiles/)', ['calibrate', '--name', '../../etc/x'], /^kvr: --name: expected a profile name/],
  ['calibrate --out a folder (failed after the whole measurement)', ['calibrate', '--out', 'a-folder'], /^kvr: --out: cannot write "a-folder": is a folder; name a file$/],
  ['simulate --trace a folder', ['simulate', '--gpus', '2', '--context', '1024', '--trace', 'a-folder'], /^kvr: --trace: cannot write "a-folder": is a folder/],
  ['report with a SOURCE_DATE_EPOCH that is not a number', ['report', '--quick', '--out', 'r'], /^kvr: SOURCE_DATE_EPOCH: expected whole seconds since 1970/, { SOURCE_DATE_EPOCH: 'yesterday' }],
  ...(hasProc
    ? ([
        ['report --out /proc/nope (looped forever in mkdir)', ['report', '--quick', '--out', '/proc/nope'], /^kvr: --out: cannot write "\/proc\/nope": ENOENT/],
        ['plot --out /proc/nope', ['plot', 'ttft-vs-context', '--out', '/proc/nope/figures'], /^kvr: --out: cannot write "\/proc\/nope\/figures": ENOENT/],
      ] as Case[])
    : []),
];

describe('bad-input corpus: exit 2, one line on stderr, within 10 s', () => {
  test.each(CASES)('%s', (_name, args, message, env) => {
    const run = kvr(args, env);
    expect(run.error).toBeUndefined();
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.endsWith('\n')).toBe(true);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr.trimEnd()).toMatch(message);
    expect(run.seconds).toBeLessThan(10);
  }, 30_000);
});

describe('beyond the corpus', () => {
  test("the executor's memory guard compares with available memory (MemAvailable), not the machine's total: exit 4", () => {
    // A MemAvailable of 1 MB (the guard reads KVR_MEMINFO in /proc/meminfo's format).
    writeFileSync(join(dir, 'meminfo'), 'MemTotal:       1099511627776 kB\nMemFree:        1024 kB\nMemAvailable:   1024 kB\n');
    const run = kvr(['exec', '--model', 'tiny-llama', '--strategy', 'single', '--context', '64', '--warmup', '0', '--repeats', '1'], { KVR_MEMINFO: join(dir, 'meminfo') });
    expect(run.status).toBe(4);
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^kvr: out-of-memory: out of memory: the plan needs [\d.]+ GB on the CPU, 0\.0 GB is available \(MemAvailable/);
  }, 30_000);

  test('two sweeps of one spec into one output, started together: one writes, the other exits 2 or finds the rows done; every row once', async () => {
    const sub = join(dir, 'race');
    mkdirSync(sub);
    writeFileSync(join(sub, 's.yaml'), 'axes:\n  context: [1024, 2048, 4096]\n  gpus: [2, 4]\n');
    const start = () =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [bin, 'sweep', 's.yaml', '--jobs', '0'], { cwd: sub });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('close', (code) => resolve({ code, stderr }));
      });
    const runs = await Promise.all([start(), start()]);
    for (const run of runs) {
      expect([0, 2]).toContain(run.code);
      if (run.code === 2) expect(run.stderr).toMatch(/^kvr: --out: "kvr-out\/s" is being written by another kvr run \(pid \d+, lock file "kvr-out\/s\.lock"\)[^\n]*\n$/);
    }
    expect(runs.some((run) => run.code === 0)).toBe(true);
    const rows = readFileSync(join(sub, 'kvr-out', 's.jsonl'), 'utf8').trim().split('\n');
    expect(rows).toHaveLength(6);
    expect(new Set(rows.map((r) => (JSON.parse(r) as { id: string }).id)).size).toBe(6);
    expect(readFileSync(join(sub, 'kvr-out', 's.csv'), 'utf8').trim().split('\n')).toHaveLength(7);
    expect(existsSync(join(sub, 'kvr-out', 's.lock'))).toBe(false);
  }, 30_000);
});
