/**
 * Inputs that once hung, crashed or were accepted as nonsense (issue 13, items 5-10), run in
 * process. test/cli/bad-input-corpus.test.ts runs the same bad inputs through bin/kvr.js.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { checkOutput, lockOutput, makeFolders, processIo, type CliIo } from '../../cli/io.js';
import { sourceDate } from '../../cli/commands/report.js';
import { reportHtml } from '../../cli/report-html.js';
import { memoryCappedJobs } from '../../cli/sweep/run.js';
import { expandSpec, specMemoryBound } from '../../cli/sweep/spec.js';
import { loadSweepSpec } from '../../cli/config/load-config.js';
import { MAX_DOCUMENT_DEPTH } from '../../cli/load-json.js';
import { MemoryIo } from '../support/memory-io.js';
import { BYTES_PER_ENGINE_OP, BYTES_PER_PLAN_EDGE, BYTES_PER_PLAN_OP, estimateSimulationBytes } from '../../sim/plan/build-plan.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';

const tinyLlama = readFileSync(new URL('../../native/scripts/models/tiny-llama.json', import.meta.url), 'utf8');
const scratch = mkdtempSync(join(tmpdir(), 'kvr-hardening-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function run(argv: string[], io: MemoryIo = new MemoryIo()) {
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err };
}

/** processIo with the printed text captured (real files, real locks). */
function diskIo(): CliIo & { out: string; err: string } {
  const io = { ...processIo, out: '', err: '', stdout: (t: string) => void (io.out += t), stderr: (t: string) => void (io.err += t), env: {} };
  return io;
}

function expectOneLine(result: { code: number; out: string; err: string }, message: RegExp): void {
  expect(result.code).toBe(2);
  expect(result.out).toBe('');
  expect(result.err.trimEnd().split('\n')).toHaveLength(1);
  expect(result.err.trimEnd()).toMatch(message);
}

const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

describe('documents nested too deep (item 6)', () => {
  test.each([
    [['simulate', '--model', 'deep.json'], /^kvr: --model: "deep\.json" is nested more than 64 levels deep/],
    [['simulate', '--topology', 'deep.json'], /^kvr: --topology: "deep\.json" is nested more than 64 levels deep/],
    [['exec', 'deep.json'], /^kvr: PLAN: "deep\.json" is nested more than 64 levels deep/],
    [['sweep', 'deep-spec.json'], /^kvr: spec: "deep-spec\.json" is nested more than 64 levels deep/],
  ])('%j is exit 2 naming the file, not a stack overflow', async (argv, message) => {
    const io = new MemoryIo({ 'deep.json': deep, 'deep-spec.json': `{"axes": {"context": ${deep}}}` });
    expectOneLine(await run(argv, io), message);
    expect(MAX_DOCUMENT_DEPTH).toBe(64);
  });

  test('a deep YAML spec is refused in one line too', async () => {
    const yaml = `axes:\n  context: ${'['.repeat(200)}1${']'.repeat(200)}\n`;
    const result = await run(['sweep', 'deep.yaml'], new MemoryIo({ 'deep.yaml': yaml }));
    expectOneLine(result, /^kvr: spec: "deep\.yaml" is nested more than 64 levels deep/);
  });
});

