import { topologyFabric } from '../plan/collective-tuner.js';
import { PlanBuilder, type CollectiveSetup } from '../plan/plan-builder.js';
import { compilePlan, executeProgram, programBytes, type EngineProgram } from '../engine/engine.js';
import { closingEnd, compileSample, FOLD_SAMPLE_LAYERS, foldCompiled, planLayers, type CompiledSample } from '../engine/layer-fold.js';
import { layersMayFold, mayFoldLayers, mayRunAsRecurrence } from '../layer-fold-policy.js';
import { runRecurrence } from '../engine/layer-recurrence.js';
import { ComputePricer } from '../hardware/compute-pricer.js';
import { kvrHops, kvrRecurrence, KvrStagePricer, type KvrHops } from '../plan/strategies/kvr-recurrence.js';
import { kvrTpFirstTokenRecurrence, type KvrTpLinks } from '../plan/strategies/kvr-tp-recurrence.js';
import { kvrTpLinks } from '../plan/plan-recurrence.js';
import { scenarioRouter } from '../scenario-router.js';
import { logitsOpId, type Plan } from '../plan/plan.js';
import { firstTokenTime } from '../result/result.js';
import { kvrPlan, reshapeKvrPlan } from '../plan/strategies/kvr.js';
import { kvrTpPlan, reshapeKvrTpPlan } from '../plan/strategies/kvr-tp.js';
import type { Scenario } from '../simulate.js';
import type { Router } from '../topology/routing.js';
import { OpSecondsMemo } from './op-seconds-memo.js';

/**
 * When the evaluator simulates a sample of the layers and extrapolates the rest
 * (sim/engine/layer-fold.ts): `auto` exactly when simulate does (so a search's TTFT is simulate's,
 * bit for bit), `always` whenever the layers may fold at all, `never` not at all.
 */
export type EvaluatorFolding = 'auto' | 'always' | 'never';

/**
 * Compiled plans kept: a kvr-tp search whose chunks cross the tuner's size thresholds meets a few
 * collective choices, each its own op graph. Sample plans are small; whole plans may be big.
 */
const MAX_SAMPLE_TEMPLATES = 8;
const MAX_WHOLE_TEMPLATES = 2;

/** A plan of the scenario's strategy, compiled once and reshaped for each partition. */
interface Template {
  plan: Plan;
  program: EngineProgram;
  bytes: Float64Array;
  logitsOp: number;
  reshape: (partition: readonly number[]) => void;
}

/**
 * Simulated TTFT (end of lm_head on the last rank, not the makespan) of KV-Runahead partitions for
 * one scenario. Every call of `ttft` on a partition
 * not seen before runs the full event engine once and counts as one simulation; repeats are
 * answered from memory, so searchers are charged only for distinct partitions. The op graph is
 * the same for every partition of the same collective choices, so it is compiled once per choice
 * (kvr-tp: the tuner picks each group's all-reduce algorithm, protocol and channels by its size)
 * and only op costs change.
 * Where simulate folds layers (big plans of repeating layers), so does the evaluator: it runs a
 * sample of n layers (FOLD_SAMPLE_LAYERS) compiled once, extrapolates the others, and runs the
 * whole plan only for a partition no sample folds; a simulation then costs about n / L of a whole
 * one, and gives simulate's TTFT.
 * Where simulate runs KV-Runahead as a layer recurrence (big plans on dedicated hops; kvr-tp's
 * too, where its groups' all-reduces have links of their own), so does the evaluator, with the
 * same pricer and run: no plan at all, and simulate's TTFT bit for bit. kvr-tp's hops, group
 * routes, stage prices and all-reduce runs are found once and reused by every partition, and where
 * a group's members are alike one chain a group stands for its t (kvrTpFirstTokenRecurrence).
 * For strategy kvr-tp the partitions are of the groups (scenario.gpus / scenario.tp chunks) and
 * the plans are kvr-tp plans.
 */
