import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { projectRoot } from '../../cli/project-root.js';
import { runCli } from '../../cli/main.js';
import { partitionTableFromJson } from '../../sim/partition/partition-table.js';
import { MemoryIo } from '../support/memory-io.js';

async function run(argv: string[], io = new MemoryIo()) {
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err, io };
}

/** A committed partition table (calibration/partition-tables/). */
function committed(model: string, attention: string): string {
  return join(projectRoot(), 'calibration', 'partition-tables', `${model}.a100-80g.switch.${attention}.json`);
}

/** Splits a command line as a POSIX shell does for bare and single-quoted words. */
function shellWords(command: string): string[] {
  return [...command.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

describe('committed partition tables', () => {
  test.each([
    ['llama2-7b', 'flash'],
    ['llama2-7b', 'eager'],
    ['falcon-7b', 'flash'],
    ['falcon-7b', 'eager'],
  ])('%s, %s attention: the command the table records rebuilds it byte for byte, and kvr-p --attention picks it by default', async (model, attention) => {
    const path = committed(model, attention);
    const text = readFileSync(path, 'utf8');
    const table = partitionTableFromJson(JSON.parse(text));
    expect([table.model, table.attention]).toEqual([model, attention]);
    const argv = shellWords(table.command);
    expect(argv[0]).toBe('kvr');
    expect(argv).toContain(`--attention`);
    const io = new MemoryIo();
    const built = await run(argv.slice(1), io);
    expect([built.code, built.err]).toEqual([0, '']);
    // Built into kvr-out/ of the working directory (never into the install folder); committed by copying.
    expect(io.files.get(join('kvr-out', 'partition-tables', basename(path)))).toBe(text);
    const predicted = await run(['simulate', '--model', model, '--strategy', 'kvr-p', '--predictor', 'interpolate', '--attention', attention, '--gpus', '4', '--context', '5000', '--json']);
    expect([predicted.code, predicted.err]).toEqual([0, '']);
  });

  test('validate scores a table under the attention it was built for', async () => {
    const eager = await run(['partition', 'validate', '--table', committed('llama2-7b', 'eager'), '--gpus', '2', '--context', '4096', '--json']);
    expect([eager.code, eager.err]).toEqual([0, '']);
    const report = JSON.parse(eager.out);
    const searched = await run(['partition', '--attention', 'eager', '--gpus', '2', '--context', '4096', '--json']);
    expect(report.rows[0].kvr_s.ttft_s).toBe(JSON.parse(searched.out).ttft_s);
  });

  test('calibration/README.md quotes every table\'s command', () => {
    const readme = readFileSync(join(projectRoot(), 'calibration', 'README.md'), 'utf8');
    for (const model of ['llama2-7b', 'falcon-7b']) {
      for (const attention of ['flash', 'eager']) {
        const table = partitionTableFromJson(JSON.parse(readFileSync(committed(model, attention), 'utf8')));
        expect(readme).toContain(`npx ${table.command}`);
      }
    }
  });
});

describe('kvr partition', () => {
  test('--json: the searched partition beside kvr-e and tsp, with the simulations it took (no wall time: same inputs, same bytes)', async () => {
    const { code, out, err } = await run(['partition', '--gpus', '4', '--context', '8192', '--json']);
    expect([code, err]).toEqual([0, '']);
    const report = JSON.parse(out);
    expect(report.schema).toBe('kvr-partition/result@1');
    expect(report.partition.reduce((a: number, b: number) => a + b)).toBe(8192);
    expect(report.ttft_s).toBeLessThanOrEqual(report.kvr_e.ttft_s);
    expect(report.ttft_s).toBeLessThan(report.tsp.ttft_s);
    expect(report.simulations).toBeGreaterThan(0);
    expect(report).not.toHaveProperty('elapsed_s');
    expect([report.search, report.granularity]).toEqual(['fast', 64]);
  });

  test('the table names the partition, the speedups and the search cost', async () => {
    const { code, out } = await run(['partition', '--gpus', '4', '--context', '8192', '--search', 'grid', '--granularity', '128']);
    expect(code).toBe(0);
    expect(out).toMatch(/grid search, 128-token granularity/);
    expect(out).toMatch(/^kvr-s partition \d+,\d+,\d+,\d+$/m);
    expect(out).toMatch(/^search: \d+ simulations$/m);
  });

  test('build-table writes a table that validate and kvr-p --predictor interpolate read', async () => {
    const io = new MemoryIo();
    const built = await run(['partition', 'build-table', '--gpus', '2,4', '--bandwidth', '300 GB/s,10 GB/s', '--context', '2048,6144', '--out', 't.json'], io);
    expect([built.code, built.err]).toEqual([0, '']);
    expect(built.out).toMatch(/^wrote t.json: 8 searched partitions/);
    const table = partitionTableFromJson(JSON.parse(io.files.get('t.json')!));
    expect(table.entries.map((e) => [e.gpus, e.bandwidth, e.context])).toContainEqual([4, 10e9, 6144]);
    expect(table.command).toBe("kvr partition build-table --gpus 2,4 --bandwidth '300 GB/s,10 GB/s' --context 2048,6144 --out t.json");

    io.out = '';
    const validated = await run(['partition', 'validate', '--table', 't.json', '--gpus', '4'], io);
    expect(validated.code).toBe(0);
    expect(validated.out).toMatch(/KVR-P vs KVR-S on 2 held-out scenarios/);
    expect(validated.out).toMatch(/^model \(ours, no table\): mean gap -?\d+\.\d+%, max -?\d+\.\d+%$/m);
    expect(validated.out).toMatch(/^interpolate \(paper, table\): mean gap/m);

    io.out = '';
    const predicted = await run(['simulate', '--strategy', 'kvr-p', '--predictor', 'interpolate', '--table', 't.json', '--gpus', '4', '--context', '4000', '--json'], io);
    expect([predicted.code, predicted.err]).toEqual([0, '']);
    expect(JSON.parse(predicted.out).partition_origin).toEqual({ kind: 'predicted', predictor: 'interpolate', granularity: 64 });
  });

  test('--measure runs the best simulated partitions on the executor and reports the measured best', async () => {
    const { code, out, err } = await run(['partition', '--model', 'tiny-llama', '--gpus', '2', '--context', '256', '--granularity', '16', '--bandwidth', '1 GB/s', '--measure', '--measure-top', '2', '--repeats', '1', '--json']);
    expect([code, err]).toEqual([0, '']);
    const report = JSON.parse(out);
    expect(report.measured.candidates).toHaveLength(2);
    expect(report.measured.candidates[0].partition).toEqual(report.partition);
    expect(report.measured.candidates[0].simulated_s).toBe(report.ttft_s);
    expect(report.measured.device).toMatch(/^cpu/);
    expect(report.measured.device_time_s).toBeGreaterThan(0);
  });

  test('kvr-p with the model predictor needs no table', async () => {
    const { code, out } = await run(['simulate', '--strategy', 'kvr-p', '--gpus', '8', '--context', '12000', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(out).partition_origin.predictor).toBe('model');
  });

  test.each([
    [['partition', '--strategy', 'tsp'], /^kvr: --strategy: does not apply to kvr partition/],
    [['partition', '--search', 'random'], /^kvr: --search: unknown value "random" \(allowed: fast, grid, exhaustive\)$/],
    [['partition', '--granularity', '0'], /^kvr: --granularity: expected an integer in 1\.\./],
    [['partition', '--gpus', '4', '--context', '100'], /^kvr: --granularity: 64 tokens is too coarse for 100 tokens on 4 GPUs: needs context >= 193$/],
    [['simulate', '--search', 'grid'], /^kvr: --search: only applies to --strategy kvr-s or kvr-tp \(strategy is kvr-e\)$/],
    [['simulate', '--strategy', 'kvr-p', '--table', 't.json'], /^kvr: --table: only applies to --predictor interpolate/],
    [['simulate', '--strategy', 'kvr-p', '--predictor', 'interpolate', '--model', 'llama2-13b'], /^kvr: --table: --predictor interpolate needs a partition table and there is none at .*llama2-13b\.a100-80g\.switch\.flash\.json/],
    [['simulate', '--strategy', 'kvr-p', '--predictor', 'interpolate', '--attention', 'eager', '--table', committed('llama2-7b', 'flash')], /^kvr: --table: was built for attention flash, not eager; build one with kvr partition build-table$/],
    [['simulate', '--strategy', 'kvr-p', '--predictor', 'interpolate', '--table', committed('llama2-7b', 'eager')], /^kvr: --table: was built for attention eager, not flash; /],
    [['simulate', '--strategy', 'kvr-p', '--predictor', 'interpolate', '--model', 'falcon-7b', '--table', committed('llama2-7b', 'flash')], /^kvr: --table: was built for model llama2-7b, not falcon-7b; /],
    [['simulate', '--strategy', 'kvr-p', '--predictor', 'interpolate', '--gpu', 'h100-sxm', '--table', committed('llama2-7b', 'flash')], /^kvr: --table: was built for gpu a100-80g \(datasheet\), not h100-sxm \(datasheet\); /],
    [['simulate', '--strategy', 'kvr-p', '--predictor', 'interpolate', '--topology', 'ring', '--table', committed('llama2-7b', 'flash')], /^kvr: --table: was built for topology switch, not ring; /],
    [['simulate', '--strategy', 'kvr-p', '--predictor', 'interpolate', '--latency', '5 us', '--table', committed('llama2-7b', 'flash')], /^kvr: --table: was built for hop latency 2 us, not 5 us; /],
    [['partition', 'validate', '--attention', 'eager', '--table', committed('llama2-7b', 'flash')], /^kvr: --table: was built for attention flash, not eager; /],
    [['partition', 'validate'], /^kvr: --table: is required/],
    [['partition', '--measure-top', '3'], /^kvr: --measure-top: only applies with --measure$/],
    [['partition', 'build-table', '--gpus', '1', '--context', '64'], /^kvr: --gpus: a partition table needs 2 or more GPUs$/],
    [['partition', 'build-table', '--gpus', '2,,4'], /^kvr: --gpus: expected a comma-separated list without empty items/],
  ])('%j', async (argv, message) => {
    const { code, out, err } = await run(argv);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(err.trimEnd()).toMatch(message);
  });
});
