import type { Efficiency, GpuSpec } from './gpu-spec.js';

/**
 * Default efficiencies of the datasheet presets. They are round numbers inside published ranges,
 * not measurements, which is why every preset is marked uncalibrated until `kvr calibrate`
 * replaces them with a fitted profile:
 * - gemm 0.8: "optimized GEMM can reach up to 80-90% of the theoretical maximum device
 *   throughput" (Dao, FlashAttention-2, arXiv 2307.08691, §1); we take the low end because
 *   prefill GEMMs of a few thousand rows do not reach the largest-shape figure.
 * - attention 0.6: FlashAttention-2 forward reaches 50-73% of A100 peak (same paper, abstract
 *   and §4); FlashAttention-3 reaches 75% of H100 fp16 peak (Shah et al., arXiv 2407.08608,
 *   abstract). 0.6 sits inside the A100 range and below the H100 best case.
 * - memory 0.85: STREAM-style kernels such as BabelStream (Deakin et al.) sustain roughly
 *   85-90% of datasheet HBM bandwidth on A100/H100.
 * - launch overhead 4 us: a kernel launch costs a few microseconds (NVIDIA, "Getting Started
 *   with CUDA Graphs", 2019; measured at 4-6 us per submission on CUDA 13 in public
 *   launch-overhead write-ups); the paper ran PyTorch eager, one launch per kernel.
 */
const DATASHEET_EFFICIENCY: Efficiency = { gemm: 0.8, attention: 0.6, memory: 0.85 };
const EFFICIENCY_SOURCES =
  'gemm 0.8 (FlashAttention-2, arXiv 2307.08691 §1), attention 0.6 (FlashAttention-2 abstract/§4; FlashAttention-3, arXiv 2407.08608), memory 0.85 (BabelStream), launch 4 us (NVIDIA, Getting Started with CUDA Graphs)';
const LAUNCH_OVERHEAD_S = 4e-6;
const GB = 1e9;
const GIB = 2 ** 30;

export const GPU_PRESETS: Readonly<Record<string, GpuSpec>> = {
  // NVIDIA A100 datasheet: 312 TFLOP/s fp16 tensor (dense), 1555 GB/s (40GB) / 2039 GB/s (80GB),
  // NVLink 600 GB/s bidirectional (300 per direction), PCIe Gen4 64 GB/s (32 per direction).
  'a100-40g': datasheet('a100-40g', 312e12, 1555 * GB, 40 * GIB, 300 * GB, 32 * GB, 'NVIDIA A100 datasheet'),
  'a100-80g': datasheet('a100-80g', 312e12, 2039 * GB, 80 * GIB, 300 * GB, 32 * GB, 'NVIDIA A100 datasheet'),
  // NVIDIA H100 SXM datasheet: 989 TFLOP/s fp16 dense, 3.35 TB/s, 80 GB, NVLink 900 GB/s
  // bidirectional, PCIe Gen5 128 GB/s bidirectional. H200: same compute, 4.8 TB/s, 141 GB.
  'h100-sxm': datasheet('h100-sxm', 989e12, 3350 * GB, 80 * GB, 450 * GB, 64 * GB, 'NVIDIA H100 datasheet'),
  h200: datasheet('h200', 989e12, 4800 * GB, 141 * GB, 450 * GB, 64 * GB, 'NVIDIA H200 datasheet'),
  // An abstract GPU for hand arithmetic: 100 TFLOP/s, efficiency 1, no launch overhead, free
  // memory traffic and unlimited memory, so TTFT = FLOPs / 1e14 plus communication.
  ideal: {
    name: 'ideal',
    peak_flops: 100e12,
    hbm_bandwidth: null,
    memory_bytes: null,
    launch_overhead_s: 0,
    efficiency: { gemm: 1, attention: 1, memory: 1 },
    link_bandwidth: null,
    pcie_bandwidth: null,
    profile: 'abstract',
    source: 'abstract GPU for hand arithmetic (DESIGN §3)',
  },
};

function datasheet(
  name: string,
  peakFlops: number,
  hbm: number,
  memory: number,
  link: number,
  pcie: number,
  source: string,
): GpuSpec {
  return {
    name,
    peak_flops: peakFlops,
    hbm_bandwidth: hbm,
    memory_bytes: memory,
    launch_overhead_s: LAUNCH_OVERHEAD_S,
    efficiency: { ...DATASHEET_EFFICIENCY },
    link_bandwidth: link,
    pcie_bandwidth: pcie,
    profile: 'datasheet',
    source: `${source}; efficiencies are published ranges: ${EFFICIENCY_SOURCES} (sim/hardware/gpu-presets.ts)`,
  };
}

export const GPU_PRESET_NAMES = Object.keys(GPU_PRESETS);
