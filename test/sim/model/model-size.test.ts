import { describe, expect, test } from 'vitest';
import { kvBytesPerToken, modelParams, stageWeightBytes, weightBytes } from '../../../sim/model/model-size.js';
import { prefixes } from '../../../sim/plan/partition.js';
import { stageLayers } from '../../../sim/plan/strategies/pp-chunked.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';

describe('model size', () => {
  // Parameter counts published for the Hugging Face checkpoints of these models.
  test.each([
    ['llama2-7b', 6_738_415_616],
    ['llama2-13b', 13_015_864_320],
    ['llama2-70b', 68_976_648_192],
    ['llama3-8b', 8_030_261_248],
    ['mistral-7b', 7_241_732_096],
    ['falcon-7b', 6_921_720_704],
  ])('%s has %i parameters', (name, params) => {
    expect(modelParams(MODEL_PRESETS[name]!)).toBe(params);
  });

  test.each([
    ['llama2-7b', 2 * 32 * 128 * 2],
    ['llama2-70b', 2 * 8 * 128 * 2],
    ['falcon-7b', 2 * 1 * 64 * 2],
  ])('%s keeps %i KV bytes per token per layer', (name, bytes) => {
    expect(kvBytesPerToken(MODEL_PRESETS[name]!)).toBe(bytes);
  });

  // A stage holds its layers' weights: over untied models the stages add up to the whole model,
  // MoE layers with all their experts (DeepSeek-V3: 3 dense layers, then 58 of 256 + 1 experts).
  test.each([
    ['llama2-70b', 4],
    ['mixtral-8x7b', 4],
    ['deepseek-v3', 8],
    ['deepseek-v3', 61],
  ])('%s over %i pipeline stages: the stages\' weight bytes sum to the model\'s', (name, pp) => {
    const model = MODEL_PRESETS[name]!;
    expect(model.tied_embeddings ?? false).toBe(false);
    const layers = stageLayers(model.layers, pp);
    const starts = prefixes(layers);
    const stages = layers.map((n, s) => stageWeightBytes(model, undefined, n, s === 0, s === pp - 1, starts[s]!));
    expect(stages.reduce((a, b) => a + b, 0)).toBe(weightBytes(model));
  });
});
