/**
 * Capacity-planning arithmetic, pure: context distributions, weighted percentiles of TTFT over
 * them, the cost of a prefill, the TTFT band of a calibrated profile, and the Pareto frontier of
 * cost against TTFT.
 */

/** Prompt lengths and how often each comes; `unknown` is mass above the highest point given. */
export interface ContextDistribution {
  points: { context: number; weight: number }[];
  /** Probability not placed on any point (a percentile spec that stops below p100). */
  unknown: number;
}

/**
 * The p-th percentile (0 < p <= 100) of values weighted by their probabilities: the smallest
 * value v with P(X <= v) >= p / 100. Undefined when the known mass never reaches p / 100.
 */
export function weightedPercentile(items: { value: number; weight: number }[], p: number): number | undefined {
  const sorted = [...items].sort((a, b) => a.value - b.value);
  const goal = p / 100 - 1e-12;
  let mass = 0;
  for (const item of sorted) {
    mass += item.weight;
    if (mass >= goal) return item.value;
  }
  return undefined;
}

/** Mean of values weighted by their probabilities (over the known mass). */
export function weightedMean(items: { value: number; weight: number }[]): number {
  let mass = 0;
  let sum = 0;
  for (const item of items) {
    mass += item.weight;
    sum += item.weight * item.value;
  }
  return mass > 0 ? sum / mass : NaN;
}

/**
 * What one prefill costs: the GPU time it occupies, priced. gpus x price per GPU-hour x TTFT /
 * 3600 s, with the TTFT averaged over the context distribution (a fleet kept busy serves the mix).
 */
export function prefillCost(gpus: number, pricePerGpuHour: number, meanTtftSeconds: number): number {
  return (gpus * pricePerGpuHour * meanTtftSeconds) / 3600;
}

/**
 * Relative half-width of the TTFT band of a calibrated profile: the largest per-op fit error (mean
 * or max absolute relative error of the ops measured between grid points) and the transfer fit
 * error. TTFT is a max-plus combination of op and transfer durations, so if each is within
 * (1 +- e) of the truth, so is the TTFT.
 */
export interface FitErrors {
  ops: { model: string; op: string; mean_abs_error: number; max_abs_error: number }[];
  transfer_mean_abs_error?: number;
}

export function bandHalfWidth(fit: FitErrors, model: string, which: 'mean' | 'max'): number {
  const forModel = fit.ops.filter((op) => op.model === model);
  const ops = forModel.length > 0 ? forModel : fit.ops;
  let e = fit.transfer_mean_abs_error ?? 0;
  for (const op of ops) e = Math.max(e, which === 'max' ? op.max_abs_error : op.mean_abs_error);
  return e;
}

/**
 * Indices of the Pareto frontier of (cost, ttft), both minimised: no other point is at least as
 * good on both and better on one. Sorted by ttft ascending (cost then descending).
 */
export function paretoFrontier(points: { cost: number; ttft: number }[]): number[] {
  const order = points.map((_, i) => i).sort((a, b) => points[a]!.ttft - points[b]!.ttft || points[a]!.cost - points[b]!.cost);
  const frontier: number[] = [];
  let best = Infinity;
  for (const i of order) {
    if (points[i]!.cost < best) {
      frontier.push(i);
      best = points[i]!.cost;
    }
  }
  return frontier;
}
