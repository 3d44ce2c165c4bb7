import { describe, expect, test } from 'vitest';
import { activationPeakBytes, rankMemory } from '../../../sim/result/memory.js';
import { falcon7b, llama7b } from '../../support/scenarios.js';

describe('rank memory', () => {
  test('llama2-7b: the MLP phase (gate, up, product) is the activation peak', () => {
    const c = 2048;
    const mlp = 2 * 4096 + 3 * 11008;
    expect(activationPeakBytes(llama7b, c)).toBe(2 * c * mlp + 4 * 32000);
  });

  test('falcon-7b: a parallel block also holds the attention output during its MLP', () => {
    const c = 1000;
    const mlp = 2 * 4544 + 2 * 18176 + 71 * 64;
    expect(activationPeakBytes(falcon7b, c)).toBe(2 * c * mlp + 4 * 65024);
  });

  test('total = replicated weights + KV-cache over all layers + activations', () => {
    const memory = rankMemory(llama7b, 2048, 8192);
    expect(memory.weights).toBe(6_738_415_616 * 2);
    expect(memory.kv_cache).toBe(8192 * 16384 * 32);
    expect(memory.total).toBe(memory.weights + memory.kv_cache + memory.activations);
  });
});
