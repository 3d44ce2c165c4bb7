import type { ModelSpec } from '../model/model-spec.js';
import type { ComputeShape } from '../work/compute-op.js';
import { layerKernels } from '../work/layer-kernels.js';
import type { AttentionImplementation } from '../work/op-kernels.js';
import { attentionSeconds, gemmSeconds, memoryKernelSeconds, type ExtrapolationNote, type ShapeModel } from './shape-model.js';

/** What costing ops on a shape model learned besides their times. */
export interface ShapeCostLedger {
  /** Shapes outside the measured range (or not measured), one line each. */
  notes: Set<ExtrapolationNote>;
  /** Seconds x cross-validated relative error of the op class, summed over costed kernels. */
  error_seconds: number;
  /** Seconds of memory-bound kernels (priced from bytes and the launch floor). */
  memory_seconds: number;
  /** Seconds of every costed kernel. */
  total_seconds: number;
}

export function emptyLedger(): ShapeCostLedger {
  return { notes: new Set(), error_seconds: 0, memory_seconds: 0, total_seconds: 0 };
}

/**
 * Seconds of one canonical op on a shape model: the sum of the kernels its stack launches
 * (sim/work/layer-kernels.ts), each costed by shape (sim/hardware/shape-model.ts). `ledger`, when
 * given, collects extrapolation notes and the error-weighted seconds of the TTFT band.
 */
export function shapeOpSeconds(model: ModelSpec, op: ComputeShape, shape: ShapeModel, attention: AttentionImplementation, ledger?: ShapeCostLedger): number {
  let total = 0;
  for (const kernel of layerKernels(model, op, shape.stack, attention)) {
    let seconds: number;
    let error: number;
    switch (kernel.kind) {
      case 'gemm':
        seconds = gemmSeconds(shape, kernel.m, kernel.n, kernel.k, ledger?.notes, kernel.batch, kernel.dtype);
        error = shape.cv_error.gemm ?? 0;
        break;
      case 'attention':
        seconds = attentionSeconds(shape, kernel.shape, ledger?.notes, kernel.dtype);
        error = shape.cv_error.attention ?? 0;
        break;
      case 'memory':
        seconds = memoryKernelSeconds(shape, kernel.bytes);
        error = shape.cv_error.memory ?? 0;
        if (ledger !== undefined) ledger.memory_seconds += seconds;
        break;
    }
    total += seconds;
    if (ledger !== undefined) ledger.error_seconds += seconds * error;
  }
  if (ledger !== undefined) ledger.total_seconds += total;
  return total;
}
