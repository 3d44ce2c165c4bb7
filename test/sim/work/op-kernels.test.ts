import { describe, expect, test } from 'vitest';
import { MODEL_PRESETS } from '../../../sim/model/presets.js';
import { COMPUTE_OP_NAMES, computeOpFlops } from '../../../sim/work/compute-op.js';
import { opKernels } from '../../../sim/work/op-kernels.js';

describe('opKernels', () => {
  const shapes = [
    { tokens: 2048, prefix: 0, keys: 2048, causal: true },
    { tokens: 1000, prefix: 3000, keys: 4000, causal: true },
    { tokens: 1024, prefix: 2048, keys: 8192, causal: false },
  ];
  for (const model of Object.values(MODEL_PRESETS)) {
    test(`${model.name}: the kernels' matmul FLOPs add up to the op's FLOPs; memory-bound kernels have none`, () => {
      for (const name of COMPUTE_OP_NAMES) {
        for (const shape of shapes) {
          const op = { name, ...shape };
          const kernels = opKernels(model, op);
          expect(kernels.reduce((sum, k) => sum + k.flops, 0)).toBe(computeOpFlops(model, op));
          for (const k of kernels) {
            if (k.kind === 'memory') expect(k.flops).toBe(0);
            expect(k.bytes).toBeGreaterThan(0);
          }
        }
      }
    });
  }

  test('a parallel block (Falcon) has no norm in its MLP and adds three operands in one residual', () => {
    const falcon = MODEL_PRESETS['falcon-7b']!;
    const mlp = opKernels(falcon, { name: 'mlp', tokens: 10, prefix: 0, keys: 10, causal: true });
    expect(mlp.map((k) => k.name)).toEqual(['up_proj', 'gelu', 'down_proj', 'residual']);
    expect(mlp[3]!.bytes).toBe(2 * 4 * 10 * falcon.hidden);
    const o = opKernels(falcon, { name: 'o', tokens: 10, prefix: 0, keys: 10, causal: true });
    expect(o.map((k) => k.name)).toEqual(['o_proj']);
  });

  test('DESIGN §2 FLOPs for llama2-7b, c = 1024 after a 3072-token prefix', () => {
    const m = MODEL_PRESETS['llama2-7b']!;
    const c = 1024;
    const shape = { tokens: c, prefix: 3072, keys: 4096, causal: true };
    expect(computeOpFlops(m, { name: 'qkv', ...shape })).toBe(2 * c * 4096 * 96 * 128);
    expect(computeOpFlops(m, { name: 'attn', ...shape })).toBe(4 * 32 * 128 * c * (3072 + 1025 / 2));
    expect(computeOpFlops(m, { name: 'attn', ...shape, causal: false, keys: 16384 })).toBe(4 * 32 * 128 * c * 16384);
    expect(computeOpFlops(m, { name: 'o', ...shape })).toBe(2 * c * 4096 * 4096);
    expect(computeOpFlops(m, { name: 'mlp', ...shape })).toBe(6 * c * 4096 * 11008);
    expect(computeOpFlops(m, { name: 'lm_head', ...shape })).toBe(2 * 4096 * 32000);
  });

  test('eager attention: two GEMMs over every key plus a softmax that reads and writes the scores', () => {
    const m = MODEL_PRESETS['llama2-7b']!;
    const op = { name: 'attn' as const, tokens: 1024, prefix: 3072, keys: 4096, causal: true };
    const kernels = opKernels(m, op, 'eager');
    expect(kernels.map((k) => k.name)).toEqual(['attn_scores', 'softmax', 'attn_values']);
    // The causal mask is applied, not skipped: 4*h*hd*c*K, more than the causal-aware count.
    expect(kernels[0]!.flops + kernels[2]!.flops).toBe(4 * 32 * 128 * 1024 * 4096);
    expect(kernels[0]!.flops + kernels[2]!.flops).toBeGreaterThan(computeOpFlops(m, op));
    expect(kernels[1]!.bytes).toBe(2 * 2 * 32 * 1024 * 4096);
  });
});
