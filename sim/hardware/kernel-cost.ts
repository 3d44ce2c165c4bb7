import type { Kernel } from '../work/op-kernels.js';
import type { GpuSpec } from './gpu-spec.js';

/**
 * Roofline time of one kernel: max(FLOPs / (peak x efficiency), bytes / (HBM x efficiency))
 * (peak: the fp8 one for fp8 kernels, the same efficiencies)
 * plus the launch overhead. On the ideal GPU memory traffic is free and launches cost nothing.
 */
export function kernelSeconds(kernel: Kernel, gpu: GpuSpec): number {
  const peak = kernel.fp8 === true ? fp8Peak(gpu) : gpu.peak_flops;
  const compute = kernel.flops === 0 ? 0 : kernel.flops / (peak * gpu.efficiency[kernel.kind]);
  const memory = gpu.hbm_bandwidth === null ? 0 : kernel.bytes / (gpu.hbm_bandwidth * gpu.efficiency.memory);
  return Math.max(compute, memory) + gpu.launch_overhead_s;
}

/** Time of a canonical op: its kernels run back to back on the rank's compute stream. */
export function kernelsSeconds(kernels: readonly Kernel[], gpu: GpuSpec): number {
  let total = 0;
  for (const kernel of kernels) total += kernelSeconds(kernel, gpu);
  return total;
}

function fp8Peak(gpu: GpuSpec): number {
  if (gpu.peak_flops_fp8 == null) throw new Error(`fp8 kernel on GPU ${gpu.name} without an fp8 peak (checkPrecisionOnGpu should have refused it)`);
  return gpu.peak_flops_fp8;
}
