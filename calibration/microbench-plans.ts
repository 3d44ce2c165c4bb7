import type { ModelSpec } from '../sim/model/model-spec.js';
import type { Plan } from '../sim/plan/plan.js';
import { kvrPlan } from '../sim/plan/strategies/kvr.js';
import type { ComputeOpName } from '../sim/work/compute-op.js';

/** One op shape to time: an op of a model on c tokens after a prefix of P tokens. */
export interface OpShape {
  model: ModelSpec;
  op: ComputeOpName;
  tokens: number;
  prefix: number;
}

/** A plan whose listed ops, re-run alone by the executor, time the listed shapes. */
export interface MicrobenchCase {
  plan: Plan;
  targets: { opId: number; shape: OpShape }[];
}

/**
 * Plans that put each shape on a real rank state, so the executor times exactly the kernels a
 * prefill runs: a one-rank plan of c tokens times qkv, o, mlp, causal attention without prefix and
 * lm_head (layer 0); a two-rank KV-Runahead plan with chunks [P, c] gives rank 1 the attention of c
 * queries after a prefix of P, with the prefix's K,V received as in a real run.
 */
export function microbenchCases(model: ModelSpec, tokens: number[], prefixes: number[]): MicrobenchCase[] {
  const cases: MicrobenchCase[] = [];
  tokens.forEach((c, index) => {
    const plan = kvrPlan(model, [c], 'single');
    const names: ComputeOpName[] = index === 0 ? ['qkv', 'attn', 'o', 'mlp', 'lm_head'] : ['qkv', 'attn', 'o', 'mlp'];
    cases.push({
      plan,
      targets: names.map((op) => ({
        opId: plan.ops.find((o) => o.kind === 'compute' && o.name === op && (o.layer === 0 || op === 'lm_head'))!.id,
        shape: { model, op, tokens: op === 'lm_head' ? 1 : c, prefix: 0 },
      })),
    });
    for (const P of prefixes.filter((p) => p > 0)) {
      const twoRanks = kvrPlan(model, [P, c], 'kvr');
      const attn = twoRanks.ops.find((o) => o.kind === 'compute' && o.name === 'attn' && o.rank === 1 && o.layer === 0)!;
      cases.push({ plan: twoRanks, targets: [{ opId: attn.id, shape: { model, op: 'attn', tokens: c, prefix: P } }] });
    }
  });
  return cases;
}

/** A two-rank plan whose layer-0 send carries K,V of `tokens` tokens: times one emulated transfer. */
export function transferCase(model: ModelSpec, tokens: number): { plan: Plan; opId: number } {
  const plan = kvrPlan(model, [tokens, 1], 'kvr');
  const send = plan.ops.find((o) => o.kind === 'transfer' && o.layer === 0)!;
  return { plan, opId: send.id };
}
