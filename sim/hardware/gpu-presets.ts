import type { Efficiency, GpuSpec } from './gpu-spec.js';
import { DEFAULT_GEMM_TILES, type ShapeModel } from './shape-model.js';

/**
 * GPU presets: datasheet peaks (dense tensor-core FLOP/s without sparsity, HBM bandwidth, memory,
 * per-direction GPU-to-GPU and PCIe bandwidth) and achievable fractions from published kernel
 * measurements. Every number carries its source in a comment and in the preset's `source` string,
 * which `kvr simulate` prints. Every preset but `ideal` is shape-aware: the analytic shape model of
 * sim/hardware/shape-model.ts (GEMM tile and wave quantisation over the SMs; square causal and
 * chunk-over-prefix attention paths; memory-bound kernels of a fused serving stack), its constants
 * set from the figures below.
 *
 * All are uncalibrated (profile `datasheet`) until `kvr calibrate --from` fits a profile.
 */

// ---------------------------------------------------------------------------------------------
// Roofline efficiencies: kept on every preset as the `efficiency` a GPU file extending it starts
// from (a file that gives its own `efficiency` is costed by the roofline with it) and recorded in
// the profiles of `kvr calibrate --from`; no preset op is costed by them. Round numbers inside
// published ranges, not measurements:
// - gemm 0.8: "optimized GEMM can reach up to 80-90% of the theoretical maximum device
//   throughput" (Dao, FlashAttention-2, arXiv 2307.08691, §1).
// - attention 0.6: FlashAttention-2 forward reaches 50-73% of A100 peak (same paper, abstract).
// - memory 0.85: STREAM-style kernels such as BabelStream (Deakin et al.) sustain roughly 85-90%
//   of datasheet HBM bandwidth on A100/H100.
// - launch overhead 4 us: a kernel launch costs a few microseconds (NVIDIA, "Getting Started with
//   CUDA Graphs", 2019).
const DATASHEET_EFFICIENCY: Efficiency = { gemm: 0.8, attention: 0.6, memory: 0.85 };
const LAUNCH_OVERHEAD_S = 4e-6;
const GB = 1e9;
const GIB = 2 ** 30;
const T = 1e12;

// ---------------------------------------------------------------------------------------------
// Shape-aware defaults (fused serving stack), shared by the shape-aware presets:
// - GEMM plateau 0.71 of peak: the fitted plateau of calibration/profiles/h200-pytorch.json
//   (cuBLAS under PyTorch 2.11 on an H200, 604-697 TFLOP/s = 61-70% of 989 at m >= 1024, in
//   shared/measurements/h200-pytorch-microbench.json); inside "80-90% for optimized GEMM"
//   (FlashAttention-2 §1) less the clock and power throttling those largest shapes avoid.
// - GEMM latency 9.1 us, attention latencies 47 / 51 us and half_rows 1 / 1.9: the same fit
//   (measured under PyTorch eager: an upper bound for a fused stack's floors).
// - attention, square causal block: FlashAttention-3 fp16 forward, 740 TFLOP/s = 75% of H100 SXM
//   peak (arXiv 2407.08608, abstract; https://scrapbox.io/work4ai/FlashAttention-3).
// - attention, chunk over a prefix: 0.55 x the square rate, the ratio of the two fitted plateaus
//   of the H200 profile (316 / 576 TFLOP/s; measured SDPA: 325-330 vs ~600 TFLOP/s, issue 14).
// - fp8 attention: FlashAttention-3 fp8 reaches ~1.2 PFLOP/s against 740 TFLOP/s in fp16 on the
//   same H100 (same paper): plateaus x 1.62. fp8 GEMMs: the fp16 plateau fraction of the fp8
//   peak (assumption: no fair fp8 GEMM shape sweep found).
// - memory-bound kernels: 0.84 of HBM (coalesced loads at 2.8 of 3.35 TB/s on H100 SXM,
//   https://mikamirai.com/blog/gpu-memory-bandwidth/) and a 3 us floor (cudaLaunchKernel ~1-3 us
//   on CUDA 12+, https://jiahuanglin.xyz/all_lessons/gpu_kernel_serving/18_pytorch_to_kernel.html),
//   as calibration/fit-shape-profile.ts MEMORY_DEFAULTS.fused.
const SHAPE = {
  gemmEfficiency: 0.71,
  gemmLatency: 9.1e-6,
  squareFraction: 0.75,
  prefixRatio: 0.55,
  squareLatency: 47e-6,
  prefixLatency: 51e-6,
  squareHalfRows: 1,
  prefixHalfRows: 1.9,
  fp8AttentionScale: 1.2e15 / 740e12,
  hbmFraction: 0.84,
  launch: 3e-6,
};
const SHAPE_SOURCES =
  'shape-aware (fused stack): GEMM plateau 0.71 and floors from the fitted H200 profile (calibration/profiles/h200-pytorch.json: 604-697 TFLOP/s at m >= 1024); square causal attention 0.75 of peak (FlashAttention-3, arXiv 2407.08608: 740 TFLOP/s on H100); chunk over prefix 0.55 x that (H200 profile, 316 vs 576 TFLOP/s); fp8 attention x1.62 (FlashAttention-3: ~1.2 PFLOP/s fp8); memory 0.84 of HBM (https://mikamirai.com/blog/gpu-memory-bandwidth/), 3 us launch floor';

