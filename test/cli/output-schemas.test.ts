import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import AjvModule from 'ajv';
import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { projectRoot } from '../../cli/project-root.js';
import { MemoryIo } from '../support/memory-io.js';

const schema = (name: string): object => JSON.parse(readFileSync(join(projectRoot(), 'schemas', `${name}.schema.json`), 'utf8')) as object;
// ajv is CommonJS: under NodeNext its class is the default export's `default`.
const Ajv = AjvModule.default;
const ajv = new Ajv({ allErrors: true, strict: false });
for (const name of ['kvr-scenario', 'kvr-sim-result', 'kvr-compare', 'kvr-sweep-row']) ajv.addSchema(schema(name));

function check(id: string, value: unknown): void {
  const validate = ajv.getSchema(`https://kvr.invalid/schemas/${id}.schema.json`)!;
  expect(validate(value) ? [] : validate.errors).toEqual([]);
}

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
});
