import { describe, expect, test } from 'vitest';
import { kvBytesPerToken, modelParams } from '../../../sim/model/model-size.js';
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
});
