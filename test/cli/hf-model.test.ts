import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { HF_CATALOGUE } from '../../sim/model/hf-catalogue.js';
import { MemoryIo } from '../support/memory-io.js';

const llamaConfig = JSON.stringify(HF_CATALOGUE['meta-llama/Llama-3.1-8B']);

async function run(argv: string[], files: Record<string, string> = {}) {
  const io = new MemoryIo(files);
  const code = await runCli(argv, io);
  return { code, out: io.out, err: io.err };
}

describe('--model from a Hugging Face config', () => {
  test('a config.json file: simulate works and the ignored fields are listed once on stderr', async () => {
    const { code, out, err } = await run(['simulate', '--model', 'hf/Llama-3.1-8B/config.json', '--gpus', '8', '--context', '16384', '--json'], { 'hf/Llama-3.1-8B/config.json': llamaConfig });
    expect(code).toBe(0);
    expect(JSON.parse(out).model).toBe('Llama-3.1-8B');
    expect(err.split('\n').filter((l) => l.startsWith('note:'))).toEqual([
      'note: hf/Llama-3.1-8B/config.json: 13 config fields not modelled by kvr, ignored: attention_bias, attention_dropout, bos_token_id, eos_token_id, initializer_range, max_position_embeddings, mlp_bias, pretraining_tp, rms_norm_eps, rope_scaling, rope_theta, transformers_version, use_cache',
    ]);
  });
  test('a folder holding config.json, and hf:<repo id> from the catalogue, give the same TTFT as the preset', async () => {
    const args = ['--gpus', '8', '--context', '16384', '--json'];
    const folder = await run(['simulate', '--model', 'ckpt/llama', ...args], { 'ckpt/llama/config.json': llamaConfig });
    const hub = await run(['simulate', '--model', 'hf:meta-llama/llama-3.1-8b', ...args]);
    const preset = await run(['simulate', '--model', 'llama3.1-8b', ...args]);
    expect([folder.code, hub.code, preset.code]).toEqual([0, 0, 0]);
    expect(JSON.parse(hub.out).model).toBe('meta-llama/Llama-3.1-8B');
    expect(JSON.parse(folder.out).ttft_s).toBe(JSON.parse(preset.out).ttft_s);
    expect(JSON.parse(hub.out).ttft_s).toBe(JSON.parse(preset.out).ttft_s);
  });
  test('an unknown repo id is one line naming --model, exit 2', async () => {
    const { code, err } = await run(['simulate', '--model', 'hf:nobody/nothing']);
    expect(code).toBe(2);
    expect(err).toMatch(/^kvr: --model: "nobody\/nothing" is not in the built-in catalogue \(kvr reads no network; catalogue: meta-llama\/Llama-3.1-8B,/);
    expect(err.trim().split('\n')).toHaveLength(1);
  });
});
