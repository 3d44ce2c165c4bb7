import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import AjvModule from 'ajv';
import { parse } from 'csv-parse/sync';
import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { projectRoot } from '../../cli/project-root.js';
import { MemoryIo } from '../support/memory-io.js';

const schema = (name: string): object => JSON.parse(readFileSync(join(projectRoot(), 'schemas', `${name}.schema.json`), 'utf8')) as object;
// ajv is CommonJS: under NodeNext its class is the default export's `default`.
const Ajv = AjvModule.default;
const ajv = new Ajv({ allErrors: true, strict: false });
const OUTPUTS = ['kvr-scenario', 'kvr-sim-result', 'kvr-compare', 'kvr-sweep-row', 'kvr-partition-result', 'kvr-plan-row', 'kvr-plan-result', 'kvr-demo', 'kvr-devices', 'kvr-exec-measurement', 'kvr-calibration-profile', 'kvr-shape-profile', 'kvr-validation-report', 'kvr-partition-table', 'kvr-partition-validation', 'kvr-plan'];
for (const name of OUTPUTS) ajv.addSchema(schema(name));

function check(id: string, value: unknown): void {
  const validate = ajv.getSchema(`https://kvr.invalid/schemas/${id}.schema.json`)!;
  expect(validate(value) ? [] : validate.errors).toEqual([]);
}

/** A broken variant (a required field dropped, a number turned into text) is refused. */
function refuses(id: string, value: Record<string, unknown>, drop: string, retype: string): void {
  const validate = ajv.getSchema(`https://kvr.invalid/schemas/${id}.schema.json`)!;
  const { [drop]: _dropped, ...rest } = value;
  expect(validate(rest)).toBe(false);
  expect(validate({ ...value, [retype]: String(value[retype]) })).toBe(false);
}

const json = (text: string | undefined): Record<string, unknown> => JSON.parse(text!) as Record<string, unknown>;
const repoFile = (...parts: string[]): Record<string, unknown> => json(readFileSync(join(projectRoot(), ...parts), 'utf8'));

