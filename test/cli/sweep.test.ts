import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { sweepCommand, type SweepFlags } from '../../cli/commands/sweep.js';
import { CSV_HEADER } from '../../cli/sweep/output.js';
import { resolveShard } from '../../cli/sweep/shard.js';
import { countProduct, productPoints, pointId } from '../../cli/sweep/spec.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';
import { MemoryIo } from '../support/memory-io.js';
import { propertyOptions } from '../support/property.js';

// Small and cheap: 2 models x 2 counts x 2 links x 3 contexts x 3 strategies, one context too
// short for 4 GPUs (an invalid row that must not stop the sweep) = 72 rows.
const SPEC = `
axes:
  model: [llama2-7b, mymodel.json]
  gpus: [2, 4]
  bandwidth: ["300 GB/s", "10 GB/s"]
  context: [1024, 3, 2048]
  strategy: [tsp, kvr-e, single]
`;
const TINY = JSON.stringify({ ...MODEL_PRESETS['llama2-7b']!, name: 'mymodel', layers: 2 });

function freshIo(spec = SPEC): MemoryIo {
  return new MemoryIo({ '/w/spec.yaml': spec, '/w/mymodel.json': TINY });
}

async function sweep(io: MemoryIo, args: string[] = []) {
  io.out = '';
  io.err = '';
  const code = await runCli(['sweep', '/w/spec.yaml', ...args], io);
  return { code, out: io.out, err: io.err };
}

function files(io: MemoryIo, prefix = 'kvr-out/spec') {
  return { csv: io.files.get(`${prefix}.csv`), jsonl: io.files.get(`${prefix}.jsonl`) };
}

/** The uninterrupted, unsharded output of SPEC (computed once, in the main thread). */
let reference: Promise<{ csv?: string; jsonl?: string }> | undefined;
function referenceOutput() {
  reference ??= (async () => {
    const io = freshIo();
    const { code, err } = await sweep(io, ['--jobs', '0']);
    expect([code, err]).toEqual([0, '']);
    return files(io);
  })();
  return reference;
}

