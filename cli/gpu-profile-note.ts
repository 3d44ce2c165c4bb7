import { isUncalibrated, type GpuSpec } from '../sim/hardware/gpu-spec.js';

/** References in a GPU's source text: arXiv ids, web addresses and profile files of this repository. */
const REFERENCE = /arXiv \d{4}\.\d{4,5}|https?:\/\/[^\s;,)]+|calibration\/profiles\/[\w./-]+\.json/g;

/**
 * The footer line that says how far to trust a GPU's kernel costs, or undefined where nothing needs
 * saying: a calibrated profile (measured) or the abstract `ideal` GPU (exact by definition). A
 * shape-aware preset (a shape model without measured points) prices each kernel from its shape with
 * efficiencies taken from published benchmarks; the line names those sources (the references after
 * "shape-aware" in its source text: the datasheet is not one). Otherwise the efficiencies are
 * constants inside published ranges.
 */
export function gpuProfileNote(gpu: GpuSpec): string | undefined {
  if (!isUncalibrated(gpu)) return undefined;
  const shape = gpu.shape;
  if (shape !== undefined && shape.gemm_points.length === 0 && shape.attention_points.length === 0) {
    const marker = gpu.source.indexOf('shape-aware');
    const cited = [...new Set(gpu.source.slice(Math.max(marker, 0)).match(REFERENCE) ?? [])];
    const sources = cited.length === 0 ? 'see gpu source' : cited.join(', ');
    return `gpu profile: ${gpu.name} ${gpu.profile}, shape-aware: kernel efficiencies from published benchmarks (${sources}), not measured on this GPU`;
  }
  return `gpu profile: ${gpu.profile}, uncalibrated (efficiencies are published ranges, not measurements)`;
}