describe('kvr exec plan files (item 7)', () => {
  async function plan(): Promise<Record<string, unknown>> {
    const io = new MemoryIo({ 'tiny.json': tinyLlama });
    expect(await runCli(['export-plan', '--model', 'tiny.json', '--strategy', 'kvr-e', '--gpus', '2', '--context', '64'], io)).toBe(0);
    return JSON.parse(io.out) as Record<string, unknown>;
  }

  test.each([
    [-1, /^kvr: plan\.ops\[0\]\.flops: expected the op's matmul FLOPs, a number >= 0 \(got -1\)$/],
    ['lots', /^kvr: plan\.ops\[0\]\.flops: expected the op's matmul FLOPs, a number >= 0 \(got "lots"\)$/],
    [null, /^kvr: plan\.ops\[0\]\.flops: expected the op's matmul FLOPs, a number >= 0 \(got null\)$/],
    [1e300, /^kvr: plan\.ops\[0\]\.flops: expected 8388608, the matmul FLOPs of qkv over 32 tokens on model tiny-llama \(DESIGN §2\) \(got 1e\+300\)$/],
    [8388609, /^kvr: plan\.ops\[0\]\.flops: expected 8388608, .* \(got 8388609\)$/],
  ])('ops[0].flops = %j is refused before the executor runs', async (flops, message) => {
    const p = await plan();
    (p.ops as Record<string, unknown>[])[0]!.flops = flops;
    expectOneLine(await run(['exec', 'p.json'], new MemoryIo({ 'p.json': JSON.stringify(p) })), message);
  });

  test('an unknown top-level key is refused, as in every other file kind', async () => {
    const p = { ...(await plan()), comment: 'x' };
    expectOneLine(await run(['exec', 'p.json'], new MemoryIo({ 'p.json': JSON.stringify(p) })), /^kvr: plan\.comment: unknown key; a kvr-plan@1 has schema, strategy, model, /);
  });

  test('the plan export-plan writes still runs', async () => {
    const p = await plan();
    const result = await run(['exec', 'p.json', '--warmup', '0', '--repeats', '1', '--json'], new MemoryIo({ 'p.json': JSON.stringify(p) }));
    expect([result.code, result.err]).toEqual([0, '']);
  });
});

describe('sweep specs (item 7)', () => {
  test.each([
    ['/w/s.yaml', 'axes: {}\n', /^kvr: spec\.axes: is empty: name at least one axis/],
    ['/w/s.json', '{"axes": {}}', /^kvr: spec\.axes: is empty/],
    ['/w/s.txt', 'axes:\n  context: [1024]\n', /^kvr: spec: "\/w\/s\.txt": expected a \.yaml, \.yml, \.json or \.csv file/],
    ['/w/s', 'axes:\n  context: [1024]\n', /^kvr: spec: "\/w\/s": expected a \.yaml, \.yml, \.json or \.csv file/],
  ])('%s (%j) is refused', async (path, text, message) => {
    const io = new MemoryIo({ [path]: text });
    expectOneLine(await run(['sweep', path, '--jobs', '0'], io), message);
    expect([...io.files.keys()]).toEqual([path]); // nothing written
  });
});

describe('kvr calibrate names and outputs (item 7)', () => {
  test.each(['../../etc/x', 'a/b', 'a\\b', '..', 'x..y', ''])('--name %j is refused before anything is measured', async (name) => {
    const io = new MemoryIo();
    expectOneLine(await run(['calibrate', '--name', name], io), /^kvr: --name: expected a profile name such as h200 or h100-sxm, without "\/", "\\" or "\.\."/);
  });

  test('--out naming a folder fails before the measurement, not after it', async () => {
    const io = diskIo();
    const started = performance.now();
    const code = await runCli(['calibrate', '--model', 'tiny-llama', '--tokens', '16', '--prefixes', '0', '--repeats', '1', '--out', scratch], io);
    expect(code).toBe(2);
    expect(io.err).toBe(`kvr: --out: cannot write ${JSON.stringify(scratch)}: is a folder; name a file\n`);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('output paths are checked before the work (items 5, 7)', () => {
  test('makeFolders gives up where a parent refuses children (Node\'s recursive mkdir loops forever on /proc)', () => {
    if (!existsSync('/proc/self')) return;
    expect(() => makeFolders('/proc/nope/figures')).toThrow(/ENOENT/);
    const nested = join(scratch, 'a', 'b', 'c');
    makeFolders(nested);
    makeFolders(nested); // already there: fine
    expect(existsSync(nested)).toBe(true);
  });

  test.each([
    ['file', 'missing-folder/x.json', /: its folder ".*missing-folder" does not exist$/],
    ['file', '.', /: is a folder; name a file$/],
    ['folder', 'a-file', /: exists and is not a folder$/],
  ] as const)('checkOutput(%s, %j) refuses in one line naming the flag', (kind, name, message) => {
    writeFileSync(join(scratch, 'a-file'), 'x');
    const path = name === '.' ? scratch : join(scratch, name);
    expect(() => checkOutput(processIo, path, '--out', kind)).toThrow(message);
    try {
      checkOutput(processIo, path, '--out', kind);
    } catch (error) {
      expect((error as Error).message.startsWith(`--out: cannot write ${JSON.stringify(path)}`)).toBe(true);
    }
  });

  test('a file that can be written leaves nothing behind when checked', () => {
    const path = join(scratch, 'fresh.json');
    checkOutput(processIo, path, '--out');
    expect(existsSync(path)).toBe(false);
  });

  test.each([
    [['simulate', '--gpus', '2', '--context', '1024', '--trace', '@']],
    [['plot', 'ttft-vs-context', '--out', '@/f']],
    [['report', '--quick', '--out', '@/r']],
    [['plan', '--ttft', '2 s', '--out', '@/sub/p']],
    [['partition', 'build-table', '--gpus', '2', '--context', '1024', '--out', '@']],
    [['sweep', '@/s.yaml', '--out', '@/x']],
  ])('%j fails at once when its output cannot be written', async (argv) => {
    writeFileSync(join(scratch, 's.yaml'), 'axes:\n  context: [1024]\n');
    writeFileSync(join(scratch, 'a-file'), 'x');
    const target = join(scratch, 'a-file');
    const io = diskIo();
    const started = performance.now();
    const code = await runCli(argv.map((a) => (a === '@' ? scratch : a.replace('@/s.yaml', join(scratch, 's.yaml')).replace('@', target))), io);
    expect(code).toBe(2);
    expect(io.out).toBe('');
    expect(io.err.trimEnd().split('\n')).toHaveLength(1);
    expect(io.err).toMatch(/^kvr: --(out|trace): cannot write /);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe('sweep output lock (item 8)', () => {
  test('a live owner\'s lock refuses a second writer in one line; a dead owner\'s lock is taken over; release removes it', () => {
    const prefix = join(scratch, 'locked');
    writeFileSync(`${prefix}.lock`, `${process.pid}\n`);
    expect(() => lockOutput(processIo, prefix, '--out')).toThrow(
      new RegExp(`^--out: ".*locked" is being written by another kvr run \\(pid ${process.pid}, lock file ".*locked\\.lock"\\)`),
    );
    // No process has pid 2^22 + 1 (above Linux's pid_max default): a dead owner.
    writeFileSync(`${prefix}.lock`, '4194305\n');
    const release = lockOutput(processIo, prefix, '--out');
    expect(readFileSync(`${prefix}.lock`, 'utf8')).toBe(`${process.pid}\n`);
    expect(() => lockOutput(processIo, prefix, '--out')).toThrow(/is being written by another kvr run/);
    release();
    expect(existsSync(`${prefix}.lock`)).toBe(false);
  });

  test('kvr sweep refuses an output another live sweep holds, and writes nothing', async () => {
    const dir = join(scratch, 'sweep');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 's.yaml'), 'axes:\n  context: [1024]\n  gpus: [2]\n');
    writeFileSync(join(dir, 's.lock'), `${process.pid}\n`);
    const io = diskIo();
    expect(await runCli(['sweep', join(dir, 's.yaml'), '--jobs', '0', '--out', join(dir, 's')], io)).toBe(2);
    expect(io.err).toMatch(/^kvr: --out: ".*s" is being written by another kvr run \(pid \d+, lock file ".*s\.lock"\); wait for it to finish/);
    expect(existsSync(join(dir, 's.csv'))).toBe(false);
    rmSync(join(dir, 's.lock'));
    const again = diskIo();
    expect(await runCli(['sweep', join(dir, 's.yaml'), '--jobs', '0', '--out', join(dir, 's')], again)).toBe(0);
    expect(existsSync(join(dir, 's.lock'))).toBe(false);
  });
});

describe('sweep jobs and simulation memory (item 5)', () => {
  test('the spec\'s largest scenario bounds the jobs that run at once', () => {
    const spec = 'axes:\n  gpus: [8, 120]\n  strategy: [tsp, kvr-e]\n  collective: [ring, direct]\n';
    const io = new MemoryIo({ '/w/s.yaml': spec });
    const bound = specMemoryBound(expandSpec(loadSweepSpec(io, '/w/s.yaml'), '/w/s.yaml', io), io);
    // tsp with the direct all-gather on 120 GPUs: 472,321 ops (stored and run: its transfers are
    // the plan's own) and 55,307,521 edges.
    expect(bound).toBe(472_321 * (BYTES_PER_PLAN_OP + BYTES_PER_ENGINE_OP) + 55_307_521 * BYTES_PER_PLAN_EDGE);
    // About 1.03 GB a job: 80% of 8 GB holds 6.
    expect(memoryCappedJobs(16, bound, 8e9)).toBe(6);
    expect(memoryCappedJobs(16, bound, 100e9)).toBe(16);
    expect(memoryCappedJobs(16, bound, 1e8)).toBe(1);
    expect(memoryCappedJobs(0, bound, 1e8)).toBe(0);
    expect(memoryCappedJobs(16, bound, undefined)).toBe(16);
  });

  test('a channels axis counts: the bound is the estimate of its largest channel count', () => {
    const bound = (axes: string) => {
      const io = new MemoryIo({ '/w/s.yaml': `axes:\n  gpus: [16]\n  strategy: [tp]\n  collective: [ring]\n${axes}` });
      return specMemoryBound(expandSpec(loadSweepSpec(io, '/w/s.yaml'), '/w/s.yaml', io), io);
    };
    const layers = MODEL_PRESETS['llama2-7b']!.layers;
    expect(bound('  channels: [1, 8]\n')).toBe(estimateSimulationBytes('tp', layers, 16, { parallelBlock: false, collective: 'ring', channels: 8 }).bytes);
    expect(bound('  channels: [1, 8]\n')).toBeGreaterThan(bound('  channels: [1]\n'));
  });

  test('scenarios refused for their size do not count (they cost nothing)', () => {
    const io = new MemoryIo({ '/w/s.yaml': 'axes:\n  gpus: [240]\n  strategy: [tsp]\n  collective: [direct]\n' });
    expect(specMemoryBound(expandSpec(loadSweepSpec(io, '/w/s.yaml'), '/w/s.yaml', io), io)).toBe(0);
  });
});

describe('the same inputs give the same bytes (item 9)', () => {
  test('kvr partition --json has no wall time; --timings prints it on stderr', async () => {
    const argv = ['partition', '--gpus', '4', '--context', '4096', '--json'];
    const first = await run(argv);
    const second = await run(argv);
    expect([first.code, first.err]).toEqual([0, '']);
    expect(first.out).toBe(second.out);
    expect(JSON.parse(first.out)).not.toHaveProperty('elapsed_s');
    const timed = await run([...argv, '--timings']);
    expect(timed.out).toBe(first.out);
    expect(timed.err).toMatch(/^kvr partition: \d+ simulations in \d+\.\d{3} s\n$/);
  });

  test('kvr report dates its page only from SOURCE_DATE_EPOCH', () => {
    expect(sourceDate({})).toBeUndefined();
    expect(sourceDate({ SOURCE_DATE_EPOCH: '1700000000' })).toBe('2023-11-14T22:13:20.000Z');
    expect(() => sourceDate({ SOURCE_DATE_EPOCH: 'yesterday' })).toThrow(/^SOURCE_DATE_EPOCH: expected whole seconds since 1970/);
    const page = (generated?: string) => reportHtml({ title: 't', ...(generated === undefined ? {} : { generated }), figures: [], claims: [], assumptions: [] });
    expect(page()).toBe(page());
    expect(page()).toMatch(/Generated by <code>kvr report<\/code>/);
    expect(page('2023-11-14T22:13:20.000Z')).toMatch(/Generated 2023-11-14T22:13:20\.000Z by <code>kvr report<\/code>/);
  });
});