interface ShapeOptions {
  sms: number;
  /** Overrides of the shared defaults, each with its source next to it at the preset. */
  gemmEfficiency?: number;
  squareFraction?: number;
  hbmFraction?: number;
}

function shapeDefaults(peak: number, fp8Peak: number | null, hbm: number, o: ShapeOptions): ShapeModel {
  const gemmEfficiency = o.gemmEfficiency ?? SHAPE.gemmEfficiency;
  const square = (o.squareFraction ?? SHAPE.squareFraction) * peak;
  const model: ShapeModel = {
    stack: 'fused',
    peak_flops: peak,
    dtype_bytes: 2,
    gemm: { sms: o.sms, tiles: DEFAULT_GEMM_TILES.map((t) => ({ ...t })), efficiency: gemmEfficiency, latency_s: SHAPE.gemmLatency },
    attention: {
      square: { latency_s: SHAPE.squareLatency, plateau_flops: square, half_rows: SHAPE.squareHalfRows },
      prefix: { latency_s: SHAPE.prefixLatency, plateau_flops: square * SHAPE.prefixRatio, half_rows: SHAPE.prefixHalfRows },
    },
    memory: { hbm_bandwidth: hbm, hbm_fraction: o.hbmFraction ?? SHAPE.hbmFraction, launch_s: SHAPE.launch },
    gemm_points: [],
    attention_points: [],
    cv_error: { gemm: null, attention: null, memory: null },
  };
  if (fp8Peak !== null) model.fp8 = { peak_flops: fp8Peak, gemm_efficiency: gemmEfficiency, attention_scale: SHAPE.fp8AttentionScale };
  return model;
}

/** A100 (both memory sizes): its own GEMM and FlashAttention-2 fractions, cited at the presets. */
const A100_SHAPE: ShapeOptions & { sources: string } = {
  sms: 108,
  gemmEfficiency: 0.76,
  squareFraction: 0.73,
  sources:
    'A100 GEMM plateau 0.76 (best-shape matmul 85.9% of peak on A100 vs 80.1% on H100, Maximum Achievable Matmul FLOPS table, https://github.com/stas00/ml-engineering/tree/master/compute/accelerator#maximum-achievable-matmul-flops-comparison-table; scaled by the Hopper prefill plateau 0.71 / 0.801); A100 square causal attention 0.73 of peak (FlashAttention-2, arXiv 2307.08691: forward up to 73% of A100 peak, ~230 TFLOP/s; FlashAttention-3 needs Hopper)',
};

/** H100 SXM and H200: the shared Hopper defaults on 132 SMs. */
const HOPPER_SHAPE: ShapeOptions & { sources: string } = {
  sms: 132,
  sources:
    'Hopper GEMM plateau 0.71 sits below the best-shape matmul of an H100 SXM, 792.1 TFLOP/s = 80.1% (Maximum Achievable Matmul FLOPS table, https://github.com/stas00/ml-engineering/tree/master/compute/accelerator#maximum-achievable-matmul-flops-comparison-table)',
};

interface Datasheet {
  name: string;
  /** Dense fp16/bf16 tensor-core FLOP/s. */
  peak: number;
  /** Dense fp8 tensor-core FLOP/s; null: none. */
  fp8: number | null;
  hbm: number;
  memory: number;
  /** Per-direction GPU-to-GPU bandwidth (NVLink, xGMI; PCIe where a card has neither). */
  link: number | null;
  /** Per-direction PCIe bandwidth. */
  pcie: number | null;
  source: string;
}