export class TtftEvaluator {
  readonly scenario: Scenario;
  /** The scenario's router, for whatever else the search needs of the topology. */
  readonly router: Router;
  private readonly memo = new Map<string, number>();
  /** Told after each new simulation, with `expected` (set by the search running on this evaluator). */
  progress: ((simulations: number, expected: number) => void) | undefined;
  /** The running search's estimate of the simulations it needs. */
  expected = 0;
  private readonly folds: boolean;
  /**
   * The whole plan, and a sample plan per sample size (or 'unfoldable'), by the collective
   * choices of the partition (choiceKey), built on first use.
   */
  private readonly wholes = new Map<string, Template>();
  private readonly samples = new Map<string, { template: Template; compiled: CompiledSample } | 'unfoldable'>();
  /** kvr-tp: how its collectives are chosen, and a builder to ask the tuner. */
  private readonly collectives: CollectiveSetup | undefined;
  private readonly tuner: PlanBuilder | undefined;
  /** Op seconds by shape, shared by every partition's plans. */
  private readonly opSeconds: OpSecondsMemo;
  /** Of the simulations, those answered from a sample of the layers (the rest ran the whole plan). */
  foldedSimulations = 0;
  /** Of the simulations, those run as a layer recurrence. */
  recurrenceSimulations = 0;
  /** KV-Runahead as simulate runs it: the chain's hops and stage prices, or undefined (no recurrence). */
  private readonly chain: { hops: KvrHops; stages: KvrStagePricer } | undefined;
  /**
   * kvr-tp as simulate runs it: the chains' hops, the groups' routes, stage prices and all-reduce
   * runs (found once, memoised across partitions), or undefined (no recurrence).
   */
  private readonly groups: KvrTpLinks | undefined;

  constructor(scenario: Scenario, folding: EvaluatorFolding = 'auto') {
    this.scenario = scenario;
    this.router = scenarioRouter(scenario);
    this.opSeconds = new OpSecondsMemo(scenario.gpu, scenario.attention);
    this.folds = folding === 'never' ? false : folding === 'always' ? layersMayFold(scenario) : mayFoldLayers(scenario);
    // Where simulate runs a recurrence: the same scenarios, pricer and setup (planRecurrence's).
    const recurrent = scenario.model.moe === undefined && folding === 'auto' && mayRunAsRecurrence(scenario);
    const pricer = (): ComputePricer => new ComputePricer(scenario.model, scenario.gpu, scenario.attention ?? 'flash');
    const hops = scenario.strategy !== 'kvr-tp' && recurrent ? kvrHops(this.router, scenario.gpus) : undefined;
    this.chain = hops === undefined ? undefined : { hops, stages: new KvrStagePricer(pricer()) };
    if (scenario.strategy === 'kvr-tp') {
      const fabric = topologyFabric(scenario.topology, scenario.gpus);
      this.collectives = {
        fabric,
        options: { ...(scenario.channels === undefined ? {} : { channels: scenario.channels }), ...(scenario.protocol === undefined ? {} : { protocol: scenario.protocol }) },
      };
      this.tuner = new PlanBuilder(scenario.model, this.collectives);
      const { model, context, gpus, tp, collective, channels, protocol } = scenario;
      const request = { strategy: 'kvr-tp' as const, model, context, gpus, fabric, ...(tp === undefined ? {} : { tp }), ...(collective === undefined ? {} : { collective }), ...(channels === undefined ? {} : { channels }), ...(protocol === undefined ? {} : { protocol }) };
      this.groups = recurrent ? kvrTpLinks(request, this.router, pricer()) : undefined;
    } else {
      this.collectives = undefined;
      this.tuner = undefined;
      this.groups = undefined;
    }
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
    if (this.chain !== undefined) {
      this.recurrenceSimulations += 1;
      // The strategy names the recurrence's plan header, which only a result reads.
      return runRecurrence(kvrRecurrence(this.scenario.model, partition, 'kvr', this.chain.hops, this.chain.stages), this.scenario.model.layers)!.ttft;
    }
    if (this.groups !== undefined) {
      // As simulate (its first token's time, bit for bit): a layer that breaks the recurrence hands
      // the partition to the fold or the whole plan.
      const run = runRecurrence(kvrTpFirstTokenRecurrence(partition, this.groups), this.scenario.model.layers);
      if (run !== undefined) {
        this.recurrenceSimulations += 1;
        return run.ttft;
      }
    }
    const choices = this.choiceKey(partition);
    if (this.folds) {
      const ttft = this.simulateFolded(partition, choices);
      if (ttft !== undefined) {
        this.foldedSimulations += 1;
        return ttft;
      }
    }
    let whole = this.wholes.get(choices);
    if (whole === undefined) whole = remember(this.wholes, MAX_WHOLE_TEMPLATES, choices, this.template(this.scenario.model.layers, partition));
    else whole.reshape(partition);
    const { plan, program, bytes, logitsOp } = whole;
    programBytes(plan, program, bytes);
    const run = executeProgram(program, this.opSeconds.durations(plan), bytes);
    return firstTokenTime(plan, run, logitsOp);
  }

