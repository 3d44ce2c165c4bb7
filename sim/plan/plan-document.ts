import { KvrInputError, describeValue } from '../errors.js';
import { modelFromJson, type ModelSpec } from '../model/model-spec.js';
import { COMPUTE_OP_NAMES, computeOpFlops, type ComputeShape } from '../work/compute-op.js';

/** The keys of a kvr-plan@1 document (Plan), in the order export-plan writes them. */
export const PLAN_KEYS = ['schema', 'strategy', 'model', 'context', 'gpus', 'partition', 'kv_tokens', 'last_rank', 'ops', 'tp', 'collective', 'channels', 'pp', 'chunk'] as const;

/**
 * Checks what the native executor's plan reader does not: that a plan file has no keys a
 * kvr-plan@1 lacks (as every other input file kind refuses them), and that every compute op's
 * `flops` is what DESIGN §2 gives for its shape on the plan's model (the executor computes the op
 * from its shape and never reads `flops`, so a wrong value would pass silently into comparisons
 * with the simulator). Everything else (shapes, ranks, deps) the executor checks, naming the field.
 */
export function checkPlanDocument(value: unknown, field = 'plan'): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KvrInputError(field, `expected a kvr-plan@1 object, as kvr export-plan writes (got ${describeValue(value)})`);
  }
  const document = value as Record<string, unknown>;
  for (const key of Object.keys(document)) {
    if (!(PLAN_KEYS as readonly string[]).includes(key)) {
      throw new KvrInputError(`${field}.${key}`, `unknown key; a kvr-plan@1 has ${PLAN_KEYS.join(', ')}`);
    }
  }
  let model: ModelSpec | undefined;
  try {
    model = modelFromJson(document.model, `${field}.model`);
  } catch {
    model = undefined; // the executor names what is wrong with it
  }
  if (!Array.isArray(document.ops)) return;
  document.ops.forEach((op: unknown, i) => {
    if (typeof op !== 'object' || op === null || (op as { kind?: unknown }).kind !== 'compute') return;
    const o = op as Record<string, unknown>;
    const where = `${field}.ops[${i}].flops`;
    const flops = o.flops;
    if (typeof flops !== 'number' || !Number.isFinite(flops) || flops < 0) {
      throw new KvrInputError(where, `expected the op's matmul FLOPs, a number >= 0 (got ${describeValue(flops)})`);
    }
    if (model === undefined || !isShape(o)) return;
    const expected = computeOpFlops(model, o);
    if (Number.isFinite(expected) && !(Math.abs(flops - expected) <= 1e-9 * expected)) {
      throw new KvrInputError(where, `expected ${expected}, the matmul FLOPs of ${o.name} over ${o.tokens} tokens on model ${model.name} (DESIGN §2) (got ${describeValue(flops)})`);
    }
  });
}

/** Whether an op's shape fields have the types computeOpFlops reads (the executor checks their values). */
function isShape(op: Record<string, unknown>): op is Record<string, unknown> & ComputeShape {
  const shard = op.shard as Record<string, unknown> | undefined;
  return (
    (COMPUTE_OP_NAMES as readonly unknown[]).includes(op.name) &&
    typeof op.tokens === 'number' &&
    typeof op.prefix === 'number' &&
    typeof op.keys === 'number' &&
    typeof op.causal === 'boolean' &&
    (shard === undefined || (typeof shard === 'object' && shard !== null && typeof shard.heads === 'number' && typeof shard.kv_heads === 'number' && typeof shard.ffn === 'number'))
  );
}