function datasheet(d: Datasheet, shape: ShapeOptions & { sources?: string }): GpuSpec {
  const spec: GpuSpec = {
    name: d.name,
    peak_flops: d.peak,
    peak_flops_fp8: d.fp8,
    hbm_bandwidth: d.hbm,
    memory_bytes: d.memory,
    launch_overhead_s: LAUNCH_OVERHEAD_S,
    efficiency: { ...DATASHEET_EFFICIENCY },
    link_bandwidth: d.link,
    pcie_bandwidth: d.pcie,
    profile: 'datasheet',
    source: `${d.source}; ${SHAPE_SOURCES}${shape.sources === undefined ? '' : `; ${shape.sources}`} (sim/hardware/gpu-presets.ts)`,
    shape: shapeDefaults(d.peak, d.fp8, d.hbm, shape),
  };
  return spec;
}

export const GPU_PRESETS: Readonly<Record<string, GpuSpec>> = {
  // NVIDIA A100 datasheet (https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf):
  // 312 TFLOP/s fp16/bf16 tensor dense; no fp8 tensor cores; 1555 GB/s (40GB) / 2039 GB/s (80GB);
  // 108 SMs; NVLink 600 GB/s bidirectional (300 per direction); PCIe Gen4 64 GB/s (32 per direction).
  // Kernel fractions (A100_SHAPE):
  // - GEMM plateau 0.76: the best-shape bf16 matmul reaches 267.9 of 312 TFLOP/s (85.9%) on an
  //   A100 SXM against 792.1 of 989 (80.1%) on an H100 SXM (Maximum Achievable Matmul FLOPS table,
  //   Bekman, ml-engineering, https://github.com/stas00/ml-engineering/tree/master/compute/accelerator#maximum-achievable-matmul-flops-comparison-table);
  //   prefill shapes on Hopper plateau at 0.71 (the shared default above), 0.886 of its best shape;
  //   A100 at the same ratio: 0.859 x 0.71 / 0.801 = 0.76.
  // - square causal attention 0.73 of peak: FlashAttention-2 forward, up to 73% of the A100's
  //   theoretical maximum (~230 TFLOP/s; Dao, arXiv 2307.08691, abstract and §4.1); FlashAttention-3
  //   needs Hopper. The chunk over a prefix keeps the shared 0.55 ratio, itself measured on
  //   FlashAttention-2 (PyTorch SDPA's kernel on the H200).
  'a100-40g': datasheet(
    { name: 'a100-40g', peak: 312 * T, fp8: null, hbm: 1555 * GB, memory: 40 * GIB, link: 300 * GB, pcie: 32 * GB, source: 'NVIDIA A100 datasheet (312 TFLOP/s fp16 dense, no fp8, 1555 GB/s, 108 SMs, NVLink 300 GB/s per direction; https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf)' },
    A100_SHAPE,
  ),
  'a100-80g': datasheet(
    { name: 'a100-80g', peak: 312 * T, fp8: null, hbm: 2039 * GB, memory: 80 * GIB, link: 300 * GB, pcie: 32 * GB, source: 'NVIDIA A100 datasheet (312 TFLOP/s fp16 dense, no fp8, 2039 GB/s, 108 SMs, NVLink 300 GB/s per direction; https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf)' },
    A100_SHAPE,
  ),
  // NVIDIA H100 SXM datasheet (https://www.nvidia.com/en-us/data-center/h100/): 989 TFLOP/s fp16
  // dense (1979 with sparsity), fp8 1979 dense (3958 with sparsity), 3.35 TB/s, 80 GB, 132 SMs,
  // NVLink 900 GB/s bidirectional, PCIe Gen5 128 GB/s bidirectional (dense figures as tabulated at
  // https://glennklockwood.com/garden/processors/h100: FP16 matrix 989.4, FP8 1978.9).
  // Kernel fractions: the shared Hopper defaults (FlashAttention-3 for attention; GEMM plateau 0.71,
  // below the 80.1% best-shape matmul of the MAMF table cited at the A100, HOPPER_SHAPE).
  'h100-sxm': datasheet(
    { name: 'h100-sxm', peak: 989 * T, fp8: 1979 * T, hbm: 3350 * GB, memory: 80 * GB, link: 450 * GB, pcie: 64 * GB, source: 'NVIDIA H100 SXM datasheet (989 TFLOP/s fp16 dense, 1979 fp8 dense, 3.35 TB/s, 80 GB, 132 SMs, NVLink 450 GB/s per direction; https://www.nvidia.com/en-us/data-center/h100/)' },
    HOPPER_SHAPE,
  ),
  // NVIDIA H200 datasheet (https://www.nvidia.com/en-us/data-center/h200/): the H100 SXM's compute
  // (989 fp16 / 1979 fp8 dense, 132 SMs), 4.8 TB/s HBM3e, 141 GB, NVLink 900 GB/s bidirectional.
  // Kernel fractions: the H100 SXM's (same chip); only the HBM bandwidth differs. Compared (not
  // fitted) with the measured H200 file (PyTorch eager, SDPA = FlashAttention-2): GEMMs off by 8.0%
  // mean / 24.1% max, attention 18.5% / 29.6%, faster than measured on 46 of 48 points since this
  // preset assumes FlashAttention-3 (notebooks/calibration.ts, its "before" series).
  h200: datasheet(
    { name: 'h200', peak: 989 * T, fp8: 1979 * T, hbm: 4800 * GB, memory: 141 * GB, link: 450 * GB, pcie: 64 * GB, source: 'NVIDIA H200 datasheet (989 TFLOP/s fp16 dense, 1979 fp8 dense, 4.8 TB/s, 141 GB, 132 SMs, NVLink 450 GB/s per direction; https://www.nvidia.com/en-us/data-center/h200/)' },
    HOPPER_SHAPE,
  ),

  // NVIDIA H100 PCIe (H100 datasheet, PCIe column; table at https://archive-lib.hpctech.co.jp/gpuproduct/nvidia-h100.html):
  // fp16 1513 and fp8 3026 TFLOP/s with sparsity, so 756 / 1513 dense; 2 TB/s HBM2e, 80 GB, 114 SMs;
  // NVLink bridge 600 GB/s bidirectional joins pairs only, so between more cards the path is PCIe
  // Gen5 x16: 128 GB/s bidirectional, 64 per direction (link and pcie both 64).
  'h100-pcie': datasheet(
    { name: 'h100-pcie', peak: 756 * T, fp8: 1513 * T, hbm: 2000 * GB, memory: 80 * GB, link: 64 * GB, pcie: 64 * GB, source: 'NVIDIA H100 PCIe datasheet (756 TFLOP/s fp16 dense, 1513 fp8 dense, 2 TB/s, 80 GB, 114 SMs; NVLink bridge pairs only, so GPU-to-GPU over PCIe Gen5, 64 GB/s per direction)' },
    { sms: 114 },
  ),
  // NVIDIA GH200 Grace Hopper (H100 GPU with 96 GB HBM3 at 4 TB/s, https://spheron.network/blog/nvidia-gh200-guide;
  // NVLink 900 GB/s bidirectional; the GPU reaches the host over NVLink-C2C, PCIe Gen5 x16 for
  // NICs: 64 per direction). Compute as H100 SXM: 989 fp16 / 1979 fp8 dense, 132 SMs. The HBM3e
  // variant (144 GB, 4.9 TB/s) is {"base": "gh200", "memory": "144 GB", "hbm_bandwidth": "4.9 TB/s"}.
  gh200: datasheet(
    { name: 'gh200', peak: 989 * T, fp8: 1979 * T, hbm: 4000 * GB, memory: 96 * GB, link: 450 * GB, pcie: 64 * GB, source: 'NVIDIA GH200 Grace Hopper (H100 compute: 989 TFLOP/s fp16 dense, 1979 fp8 dense, 132 SMs; 96 GB HBM3 at 4 TB/s; NVLink 450 GB/s per direction)' },
    { sms: 132 },
  ),
  // NVIDIA H20 (Hopper for export markets): 148 TFLOP/s fp16 dense, 296 fp8, 96 GB HBM3 at 4.0 TB/s,
  // NVLink 900 GB/s bidirectional, PCIe Gen5 (https://willitrunai.com/es/gpus/h20-96gb); 78 SMs
  // (Geekbench 6 report, https://zangshuxian.com/new/674733024499207168). No public NVIDIA datasheet.
  h20: datasheet(
    { name: 'h20', peak: 148 * T, fp8: 296 * T, hbm: 4000 * GB, memory: 96 * GB, link: 450 * GB, pcie: 64 * GB, source: 'NVIDIA H20 (148 TFLOP/s fp16 dense, 296 fp8, 96 GB HBM3 at 4.0 TB/s, NVLink 450 GB/s per direction: https://willitrunai.com/es/gpus/h20-96gb; 78 SMs per Geekbench 6)' },
    { sms: 78 },
  ),
  // NVIDIA B200 (HGX B200 at 1000 W, https://glennklockwood.com/garden/processors/B200): 2250 TFLOP/s
  // fp16 dense, 4500 fp8 dense; 8 TB/s HBM3e; 180 GB per GPU in HGX/DGX B200 (1.44 TB for 8);
  // NVLink 5 1.8 TB/s bidirectional (900 per direction); PCIe Gen6 x16 256 GB/s bidirectional.
  // 148 SMs (CUDA device query). Kernel efficiencies: no fair published B200 GEMM or
  // FlashAttention sweep was found; the Hopper fractions are assumed.
  b200: datasheet(
    { name: 'b200', peak: 2250 * T, fp8: 4500 * T, hbm: 8000 * GB, memory: 180 * GB, link: 900 * GB, pcie: 128 * GB, source: 'NVIDIA HGX B200 (2250 TFLOP/s fp16 dense, 4500 fp8 dense, 8 TB/s, 180 GB, NVLink 5 900 GB/s per direction: https://glennklockwood.com/garden/processors/B200)' },
    { sms: 148, sources: 'B200 kernel fractions assumed equal to Hopper (no fair published B200 sweep found)' },
  ),
  // NVIDIA L40S datasheet (table at https://www.mullet.se/product.html?product_id=355414): fp16/bf16
  // 362.05 TFLOP/s dense (733 with sparsity), fp8 733 dense; 48 GB GDDR6 at 864 GB/s; 142 SMs; no
  // NVLink: PCIe Gen4 x16 64 GB/s bidirectional, 32 per direction, is also the GPU-to-GPU path.
  // Attention: Ada runs FlashAttention-2, not -3: 0.6 of peak, inside FA2's 50-73% of A100 peak
  // (arXiv 2307.08691).
  l40s: datasheet(
    { name: 'l40s', peak: 362.05 * T, fp8: 733 * T, hbm: 864 * GB, memory: 48 * GB, link: 32 * GB, pcie: 32 * GB, source: 'NVIDIA L40S datasheet (362 TFLOP/s fp16 dense, 733 fp8 dense, 864 GB/s GDDR6, 48 GB, 142 SMs, PCIe Gen4 only: 32 GB/s per direction)' },
    { sms: 142, squareFraction: 0.6, sources: 'L40S square attention 0.6 of peak (FlashAttention-2 on Ada: 50-73% of peak on A100, arXiv 2307.08691)' },
  ),
  // AMD Instinct MI300X datasheet (https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html):
  // 1307.4 TFLOP/s fp16/bf16 dense, 2614.9 fp8 dense; 192 GB HBM3 at 5.3 TB/s; 304 CUs; Infinity
  // Fabric 128 GB/s bidirectional per peer link (64 per direction; 448 GB/s aggregate over 7 peers,
  // https://www.emergentmind.com/topics/amd-mi300x-gpu); PCIe Gen5 x16, 64 per direction.
  // Efficiencies: ~45% of peak on FP16/BF16/FP8 GEMMs and ~81% of HBM bandwidth in practice
  // (https://aiweekly.co/alerts/amd-mi300x-hits-only-45-of-peak-flops-in-practice; AMD's own
  // max-achievable-FLOPs method: https://rocm.blogs.amd.com/software-tools-optimization/measuring-max-achievable-flops-part2/README.html).
  // Attention at the same 45% (CK FlashAttention-2; no fair published sweep found).
  mi300x: datasheet(
    { name: 'mi300x', peak: 1307.4 * T, fp8: 2614.9 * T, hbm: 5300 * GB, memory: 192 * GB, link: 64 * GB, pcie: 64 * GB, source: 'AMD Instinct MI300X datasheet (1307 TFLOP/s fp16 dense, 2615 fp8 dense, 5.3 TB/s, 192 GB, 304 CUs, xGMI 64 GB/s per direction per peer)' },
    { sms: 304, gemmEfficiency: 0.45, squareFraction: 0.45, hbmFraction: 0.81, sources: 'MI300X GEMM and attention 0.45 of peak, memory 0.81 of HBM (https://aiweekly.co/alerts/amd-mi300x-hits-only-45-of-peak-flops-in-practice)' },
  ),

  // An abstract GPU for hand arithmetic: 100 TFLOP/s (fp8: 200, twice, as on every datasheet
  // above), efficiency 1, no launch overhead, free memory traffic and unlimited memory, so
  // TTFT = FLOPs / 1e14 (fp8 kernels: / 2e14) plus communication.
  ideal: {
    name: 'ideal',
    peak_flops: 100e12,
    peak_flops_fp8: 200e12,
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

export const GPU_PRESET_NAMES = Object.keys(GPU_PRESETS);
