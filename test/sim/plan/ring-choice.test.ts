import { describe, expect, test } from 'vitest';
import { chooseRing } from '../../../sim/plan/ring-choice.js';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { tinyModel } from '../../support/scenarios.js';

// Yang et al. (arXiv 2411.01783): pass-KV when T >= N C NKV e / (2 NH BW) or T/(T+P) >= 2 NKV/NH.
describe('chooseRing', () => {
  const llama405b = MODEL_PRESETS['llama3.1-405b']!; // 128 heads, 8 KV heads, fp16

  test('the overlap threshold by hand: 4 positions, 989 TFLOP/s, 50 GB/s: 4 x 989e12 x 8 x 2 / (2 x 128 x 50e9) tokens', () => {
    const choice = chooseRing(llama405b, 131072, 0, 4, 989e12, 50e9);
    expect(choice.overlap_threshold_tokens).toBeCloseTo((4 * 989e12 * 8 * 2) / (2 * 128 * 50e9), 6);
    expect(choice.miss_rate_threshold).toBe(2 * 8 / 128);
    expect(choice).toMatchObject({ recommended: 'ring-kv', reason: 'overlap', miss_rate: 1 });
  });

  test('few new tokens over a long cached prefix: pass-Q; the same without the prefix: pass-KV by bytes (GQA)', () => {
    expect(chooseRing(llama405b, 1000, 99000, 4, 989e12, 50e9)).toMatchObject({ recommended: 'ring-q', reason: 'neither' });
    expect(chooseRing(llama405b, 1000, 0, 4, 989e12, 50e9)).toMatchObject({ recommended: 'ring-kv', reason: 'bytes' });
  });

  test('multi-head attention (K,V twice the queries): a short full prefill is pass-Q', () => {
    const mha = { ...tinyModel, kv_heads: tinyModel.heads };
    const choice = chooseRing(mha, 100, 0, 8, 989e12, 50e9);
    expect(choice.miss_rate_threshold).toBe(2);
    expect(choice.recommended).toBe('ring-q');
  });
});
