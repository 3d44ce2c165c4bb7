import type { ModelSpec } from './model-spec.js';

/**
 * Mixture-of-experts arithmetic (ModelSpec.moe). A MoE layer's FFN is a router GEMM (d x E: one
 * score per routed expert), k routed experts per token and the shared experts, each an FFN of the
 * model's `mlp` kind with inner size f_e. Only the experts a token goes to compute on it, so the
 * FLOPs of a MoE layer over c tokens are
 *     2*c*d*E  +  (k + shared) * m*c*d*f_e       (m = 6 for swiglu, 4 for gelu)
 * while its weights count every expert: d*E + (E + shared) * (3 or 2)*d*f_e.
 */

/** Whether `layer` (0-based; null: after the last layer) has a MoE FFN. */
export function isMoeLayer(model: ModelSpec, layer: number | null): boolean {
  return model.moe !== undefined && layer !== null && layer >= model.moe.dense_layers;
}

/** Layers with a MoE FFN. */
export function moeLayerCount(model: ModelSpec): number {
  return model.moe === undefined ? 0 : model.layers - model.moe.dense_layers;
}

/** Matrices of one FFN (expert or dense): swiglu gate, up, down; gelu up, down. */
export function ffnMatrices(model: ModelSpec): number {
  return model.mlp === 'swiglu' ? 3 : 2;
}

/** Parameters of one expert's FFN. */
export function expertParams(model: ModelSpec): number {
  return model.moe === undefined ? 0 : ffnMatrices(model) * model.hidden * model.moe.expert_ffn;
}

/** Parameters of the router of one MoE layer (d x E, no bias). */
export function routerParams(model: ModelSpec): number {
  return model.moe === undefined ? 0 : model.hidden * model.moe.experts;
}

/**
 * The work of one MoE FFN op (ComputeShape.moe), in tokens: the norm, router and top-k over
 * `router` tokens, the shared experts over `shared` tokens, `routed` token-expert pairs spread over
 * the `experts` routed experts this rank holds (all E without expert parallelism, E/ep with it),
 * and the top-k weighted sum and residual add of `combine` tokens. One op does all of it without
 * expert parallelism; with it (sim/plan/strategies/tp.ts) a rank routes its own tokens, computes its
 * experts' pairs, then combines its own tokens' outputs, with the all-to-alls in between.
 */
export interface MoeWork {
  router: number;
  shared: number;
  routed: number;
  experts: number;
  combine: number;
}

/** The whole MoE FFN of c tokens on one rank that holds all E experts (or a column slice of each). */
export function wholeMoeWork(model: ModelSpec, tokens: number): MoeWork {
  const moe = model.moe!;
  return { router: tokens, shared: tokens, routed: tokens * moe.experts_per_token, experts: moe.experts, combine: tokens };
}

/**
 * Matmul FLOPs of a MoE op with expert inner size `expertFfn` (a tensor-parallel column slice, or
 * all of f_e): 2*router*d*E + m*(shared*S + routed)*d*f_e, S the shared experts, m 6 or 4.
 */
export function moeFlops(model: ModelSpec, work: MoeWork, expertFfn: number): number {
  const moe = model.moe!;
  const d = model.hidden;
  const m = 2 * ffnMatrices(model);
  return 2 * work.router * d * moe.experts + m * (work.shared * moe.shared_experts + work.routed) * d * expertFfn;
}
