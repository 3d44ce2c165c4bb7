import { GPU_PRESETS } from '../../sim/hardware/gpu-presets.js';
import { analyticAttentionSeconds, analyticGemmSeconds, type ShapeModel } from '../../sim/hardware/shape-model.js';
import { baseShapeModel } from '../../calibration/fit-shape-profile.js';

/** A known analytic H200-like GPU: the truth that round-trip tests measure and fit back. */
export function knownAnalyticGpu(): ShapeModel {
  const base = baseShapeModel(GPU_PRESETS.h200!, 132, 'eager', 2);
  return {
    ...base,
    memory: { ...base.memory, hbm_fraction: 0.9 },
    gemm: { ...base.gemm, efficiency: 0.68, latency_s: 12e-6 },
    attention: {
      square: { latency_s: 40e-6, plateau_flops: 620e12, half_rows: 30_000 },
      prefix: { latency_s: 50e-6, plateau_flops: 330e12, half_rows: 8_000 },
    },
  };
}

export const GEMM_SHAPES: Array<[number, number]> = [
  [12288, 4096],
  [4096, 4096],
  [22016, 4096],
  [4096, 11008],
];

/** The GPU "measured" as a torch-probe@1 file over a GEMM m grid and an SDPA c x P grid. */
export function probeFileOf(model: ShapeModel, ms = [64, 256, 1024, 4096, 16384], cs = [256, 1024, 4096, 16384], ps = [0, 1024, 4096, 16384]): string {
  return JSON.stringify({
    schema: 'kvr-measurements/torch-probe@1',
    gpu: 'NVIDIA H200',
    torch: 'analytic',
    dtype: 'fp16',
    model_shape: { hidden: 4096, heads: 32, kv_heads: 32, head_dim: 128, ffn: 11008, vocab: 32000, layers: 32 },
    gemm: ms.flatMap((m) => GEMM_SHAPES.map(([n, k]) => ({ op: 'gemm', m, k, n, dtype: 'fp16', ms: analyticGemmSeconds(model, m, n, k) * 1e3 }))),
    attention: cs.flatMap((c) =>
      ps.map((P) => ({ c, P, mask: 'causal', heads: 32, kv_heads: 32, head_dim: 128, ms: analyticAttentionSeconds(model, { c, P, mask: 'causal', heads: 32, kv_heads: 32, head_dim: 128 }) * 1e3 })),
    ),
    // Streaming kernels at the truth's HBM fraction with a 4 us GPU floor.
    elementwise: [1e4, 1e6, 1e7, 1e8, 1e9].map((bytes, i) => ({ kernel: `copy${i}`, bytes, ms: Math.max(bytes / (model.memory.hbm_bandwidth * model.memory.hbm_fraction), 4e-6) * 1e3 })),
    launch: { empty_kernel_us: 3 },
  });
}
