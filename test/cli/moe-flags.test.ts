import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import AjvModule from 'ajv';
import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { projectRoot } from '../../cli/project-root.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';
import { MemoryIo } from '../support/memory-io.js';
import { tpExpertParallelFlops } from '../support/moe-flops.js';

async function run(argv: string[]) {
  const io = new MemoryIo({});
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err };
}

describe('--ep and --expert-imbalance', () => {
  test.each(['mixtral-8x7b', 'deepseek-v3'])('kvr simulate --model %s --strategy tp --ep 8 --gpus 8 runs; its FLOPs are the active experts` by hand', async (name) => {
    const { code, out, err } = await run(['simulate', '--model', name, '--strategy', 'tp', '--ep', '8', '--gpus', '8', '--json']);
    expect([code, err]).toEqual([0, '']);
    const result = JSON.parse(out);
    // Default context 16384 tokens.
    expect(result.context).toBe(16384);
    expect(result.flops_total).toBe(tpExpertParallelFlops(MODEL_PRESETS[name]!, 16384, 8));
    // The result, its model's moe (and mla) fields included, is a kvr-sim/result@1.
    expect(result.scenario.model.moe).toEqual(MODEL_PRESETS[name]!.moe);
    const ajv = new AjvModule.default({ allErrors: true, strict: false });
    for (const schema of ['kvr-scenario', 'kvr-sim-result']) ajv.addSchema(JSON.parse(readFileSync(join(projectRoot(), 'schemas', `${schema}.schema.json`), 'utf8')) as object);
    const validate = ajv.getSchema('https://kvr.invalid/schemas/kvr-sim-result.schema.json')!;
    expect(validate(result) ? [] : validate.errors).toEqual([]);
    expect(validate({ ...result, scenario: { ...result.scenario, model: { ...result.scenario.model, moe: { experts: 8 } } } })).toBe(false);
  });

  test('an imbalance of 2 slows the experts on the busiest GPU, not the FLOPs (ideal GPU: time is FLOPs)', async () => {
    const flags = ['simulate', '--model', 'mixtral-8x7b', '--strategy', 'tp', '--ep', '8', '--gpus', '8', '--gpu', 'ideal', '--bandwidth', '300 GB/s', '--context', '4096', '--json'];
    const even = JSON.parse((await run(flags)).out);
    const skewed = JSON.parse((await run([...flags, '--expert-imbalance', '2'])).out);
    expect(skewed.flops_total).toBe(even.flops_total);
    expect(skewed.ttft_s).toBeGreaterThan(even.ttft_s);
    // The busiest GPU (0) computes twice the mean of 4096 x 2 / 8 = 1024 pairs: 1024 more in each of
    // 32 layers, 6 x d x f_e = 6 x 4096 x 14336 FLOPs each.
    expect(skewed.ranks[0].flops - even.ranks[0].flops).toBe(32 * 1024 * 6 * 4096 * 14336);
  });

  test.each([
    [['--strategy', 'kvr-e', '--ep', '8'], /^kvr: --ep: only applies to --strategy tp or tp-sp \(strategy is kvr-e\)\n$/],
    [['--strategy', 'tp', '--ep', '4'], /^kvr: --ep: expert parallelism spans the tensor-parallel group: allowed 1 or --gpus 8 \(got 4\)\n$/],
    [['--strategy', 'tp', '--ep', '8', '--model', 'llama2-7b'], /^kvr: --ep: llama2-7b has no experts \(allowed: 1; /],
    [['--strategy', 'tp', '--expert-imbalance', '2'], /^kvr: --expert-imbalance: only applies with --ep > 1/],
    [['--strategy', 'tp', '--ep', '8', '--expert-imbalance', 'lots'], /^kvr: --expert-imbalance: expected a number in 1\.\.8 \(got "lots"\)\n$/],
    [['--strategy', 'tp', '--ep', '8', '--expert-imbalance', '9'], /^kvr: --expert-imbalance: expected a load factor in 1\.\.8 /],
  ])('%j: one line naming the flag, exit 2', async (flags, message) => {
    const { code, err } = await run(['simulate', '--model', 'mixtral-8x7b', '--gpus', '8', ...flags]);
    expect(code).not.toBe(0);
    expect(err).toMatch(message);
  });

  test('the executor refuses a MoE model in one line', async () => {
    const { code, err } = await run(['export-plan', '--model', 'mixtral-8x7b', '--strategy', 'tp', '--gpus', '2', '--context', '64']);
    expect(code).not.toBe(0);
    expect(err).toMatch(/^kvr: --model: mixtral-8x7b is a mixture-of-experts model, which the native executor does not run/);
  });
});