describe('schemas/ describe the JSON outputs', () => {
  test('simulate --json is a kvr-sim/result@1 with its scenario', async () => {
    const io = new MemoryIo({});
    expect(await runCli(['simulate', '--model', 'hf:Qwen/Qwen2.5-7B', '--gpus', '4', '--context', '8k', '--strategy', 'tsp', '--json'], io)).toBe(0);
    check('kvr-sim-result', JSON.parse(io.out));
  });
  test('compare --json is a kvr-compare@3', async () => {
    const io = new MemoryIo({});
    expect(await runCli(['compare', '--gpus', '2', '--context', '2048', '--json'], io)).toBe(0);
    check('kvr-compare', JSON.parse(io.out));
  });
  test('every sweep .jsonl line, an invalid row too, is a kvr-sweep-row', async () => {
    const io = new MemoryIo({ '/w/s.csv': 'model,gpus,context,strategy,bandwidth\nllama2-7b,2,1024,kvr-e,10 GB/s\nllama2-7b,4,3,tsp,\n' });
    expect(await runCli(['sweep', '/w/s.csv', '--jobs', '0'], io)).toBe(0);
    const lines = io.files.get('kvr-out/s.results.jsonl')!.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.bandwidth_Bps, l.latency_s, l.error === null])).toEqual([[10e9, 2e-6, true], [null, null, false]]);
    for (const line of lines) check('kvr-sweep-row', line);
  });

  test('partition --json is a kvr-partition/result@1', async () => {
    const io = new MemoryIo({});
    expect(await runCli(['partition', '--model', 'llama2-7b', '--gpus', '4', '--context', '4096', '--json'], io)).toBe(0);
    check('kvr-partition-result', json(io.out));
    refuses('kvr-partition-result', json(io.out), 'partition', 'ttft_s');
  });
  test('plan --json is a kvr-plan/result@1 whose candidates are the CSV rows (kvr-plan-row)', async () => {
    const catalogue = 'offers:\n  - {name: box, gpu: h100-sxm, price_per_gpu_hour: 3, interconnect: nvswitch, gpus_per_node: 8, gpu_counts: [1, 2]}\n';
    const io = new MemoryIo({ '/p/cat.yaml': catalogue });
    expect(await runCli(['plan', '--model', 'llama2-7b', '--context', '4096', '--ttft', '0.1 s', '--catalogue', '/p/cat.yaml', '--strategies', 'single,kvr-e', '--jobs', '0', '--no-figure', '--out', '/p/plan', '--json'], io)).toBe(0);
    const result = json(io.out);
    check('kvr-plan-result', result);
    refuses('kvr-plan-result', result, 'candidates', 'target_ttft_s');
    // The CSV read as a Python user would: empty cells are null, numbers and booleans cast.
    const rows = parse(io.files.get('/p/plan.csv')!, {
      columns: true,
      cast: (cell) => (cell === '' ? null : cell === 'true' ? true : cell === 'false' ? false : Number.isNaN(Number(cell)) ? cell : Number(cell)),
    }) as Record<string, unknown>[];
    expect(rows).toEqual(result.candidates);
    const required = (schema('kvr-plan-row') as { required: string[] }).required;
    expect(Object.keys(rows[0]!)).toEqual(required);
    for (const row of rows) check('kvr-plan-row', row);
    refuses('kvr-plan-row', rows[0]!, 'strategy', 'gpus');
  });
  test('demo --json is a kvr-demo@1 holding a kvr-compare', async () => {
    const io = new MemoryIo({});
    expect(await runCli(['demo', '--json'], io)).toBe(0);
    check('kvr-demo', json(io.out));
    refuses('kvr-demo', json(io.out), 'rows', 'compare');
  });
  test('devices --json, exec --json (kvr-exec/measurement@1)', async () => {
    const io = new MemoryIo({});
    expect(await runCli(['devices', '--json'], io)).toBe(0);
    check('kvr-devices', json(io.out));
    refuses('kvr-devices', json(io.out), 'build', 'cpu');
    for (const argv of [['--gpus', '2', '--strategy', 'kvr-e'], ['--strategy', 'single']]) {
      io.out = '';
      expect(await runCli(['exec', '--model', 'tiny-llama', '--context', '64', '--repeats', '1', '--warmup', '0', ...argv, '--json'], io)).toBe(0);
      check('kvr-exec-measurement', json(io.out));
      refuses('kvr-exec-measurement', json(io.out), 'ranks', 'ttft_s');
    }
  }, 60_000);
  test('calibrate writes a kvr-calibration/profile@1; validate a kvr-validation/report@1', async () => {
    const io = new MemoryIo({});
    expect(await runCli(['calibrate', '--quiet', '--model', 'tiny-llama', '--tokens', '16,32', '--prefixes', '0,32', '--link-tokens', '16', '--repeats', '1', '--warmup', '0', '--out', 'p.json'], io)).toBe(0);
    check('kvr-calibration-profile', json(io.files.get('p.json')));
    refuses('kvr-calibration-profile', json(io.files.get('p.json')), 'gpu', 'calibration');
    expect(await runCli(['validate', '--quiet', '--gpu', 'p.json', '--single', '64', '--ranks', '2', '--contexts', '128', '--strategies', 'tsp,kvr-e', '--repeats', '1', '--out', 'val'], io)).toBe(0);
    check('kvr-validation-report', json(io.files.get('val/report.json')));
    refuses('kvr-validation-report', json(io.files.get('val/report.json')), 'rows', 'overall');
  }, 60_000);
  test('the shipped shape profile and partition tables match their schemas', () => {
    const profile = repoFile('calibration', 'profiles', 'h200-pytorch.json');
    check('kvr-shape-profile', profile);
    refuses('kvr-shape-profile', profile, 'model', 'sources');
    const dir = join(projectRoot(), 'calibration', 'partition-tables');
    const tables = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(tables.length).toBeGreaterThan(0);
    for (const file of tables) check('kvr-partition-table', repoFile('calibration', 'partition-tables', file));
    refuses('kvr-partition-table', repoFile('calibration', 'partition-tables', tables[0]!), 'entries', 'granularity');
  });
  test('partition validate --json is a kvr-partition-validation@1; export-plan writes a kvr-plan@1 that exec runs', async () => {
    const io = new MemoryIo({});
    const table = join(projectRoot(), 'calibration', 'partition-tables', 'llama2-7b.a100-80g.switch.flash.json');
    expect(await runCli(['partition', 'validate', '--table', table, '--json'], io)).toBe(0);
    check('kvr-partition-validation', json(io.out));
    refuses('kvr-partition-validation', json(io.out), 'rows', 'summary');
    for (const argv of [['--strategy', 'kvr-e'], ['--strategy', 'tsp'], ['--strategy', 'tp']]) {
      io.out = '';
      expect(await runCli(['export-plan', '--model', 'tiny-llama', '--gpus', '2', '--context', '64', ...argv], io)).toBe(0);
      check('kvr-plan', json(io.out));
      refuses('kvr-plan', json(io.out), 'ops', 'gpus');
    }
  });
});
