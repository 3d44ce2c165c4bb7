import { topologyFabric } from '../plan/collective-tuner.js';
import { compilePlan, executeProgram, programBytes, type EngineProgram } from '../engine/engine.js';
import { scenarioRouter } from '../scenario-router.js';
import { opDurations } from '../hardware/op-durations.js';
import { logitsOpId, type Plan } from '../plan/plan.js';
import { firstTokenTime } from '../result/result.js';
import { kvrPlan, reshapeKvrPlan } from '../plan/strategies/kvr.js';
import { kvrTpPlan, reshapeKvrTpPlan } from '../plan/strategies/kvr-tp.js';
import type { Scenario } from '../simulate.js';
import { Router } from '../topology/routing.js';

/**
 * Simulated TTFT (end of lm_head on the last rank, not the makespan) of KV-Runahead partitions for
 * one scenario. Every call of `ttft` on a partition
 * not seen before runs the full event engine once and counts as one simulation; repeats are
 * answered from memory, so searchers are charged only for distinct partitions. The op graph is
 * the same for every partition, so it is compiled once and only op costs change.
 * For strategy kvr-tp the partitions are of the groups (scenario.gpus / scenario.tp chunks) and
 * the plans are kvr-tp plans.
 */
export class TtftEvaluator {
  readonly scenario: Scenario;
  private readonly router: Router;
  private readonly memo = new Map<string, number>();
  /** Told after each new simulation, with `expected` (set by the search running on this evaluator). */
  progress: ((simulations: number, expected: number) => void) | undefined;
  /** The running search's estimate of the simulations it needs. */
  expected = 0;
  private template:
    | { plan: Plan; program: EngineProgram; bytes: Float64Array; logitsOp: number; reshape: (partition: readonly number[]) => void }
    | undefined;

  constructor(scenario: Scenario) {
    this.scenario = scenario;
    this.router = scenarioRouter(scenario);
  }

  /** Distinct partitions simulated so far. */
  get simulations(): number {
    return this.memo.size;
  }

  /** The `count` partitions with the lowest simulated TTFT among those evaluated, best first. */
  best(count: number): { partition: number[]; ttft_s: number }[] {
    return [...this.memo.entries()]
      .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, count)
      .map(([key, ttft]) => ({ partition: key.split(',').map(Number), ttft_s: ttft }));
  }

  ttft(partition: readonly number[]): number {
    const key = partition.join(',');
    let ttft = this.memo.get(key);
    if (ttft === undefined) {
      ttft = this.simulate(partition);
      this.memo.set(key, ttft);
      this.progress?.(this.memo.size, this.expected);
    }
    return ttft;
  }

  private simulate(partition: readonly number[]): number {
    if (this.template === undefined) {
      const s = this.scenario;
      let plan: Plan;
      let reshape: (next: readonly number[]) => void;
      if (s.strategy === 'kvr-tp') {
        plan = kvrTpPlan(s.model, [...partition], s.tp ?? 1, s.collective ?? 'auto', {
          fabric: topologyFabric(s.topology, s.gpus),
          options: { ...(s.channels === undefined ? {} : { channels: s.channels }), ...(s.protocol === undefined ? {} : { protocol: s.protocol }) },
        });
        reshape = (next) => reshapeKvrTpPlan(plan, next);
      } else {
        plan = kvrPlan(s.model, [...partition], 'kvr');
        reshape = (next) => reshapeKvrPlan(plan, next);
      }
      const program = compilePlan(plan, this.router);
      this.template = { plan, program, bytes: new Float64Array(program.count), logitsOp: logitsOpId(plan), reshape };
    } else {
      this.template.reshape(partition);
    }
    const { plan, program, bytes, logitsOp } = this.template;
    programBytes(plan, program, bytes);
    const run = executeProgram(program, opDurations(plan, this.scenario.gpu, this.scenario.attention), bytes);
    return firstTokenTime(plan, run, logitsOp);
  }
}
