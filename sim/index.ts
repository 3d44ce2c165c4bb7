/**
 * kvr simulator: pure TypeScript, no I/O.
 *
 *   scenario (model, gpu, topology, strategy, context)
 *     -> buildPlan        per-rank op DAG, plain JSON (plan/)
 *     -> opDurations      cost of each compute op on the GPU: roofline, or by shape from a shape
 *                         profile (hardware/shape-model.ts, work/layer-kernels.ts)
 *     -> runPlan          discrete events on compute streams, channels and shared links (engine/)
 *     -> buildResult      kvr-sim/result@1 (result/)   + perfettoTrace (trace/)
 *
 * Big plans (simulate.ts FOLD_WITHOUT_BUILDING_OPS) take a shortcut: buildPlan for a sample of the
 * layers -> foldSample (engine/layer-fold.ts: steady state, extrapolated) -> buildFoldedResult;
 * partition searches fold their candidates likewise (partition/ttft-evaluator.ts, layer-fold-policy.ts).
 */
export * from './errors.js';
export * from './units/quantity.js';
export * from './model/model-spec.js';
export * from './model/presets.js';
export * from './model/model-size.js';
export * from './hardware/gpu-spec.js';
export * from './hardware/gpu-presets.js';
export * from './hardware/kernel-cost.js';
export * from './hardware/op-durations.js';
export * from './work/compute-op.js';
export * from './work/op-kernels.js';
export * from './topology/topology.js';
export * from './topology/presets.js';
export * from './topology/routing.js';
export * from './topology/variations.js';
export * from './topology/link-noise.js';
export * from './plan/plan.js';
export * from './plan/partition.js';
export * from './plan/build-plan.js';
export * from './plan/collectives.js';
export * from './plan/tensor-shard.js';
export * from './engine/engine.js';
export * from './result/memory.js';
export * from './result/result.js';
export * from './result/decode.js';
export * from './trace/perfetto.js';
export * from './partition/lattice.js';
export * from './partition/search-outcome.js';
export * from './partition/ttft-evaluator.js';
export * from './partition/kvr-chain.js';
export * from './partition/pipeline-balance.js';
export * from './partition/grid-search.js';
export * from './partition/fast-search.js';
export * from './partition/exhaustive-search.js';
export * from './partition/search-partition.js';
export * from './partition/partition-table.js';
export * from './partition/predict-partition.js';
export * from './partition/build-table.js';
export * from './partition/validate-table.js';
export * from './hardware/calibration.js';
export * from './hardware/gpu-profile.js';
export * from './hardware/shape-model.js';
export * from './hardware/shape-profile.js';
export * from './hardware/shape-durations.js';
export * from './work/layer-kernels.js';
export * from './scenario-router.js';
export * from './simulate.js';
export * from './capacity/capacity.js';