  /** TTFT from the first sample that folds, as simulate's foldedSimulation tries them; undefined if none. */
  private simulateFolded(partition: readonly number[], choices: string): number | undefined {
    const L = this.scenario.model.layers;
    for (const n of FOLD_SAMPLE_LAYERS) {
      if (2 * n > L) break;
      const key = `${n}|${choices}`;
      let sample = this.samples.get(key);
      if (sample === undefined) {
        const template = this.template(n, partition);
        const structure = planLayers(template.plan);
        const compiled = structure === undefined ? 'unfoldable' : compileSample(template.plan, structure, this.router);
        sample = remember(this.samples, MAX_SAMPLE_TEMPLATES, key, compiled === 'unfoldable' || template.logitsOp < compiled.n * compiled.K ? 'unfoldable' : { template, compiled });
      } else if (sample !== 'unfoldable') {
        // Reshaping writes each op's fields from its rank's chunk alone, the same in every layer,
        // so the layer structure planLayers found holds for every partition.
        sample.template.reshape(partition);
      }
      if (sample === 'unfoldable') return undefined;
      const { plan, program, bytes, logitsOp } = sample.template;
      programBytes(plan, program, bytes);
      const fold = foldCompiled(sample.compiled, this.opSeconds.durations(plan), L, bytes);
      if (fold === 'unfoldable') return undefined;
      if (fold !== undefined) return closingEnd(fold, logitsOp);
    }
    return undefined;
  }

  /** The plan of the scenario's strategy with `layers` layers for `partition`, compiled. */
  private template(layers: number, partition: readonly number[]): Template {
    const s = this.scenario;
    const model = layers === s.model.layers ? s.model : { ...s.model, layers };
    let plan: Plan;
    let reshape: (next: readonly number[]) => void;
    if (s.strategy === 'kvr-tp') {
      plan = kvrTpPlan(model, [...partition], s.tp ?? 1, s.collective ?? 'auto', this.collectives);
      reshape = (next) => reshapeKvrTpPlan(plan, next);
    } else {
      plan = kvrPlan(model, [...partition], 'kvr');
      reshape = (next) => reshapeKvrPlan(plan, next);
    }
    const program = compilePlan(plan, this.router);
    return { plan, program, bytes: new Float64Array(program.count), logitsOp: logitsOpId(plan), reshape };
  }

  /**
   * What fixes the op graph besides the scenario: kvr-tp's collective choices, which the tuner
   * makes per group from the size of its all-reduce, c_k rows of hidden states (as kvrTpPlan asks
   * it through PlanBuilder.collective); kvr has none.
   */
  private choiceKey(partition: readonly number[]): string {
    if (this.tuner === undefined) return '';
    const t = this.scenario.tp ?? 1;
    if (t < 2) return '';
    const perToken = this.scenario.model.hidden * this.scenario.model.dtype_bytes;
    const algorithm = this.scenario.collective ?? 'auto';
    const ranks = new Array<number>(t);
    let key = '';
    for (let k = 0; k < partition.length; k++) {
      for (let j = 0; j < t; j++) ranks[j] = k * t + j;
      const c = this.tuner.tune('allreduce', algorithm, ranks, partition[k]! * perToken);
      key += `${c.algorithm}/${c.protocol ?? ''}/${c.channels}/${c.node_size};`;
    }
    return key;
  }
}

/** Stores a template under `key`, dropping the oldest beyond `cap`; returns it. */
function remember<T>(templates: Map<string, T>, cap: number, key: string, template: T): T {
  if (templates.size >= cap) templates.delete(templates.keys().next().value!);
  templates.set(key, template);
  return template;
}