describe('kvr sweep', () => {
  test('one row per scenario in product order, CSV and JSON lines alike; invalid scenarios are rows with an error', async () => {
    const { csv, jsonl } = await referenceOutput();
    const lines = csv!.split('\n').filter(Boolean);
    expect(`${lines[0]}\n`).toBe(CSV_HEADER);
    // single collapses nothing but is invalid on 2 or 4 GPUs; context 3 < 4 GPUs is invalid.
    expect(lines).toHaveLength(1 + 72);
    const rows = jsonl!.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.index)).toEqual([...Array(72).keys()]);
    expect(new Set(rows.map((r) => r.id)).size).toBe(72);
    expect(rows[0]).toMatchObject({ model: 'llama2-7b', gpus: 2, bandwidth: '300 GB/s', context: 1024, strategy: 'tsp', fits: true, gpu_profile: 'datasheet', uncalibrated: true, error: null });
    expect(rows[0].ttft_s).toBeGreaterThan(0);
    expect(rows[0].partition).toEqual([512, 512]);
    // Keys vary fastest at the end: strategy, then context.
    expect(rows.slice(0, 4).map((r) => [r.context, r.strategy])).toEqual([[1024, 'tsp'], [1024, 'kvr-e'], [1024, 'single'], [3, 'tsp']]);
    const invalid = rows.filter((r) => r.error !== null);
    expect(invalid.every((r) => r.ttft_s === null)).toBe(true);
    expect(invalid.find((r) => r.gpus === 4 && r.context === 3 && r.strategy === 'kvr-e').error).toMatch(/^context: /);
    expect(rows.find((r) => r.model === 'mymodel.json' && r.error === null).ttft_s).toBeGreaterThan(0);
  });

  test('worker threads give the same bytes as the main thread, whatever the batch order', async () => {
    const { csv, jsonl } = await referenceOutput();
    const io = freshIo();
    const { code, out } = await sweep(io, ['--jobs', '2']);
    expect(code).toBe(0);
    expect(out).toMatch(/^sweep \/w\/spec.yaml: 72 scenarios; computed 72, reused 0 \(\d+ invalid\) in [\d.]+ s, [\d.]+ scenarios\/s -> kvr-out\/spec.csv, kvr-out\/spec.jsonl\n$/);
    expect(files(io)).toEqual({ csv, jsonl });
  });

  test('progress: a bar with rate and ETA on a terminal, plain lines in logs', async () => {
    const tty = freshIo();
    tty.stderrIsTTY = true;
    await sweep(tty, ['--jobs', '0']);
    expect(tty.err).toMatch(/^\rsweep \[#*\.*\] \d+\/72 [\d.]+%  [\d.]+\/s  ETA \S+\u001b\[K/);
    expect(tty.err).toMatch(/\rsweep \[#{30}\] 72\/72 100\.0%  [\d.]+\/s  ETA 0s\u001b\[K\n$/);
    const log = freshIo();
    log.tick = 1000; // a slow clock: one line per 10 s
    await sweep(log, ['--jobs', '0']);
    const lines = log.err.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.every((line) => /^sweep: \d+\/72 [\d.]+%  [\d.]+\/s  ETA \S+$/.test(line))).toBe(true);
    expect(files(log)).toEqual(await referenceOutput());
  });

  test('a CSV spec writes kvr-out/SPEC.results.csv in the working directory, never over itself', async () => {
    const io = new MemoryIo({ '/w/rows.csv': 'model,gpus,context,strategy\nllama2-7b,2,1024,kvr-e\nllama2-7b,4,3,tsp\n' });
    expect(await runCli(['sweep', '/w/rows.csv', '--jobs', '0'], io)).toBe(0);
    expect(io.out).toContain('2 scenarios; computed 2, reused 0 (1 invalid)');
    expect(io.files.get('kvr-out/rows.results.csv')!.split('\n')).toHaveLength(4);
    expect(io.files.get('/w/rows.csv')).toBe('model,gpus,context,strategy\nllama2-7b,2,1024,kvr-e\nllama2-7b,4,3,tsp\n');
    io.err = '';
    expect(await runCli(['sweep', '/w/rows.csv', '--out', '/w/rows'], io)).toBe(2);
    expect(io.err).toBe('kvr: --out: "/w/rows" would write over the spec "/w/rows.csv"; choose another prefix\n');
  });

  test('--out picks the prefix', async () => {
    const io = freshIo();
    expect((await sweep(io, ['--jobs', '0', '--out', '/w/out/run1'])).code).toBe(0);
    expect(files(io, '/w/out/run1')).toEqual(await referenceOutput());
  });

  test('stopped half way by an abort, re-run finishes only the rest; no row is computed twice', async () => {
    const io = freshIo();
    const seen = new Map<string, number>();
    const count = (id: string) => seen.set(id, (seen.get(id) ?? 0) + 1);
    const controller = new AbortController();
    let first = 0;
    await sweepCommand('/w/spec.yaml', { jobs: '2' }, io, {
      signal: controller.signal,
      onComputed: (id) => {
        count(id);
        // Rows come back in order; at most 64 (2 workers x 4 x 8) are taken ahead of the oldest.
        if (++first === 5) controller.abort();
      },
    });
    expect(io.out).toMatch(/stopped with \d+ scenarios to go: run the same command again/);
    const partial = files(io).jsonl!.trim().split('\n').length;
    expect(partial).toBeGreaterThanOrEqual(5);
    expect(partial).toBeLessThan(72);
    io.out = '';
    await sweepCommand('/w/spec.yaml', { jobs: '2' }, io, { onComputed: count });
    expect(io.out).toContain(`computed ${72 - partial}, reused ${partial}`);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(seen.size).toBe(72);
    expect(files(io)).toEqual(await referenceOutput());
  });

  test('--limit stops after that many rows; a torn last line (a kill mid-write) is dropped and redone', async () => {
    const io = freshIo();
    expect((await sweep(io, ['--jobs', '0', '--limit', '20'])).out).toContain('computed 20, reused 0');
    // Kill mid-write: the CSV loses half its last line, the JSONL has one row more.
    const { csv } = files(io);
    io.files.set('kvr-out/spec.csv', csv!.slice(0, csv!.length - 20));
    const { code, out } = await sweep(io, ['--jobs', '0']);
    expect(code).toBe(0);
    expect(out).toContain('computed 53, reused 19');
    expect(files(io)).toEqual(await referenceOutput());
    // A finished sweep run again computes nothing.
    expect((await sweep(io, ['--jobs', '0'])).out).toContain('computed 0, reused 72');
    expect(files(io)).toEqual(await referenceOutput());
  });

  test('an edited spec reuses the rows it still has, by scenario id, and writes the new order', async () => {
    const io = freshIo(SPEC.replace('context: [1024, 3, 2048]', 'context: [2048, 1024]'));
    await sweep(io, ['--jobs', '0']);
    io.files.set('/w/spec.yaml', SPEC);
    const { out } = await sweep(io, ['--jobs', '0']);
    expect(out).toContain('computed 24, reused 48');
    expect(files(io)).toEqual(await referenceOutput());
    expect(io.files.has('kvr-out/spec.old.csv')).toBe(false);
  });

  test('--shard 1/3..3/3 then kvr merge equals the unsharded output byte for byte', async () => {
    const io = freshIo();
    const sizes: number[] = [];
    for (const i of [1, 2, 3]) {
      const { code, out } = await sweep(io, ['--jobs', '1', '--shard', `${i}/3`]);
      expect(code).toBe(0);
      sizes.push(Number(/shard \d\/3: (\d+) of 72/.exec(out)![1]));
    }
    expect(sizes).toEqual([24, 24, 24]);
    expect(io.files.has('kvr-out/spec.csv')).toBe(false);
    io.out = '';
    expect(await runCli(['merge', '/w/spec.yaml'], io)).toBe(0);
    expect(io.out).toMatch(/^merged 3 shards: 72 rows/);
    expect(files(io)).toEqual(await referenceOutput());
  });

  test('merge refuses missing or incomplete shards, naming the command that completes them', async () => {
    const io = freshIo();
    await sweep(io, ['--jobs', '0', '--shard', '1/2']);
    await sweep(io, ['--jobs', '0', '--shard', '2/2', '--limit', '5']);
    io.err = '';
    expect(await runCli(['merge', '/w/spec.yaml'], io)).toBe(2);
    expect(io.err).toBe('kvr: merge: shard 2/2 is incomplete: 5 of 36 rows (resume it: kvr sweep /w/spec.yaml --shard 2/2)\n');
    io.err = '';
    expect(await runCli(['merge', '/w/spec.yaml', '--shards', '3'], io)).toBe(2);
    expect(io.err).toMatch(/^kvr: merge: shard 1\/3 has no output/);
  });

  test('SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX pick the shard unchanged', async () => {
    const io = freshIo();
    io.env = { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_MIN: '0' };
    const slurm = await sweep(io, ['--jobs', '0']);
    expect(slurm.err).toBe('kvr sweep: shard 2/3 (from SLURM_ARRAY_TASK_ID=1)\n');
    expect(io.files.has('kvr-out/spec.shard-2-of-3.csv')).toBe(true);
    io.env = { JOB_COMPLETION_INDEX: '2' };
    expect((await sweep(io, ['--jobs', '0'])).err).toBe("kvr: --shards: JOB_COMPLETION_INDEX is set: pass --shards N (the Job's completions)\n");
    expect((await sweep(io, ['--jobs', '0', '--shards', '3'])).err).toBe('kvr sweep: shard 3/3 (from JOB_COMPLETION_INDEX=2)\n');
    io.env = {};
    await sweep(io, ['--jobs', '0', '--shard', '1/3']);
    io.out = '';
    expect(await runCli(['merge', '/w/spec.yaml'], io)).toBe(0);
    expect(files(io)).toEqual(await referenceOutput());
  });

  test('shard indices: 1-based flags, Slurm arrays from any start and step', () => {
    expect(resolveShard('2/3', undefined, {})).toEqual({ index: 2, count: 3, source: '--shard' });
    expect(resolveShard('1/1', undefined, { SLURM_ARRAY_TASK_ID: '4' })).toBeUndefined();
    expect(resolveShard(undefined, undefined, { SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_STEP: '2', SLURM_ARRAY_TASK_COUNT: '4' })?.index).toBe(3);
    expect(resolveShard(undefined, '4', { SLURM_ARRAY_TASK_ID: '3' })?.index).toBe(4);
    expect(() => resolveShard('0/3', undefined, {})).toThrow('--shard: the index must be in 1..3 (got "0/3")');
    expect(() => resolveShard('2', undefined, {})).toThrow('--shard: expected i/N such as 2/3');
    expect(() => resolveShard(undefined, undefined, { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '3' })).toThrow('SLURM_ARRAY_TASK_ID: 3 is task 4 of an array of 3');
    expect(() => resolveShard(undefined, '3', {})).toThrow('--shards: needs a shard index');
  });
});

describe('kvr sweep: bad specs are one line and exit 2, never a hang', () => {
  async function bad(spec: string, args: string[] = []) {
    const io = freshIo(spec);
    const result = await sweep(io, ['--jobs', '0', ...args]);
    expect(result.code).toBe(2);
    expect(result.err.split('\n').filter(Boolean)).toHaveLength(1);
    expect(io.files.has('kvr-out/spec.csv')).toBe(false);
    return result.err;
  }

  test.each([
    ['axes:\n  context: [1024, 0]\n', 'kvr: spec.axes.context[1]: expected an integer in 1..16777216 or a string matching ^\\d+(\\.\\d+)?[kKmM]$ (k = 1024: "128k" = 131072, "1M" = 1048576) (got 0)\n'],
    ['axes:\n  model: [llama2-7b, llama9]\n', 'kvr: spec.axes.model[1]: unknown model "llama9" (presets: '],
    ['axes:\n  model: [nothere.json]\n', 'kvr: spec.axes.model[0]: cannot read "/w/nothere.json"'],
    ['axes:\n  gpu: [a100-80g, x100]\n', 'kvr: spec.axes.gpu[1]: unknown GPU "x100"'],
    ['axes:\n  topology: [torus]\n', 'kvr: spec.axes.topology[0]: unknown topology "torus"'],
    ['axes:\n  bandwidth: ["300 GB"]\n', 'kvr: spec.axes.bandwidth[0]: '],
    ['axes:\n  bandwidth: ["0 GB/s"]\n', 'kvr: spec.axes.bandwidth[0]: must be > 0'],
    ['axes:\n  bandwidth: ["300 GB/s", "300GB/s"]\n', 'kvr: spec.axes.bandwidth[1]: repeats bandwidth[0] ("300 GB/s"); each value once\n'],
    ['axes:\n  strategy: []\n', 'kvr: spec.axes.strategy: expected a non-empty list\n'],
    ['axes:\n  gpus: [2]\nrows:\n  - {gpus: 4}\n  - {gpus: 4}\n', 'kvr: spec.rows[1]: is the same scenario as rows[0]; each scenario once\n'],
    ['axes:\n  gpus: [2, 4]\nrows:\n  - {gpus: 4}\n', 'kvr: spec.rows[0]: is already a point of the axes product; each scenario once\n'],
  ])('%j', async (spec, message) => {
    expect(await bad(spec)).toContain(message);
  });

  test('a 10^9-row product is refused at once; over 10^6 rows needs --yes', async () => {
    const ten = (from: number) => `[${Array.from({ length: 10 }, (_, i) => from + i).join(', ')}]`;
    const huge = `axes:\n  gpus: ${ten(1)}\n  context: [${Array.from({ length: 1000 }, (_, i) => 1000 + i).join(', ')}]\n  granularity: ${ten(1)}\n  search: [fast, grid, exhaustive]\n  strategy: [kvr-s, kvr-e, tsp]\n  model: [llama2-7b, falcon-7b, llama2-13b, mistral-7b, llama3-8b]\n  gpu: [a100-80g, h100-sxm, h200, a100-40g]\n  latency: ${JSON.stringify(Array.from({ length: 200 }, (_, i) => `${i + 1} us`))}\n`;
    const started = performance.now();
    expect(await bad(huge, ['--yes'])).toMatch(/^kvr: spec: has 1,280,000,000 scenarios, more than the limit of 10,000,000; split it/);
    expect(performance.now() - started).toBeLessThan(5000);
    const big = `axes:\n  gpus: ${ten(1)}\n  context: [${Array.from({ length: 1000 }, (_, i) => 1000 + i).join(', ')}]\n  latency: ${JSON.stringify(Array.from({ length: 200 }, (_, i) => `${i + 1} us`))}\n`;
    expect(await bad(big)).toBe('kvr: spec: has 2,000,000 scenarios (more than 1,000,000); pass --yes to run them all, or shrink the axes\n');
  });

  test('unknown flags and bad flag values', async () => {
    expect(await bad(SPEC, ['--shard', '4/3'])).toBe('kvr: --shard: the index must be in 1..3 (got "4/3")\n');
    expect(await bad(SPEC, ['--jobs', 'many'])).toMatch(/^kvr: --jobs: expected an integer/);
    expect(await bad(SPEC, ['--limit', '0'])).toMatch(/^kvr: --limit: expected an integer >= 1/);
  });
});

describe('product expansion', () => {
  const axesArbitrary = fc.record(
    {
      topology: fc.subarray(['switch', 'pcie', 'pcie-2s', 'multi-node', 'ring'], { minLength: 1 }),
      gpus_per_node: fc.subarray([2, 4, 8], { minLength: 1 }),
      oversubscription: fc.subarray([1, 2], { minLength: 1 }),
      nics_per_node: fc.subarray([1, 2], { minLength: 1 }),
      leaf: fc.subarray(['shared', 'rails'] as const, { minLength: 1 }),
      gpus_per_switch: fc.subarray([1, 2], { minLength: 1 }),
      socket_bandwidth: fc.subarray(['64 GB/s', '32 GB/s'], { minLength: 1 }),
      bandwidth: fc.subarray(['300 GB/s', '10 GB/s'], { minLength: 1 }),
      gpus: fc.subarray([2, 4], { minLength: 1 }),
      context: fc.subarray([1024, 2048, 4096], { minLength: 1 }),
      strategy: fc.subarray(['tsp', 'kvr', 'kvr-e', 'kvr-s', 'kvr-p', 'kvr-tp', 'tp', 'ring-kv'] as const, { minLength: 1 }),
      search: fc.subarray(['fast', 'grid'] as const, { minLength: 1 }),
      granularity: fc.subarray([32, 64], { minLength: 1 }),
      predictor: fc.subarray(['model', 'interpolate'] as const, { minLength: 1 }),
      table: fc.subarray(['a.json', 'b.json'], { minLength: 1 }),
      partition: fc.subarray(['512,512', '600,424'], { minLength: 1 }),
      collective: fc.subarray(['ring', 'direct'] as const, { minLength: 1 }),
      channels: fc.subarray([1, 4], { minLength: 1 }),
      protocol: fc.subarray(['simple', 'll'] as const, { minLength: 1 }),
      tp: fc.subarray([1, 2], { minLength: 1 }),
    },
    { requiredKeys: [] },
  );

  test('the count without enumerating equals the enumeration; ids are unique; keys that do not apply are dropped', () => {
    fc.assert(
      fc.property(axesArbitrary, (axes) => {
        const points = [...productPoints(axes)];
        expect(countProduct(axes)).toBe(points.length);
        expect(new Set(points.map(pointId)).size).toBe(points.length);
        for (const p of points) {
          if (p.strategy !== undefined && p.strategy !== 'kvr-s' && p.strategy !== 'kvr-tp') expect(p.search).toBeUndefined();
          if (p.topology !== undefined && p.topology !== 'pcie' && p.topology !== 'pcie-2s') expect(p.gpus_per_switch).toBeUndefined();
          if (p.topology !== 'pcie-2s') expect(p.socket_bandwidth).toBeUndefined();
          if (p.topology !== 'multi-node') expect([p.oversubscription, p.nics_per_node, p.leaf]).toEqual([undefined, undefined, undefined]);
          if (p.predictor !== 'interpolate') expect(p.table).toBeUndefined();
          if (!['tsp', 'tsp-causal', 'tp', 'tp-sp', 'kvr-tp', 'ring-kv', 'ring-q', 'pp-chunked'].includes(String(p.strategy ?? 'kvr-e'))) expect([p.collective, p.channels, p.protocol]).toEqual([undefined, undefined, undefined]);
          if (!['kvr-tp', 'ring-kv', 'ring-q', 'pp-chunked'].includes(String(p.strategy ?? 'kvr-e'))) expect(p.tp).toBeUndefined();
        }
      }),
      propertyOptions(200),
    );
  });

  test('collective, tp, oversubscription and socket_bandwidth reach the simulation like their kvr simulate flags', async () => {
    const io = new MemoryIo({
      '/w/spec.yaml': `
axes:
  topology: [multi-node]
  gpus_per_node: [2]
  oversubscription: [1, 4]
  gpus: [4]
  context: [4096]
  strategy: [tp, kvr-tp, kvr-e]
  collective: [ring, direct]
  tp: [1, 2]
`,
    });
    const { code, err } = await sweep(io, ['--jobs', '0']);
    expect([code, err]).toEqual([0, '']);
    const rows = files(io).jsonl!.trim().split('\n').map((line) => JSON.parse(line));
    // Per oversubscription: tp x 2 collectives, kvr-tp x 2 collectives x 2 tp, kvr-e once.
    expect(rows).toHaveLength(2 * (2 + 4 + 1));
    expect(rows.every((row) => row.error === null)).toBe(true);
    for (const row of rows) {
      const flags = ['simulate', '--json', '--topology', 'multi-node', '--gpus-per-node', '2', '--oversubscription', String(row.oversubscription), '--gpus', '4', '--context', '4096', '--strategy', row.strategy];
      if (row.collective !== null) flags.push('--collective', row.collective);
      if (row.tp !== null) flags.push('--tp', String(row.tp));
      const single = new MemoryIo({});
      expect(await runCli(flags, single)).toBe(0);
      expect(row.ttft_s).toBe(JSON.parse(single.out).ttft_s);
    }
    // The keys change the answer: direct all-reduces and a 4x oversubscribed spine are slower.
    const tp = (collective: string, over: number) => rows.find((r) => r.strategy === 'tp' && r.collective === collective && r.oversubscription === over)!.ttft_s;
    expect(tp('direct', 1)).not.toBe(tp('ring', 1));
    expect(tp('ring', 4)).toBeGreaterThan(tp('ring', 1));
  });

  test('the collective flags of #15 (channels, protocol, nics_per_node, leaf) are axes too and reach the simulation like --channels, --protocol, --nics-per-node, --leaf', async () => {
    const io = new MemoryIo({
      '/w/spec.yaml': `
axes:
  topology: [multi-node]
  gpus_per_node: [4]
  nics_per_node: [1, 4]
  leaf: [shared, rails]
  gpus: [8]
  context: [4096]
  strategy: [tp, kvr-e]
  channels: [1, 4]
  protocol: [simple, ll]
`,
    });
    const { code, err } = await sweep(io, ['--jobs', '0']);
    expect([code, err]).toEqual([0, '']);
    const rows = files(io).jsonl!.trim().split('\n').map((line) => JSON.parse(line));
    // Per (nics, leaf): tp x 2 channels x 2 protocols, kvr-e once (it has no collectives).
    expect(rows).toHaveLength(2 * 2 * (4 + 1));
    expect(rows.every((row) => row.error === null)).toBe(true);
    expect(rows.filter((row) => row.strategy === 'kvr-e').every((row) => row.channels === null && row.protocol === null)).toBe(true);
    for (const row of rows) {
      const flags = ['simulate', '--json', '--topology', 'multi-node', '--gpus-per-node', '4', '--nics-per-node', String(row.nics_per_node), '--leaf', row.leaf, '--gpus', '8', '--context', '4096', '--strategy', row.strategy];
      if (row.channels !== null) flags.push('--channels', String(row.channels), '--protocol', row.protocol);
      const single = new MemoryIo({});
      expect(await runCli(flags, single)).toBe(0);
      expect(row.ttft_s).toBe(JSON.parse(single.out).ttft_s);
    }
    // The keys change the answer: one NIC for 4 GPUs is slower than one each; LL moves twice the bytes of Simple.
    const tp = (nics: number, channels: number, protocol: string) => rows.find((r) => r.strategy === 'tp' && r.leaf === 'shared' && r.nics_per_node === nics && r.channels === channels && r.protocol === protocol)!.ttft_s;
    expect(tp(1, 4, 'simple')).toBeGreaterThan(tp(4, 4, 'simple'));
    expect(tp(4, 4, 'll')).toBeGreaterThan(tp(4, 4, 'simple'));
  });

  test('a bad value of a collective key names the field and the allowed values', async () => {
    const bad = async (line: string) => {
      const io = new MemoryIo({ '/w/spec.yaml': `axes:\n  strategy: [tp]\n${line}\n` });
      const { code, err } = await sweep(io, ['--jobs', '0']);
      expect(code).toBe(2);
      return err;
    };
    expect(await bad('  protocol: [ll64]')).toMatch(/^kvr: spec\.axes\.protocol\[0\]: .*simple.*ll128.*ll/);
    expect(await bad('  channels: [0]')).toMatch(/^kvr: spec\.axes\.channels\[0\]: /);
    expect(await bad('  leaf: [spine]')).toMatch(/^kvr: spec\.axes\.leaf\[0\]: .*shared.*rails/);
  });

  test('ids are stable: the same scenario, however its units are spelled', () => {
    expect(pointId({ model: 'llama2-7b', bandwidth: '300 GB/s', context: 4096 })).toBe(pointId({ context: 4096, bandwidth: '300GB/s', model: 'llama2-7b' }));
    expect(pointId({ model: 'llama2-7b', context: 4096 })).not.toBe(pointId({ model: 'llama2-7b', context: 4097 }));
    expect(pointId({ model: 'llama2-7b', context: 4096 })).toMatch(/^[0-9a-f]{16}$/);
  });

  test('flags: SweepFlags keeps the names of the command line', async () => {
    // Every key of SweepFlags, no more (the type check of test/ enforces both), against the
    // options `kvr sweep --help` lists (commander hands flags over under these names).
    const names: Record<keyof SweepFlags, true> = { out: true, jobs: true, shard: true, shards: true, limit: true, yes: true, restart: true, quiet: true };
    const io = new MemoryIo({});
    expect(await runCli(['sweep', '--help'], io)).toBe(0);
    const listed = [...io.out.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]!.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()));
    expect(listed.sort()).toEqual(Object.keys(names).sort());
  });
});
