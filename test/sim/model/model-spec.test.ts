import { describe, expect, test } from 'vitest';
import { modelFromJson } from '../../../sim/model/model-spec.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';

const llama = MODEL_PRESETS['llama2-7b']!;

describe('modelFromJson', () => {
  test('reads a complete model and round-trips a preset', () => {
    expect(modelFromJson(JSON.parse(JSON.stringify(llama)))).toEqual(llama);
  });

  test('applies the documented defaults of optional fields', () => {
    const { dtype_bytes: _b, norm: _n, tied_embeddings: _t, ...required } = llama;
    expect(modelFromJson(required)).toEqual(llama);
  });

  test.each([
    [{ ...llama, layers: 0 }, /^m.layers: expected an integer in 1\.\.4096/],
    [{ ...llama, layers: 2.5 }, /^m.layers: expected an integer/],
    [{ ...llama, heads: '32' }, /^m.heads: expected an integer/],
    [{ ...llama, kv_heads: 5 }, /^m.kv_heads: must divide heads \(32\)/],
    [{ ...llama, mlp: 'relu' }, /^m.mlp: expected one of swiglu, gelu/],
    [{ ...llama, block: 'weird' }, /^m.block: expected one of sequential, parallel/],
    [{ ...llama, layer: 32 }, /^m.layer: unknown field \(allowed: /],
    [(() => { const { vocab: _v, ...rest } = llama; return rest; })(), /^m.vocab: is required/],
    [[], /^m: expected an object/],
    [null, /^m: expected an object/],
  ])('rejects %j', (input, message) => {
    expect(() => modelFromJson(input, 'm')).toThrow(message);
  });
});

describe('examples/llama3.1-405b.json', () => {
  test('reads as the llama3.1-405b preset (the Hugging Face config values): 126 layers, GQA 128/8 heads', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { projectRoot } = await import('../../../cli/project-root.js');
    const model = modelFromJson(JSON.parse(readFileSync(join(projectRoot(), 'examples', 'llama3.1-405b.json'), 'utf8')));
    expect(model).toEqual(MODEL_PRESETS['llama3.1-405b']);
    expect([model.layers, model.heads, model.kv_heads, model.hidden / model.heads]).toEqual([126, 128, 8, 128]);
  });
});
