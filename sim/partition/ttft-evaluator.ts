import { topologyFabric } from '../plan/collective-tuner.js';
import { PlanBuilder, type BuilderSetup } from '../plan/plan-builder.js';
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
import { IncrementalKvrChain } from './incremental-kvr-chain.js';
import { OpSecondsMemo } from './op-seconds-memo.js';
import { PartitionMap, partitionKey, type PartitionKey } from './partition-map.js';

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
/** Partitions `best` can list (kvr partition --measure-top takes at most 100). */
export const LEADERS = 100;

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
  private readonly memo = new PartitionMap<number>();
  /** The best partitions simulated in full, best first (ties in the order of their chunks written out), for `best`. */
  private readonly leaders: { key: string; partition: number[]; ttft_s: number }[] = [];
  /** Candidates a descent found losing early (`improves`): a lower bound of their TTFT. */
  private readonly atLeast = new PartitionMap<number>();
  /** Candidates a descent took on an estimate of their TTFT (`improves`). */
  private readonly estimated = new PartitionMap<number>();
  /** The running descent's incumbent: its TTFT, where known exactly. */
  private incumbent: { partition: number[]; ttft: number | undefined } | undefined;
  /** KV-Runahead's chain run rank by rank with reuse, for descents; undefined where there is no chain. */
  private readonly incremental: IncrementalKvrChain | undefined;
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
  private readonly collectives: BuilderSetup | undefined;
  private readonly tuner: PlanBuilder | undefined;
  /** Op seconds by shape, shared by every partition's plans. */
  private readonly opSeconds: OpSecondsMemo;
  /** Of the simulations, those answered from a sample of the layers (the rest ran the whole plan). */
  foldedSimulations = 0;
  /** Of the simulations, those run as a layer recurrence. */
  recurrenceSimulations = 0;
  /**
   * KV-Runahead's chain on dedicated hops: its hops and stage prices (undefined for kvr-tp, MoE
   * models, or hops that share a link), and whether simulations run it as simulate does.
   */
  private readonly chain: { hops: KvrHops; stages: KvrStagePricer } | undefined;
  private readonly runsChain: boolean;
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
    const hops = scenario.strategy !== 'kvr-tp' && scenario.model.moe === undefined ? kvrHops(this.router, scenario.gpus) : undefined;
    this.chain = hops === undefined ? undefined : { hops, stages: new KvrStagePricer(pricer()) };
    this.runsChain = this.chain !== undefined && recurrent;
    // The chain's times are the engine's, bit for bit, so descents may use it whether
    // simulate runs the recurrence or the whole plan (it folds only where there is no chain).
    if (this.chain !== undefined && folding === 'auto') {
      const context = scenario.context;
      const lmHead = this.chain.stages.pricer.price({ name: 'lm_head', tokens: 1, prefix: context - 1, keys: context, causal: true });
      this.incremental = new IncrementalKvrChain(scenario.model, this.chain.hops, this.chain.stages, lmHead.seconds, scenario.gpus);
    } else {
      this.incremental = undefined;
    }
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

  /** Distinct partitions simulated so far (candidates a descent decided early, `improves`, included). */
  get simulations(): number {
    return this.memo.size + this.atLeast.size + this.estimated.size;
  }

  /**
   * The `count` (at most LEADERS) partitions with the lowest simulated TTFT among those simulated
   * in full, best first (a descent's candidate decided early, `improves`, has no TTFT to list).
   */
  best(count: number): { partition: number[]; ttft_s: number }[] {
    return this.leaders.slice(0, count).map(({ partition, ttft_s }) => ({ partition: [...partition], ttft_s }));
  }

  /** Remembers a partition's TTFT, simulated in full. */
  private remember(partition: readonly number[], ttft: number, found: PartitionKey = partitionKey(partition)): void {
    this.memo.set(found, ttft);
    this.atLeast.delete(found);
    this.estimated.delete(found);
    const leaders = this.leaders;
    const worst = leaders[leaders.length - 1];
    if (leaders.length === LEADERS && worst !== undefined && ttft > worst.ttft_s) return;
    const key = partition.join(',');
    const entry = { key, partition: [...partition], ttft_s: ttft };
    let at = leaders.length;
    while (at > 0 && (leaders[at - 1]!.ttft_s > ttft || (leaders[at - 1]!.ttft_s === ttft && leaders[at - 1]!.key > key))) at -= 1;
    leaders.splice(at, 0, entry);
    if (leaders.length > LEADERS) leaders.pop();
  }

  ttft(partition: readonly number[]): number {
    const key = partitionKey(partition);
    let ttft = this.memo.get(key);
    if (ttft === undefined) {
      ttft = this.simulate(partition);
      this.remember(partition, ttft, key);
      this.progress?.(this.simulations, this.expected);
    }
    return ttft;
  }

  /**
   * Starts a descent from `partition`: the incumbent its candidates must beat (`improves`). Its
   * TTFT is simulated (or remembered) in full.
   */
  startDescent(partition: readonly number[]): void {
    const current = this.incumbent?.partition;
    if (current !== undefined && current.length === partition.length && current.every((c, i) => c === partition[i])) return;
    const ttft = this.ttft(partition);
    this.incumbent = { partition: [...partition], ttft };
    this.incremental?.setIncumbent(partition, ttft);
  }

  /**
   * Whether the candidate's simulated TTFT is below the incumbent's; if so it becomes the
   * incumbent. The answer is always the one the TTFTs give, bit for bit. On KV-Runahead's chain
   * it is found from as few ranks as decide it (incremental-kvr-chain.ts): a candidate that loses
   * is then known only to lose, and one that wins clearly is known to rounding until its exact
   * TTFT is asked for (incumbentTtft). Each new candidate counts as one simulation.
   */
  improves(partition: readonly number[]): boolean {
    if (this.incumbent === undefined) throw new Error('TtftEvaluator.improves needs startDescent first');
    const chain = this.incremental;
    if (chain === undefined) {
      const ttft = this.ttft(partition);
      if (!(ttft < this.incumbent.ttft!)) return false;
      this.incumbent = { partition: [...partition], ttft };
      return true;
    }
    const key = partitionKey(partition);
    const known = this.memo.get(key);
    if (known !== undefined) {
      if (!(known < chain.incumbentTtft())) return false;
      chain.setIncumbent(partition, known);
      this.incumbent = { partition: [...partition], ttft: known };
      return true;
    }
    const floor = this.atLeast.get(key);
    // A lower bound of its TTFT at least the incumbent's: it loses.
    if (floor !== undefined && floor >= chain.incumbentAtMost()) return false;
    const seen = floor !== undefined || this.estimated.get(key) !== undefined;
    const wins = chain.improves(partition);
    const last = chain.last;
    if ('exact' in last) {
      this.remember(partition, last.exact, key);
    } else if ('atLeast' in last) {
      this.atLeast.set(key, Math.max(last.atLeast, floor ?? -Infinity));
      this.estimated.delete(key);
    } else {
      this.estimated.set(key, last.estimate);
      this.atLeast.delete(key);
    }
    if (wins) this.incumbent = { partition: [...partition], ttft: 'exact' in last ? last.exact : undefined };
    if (!seen) this.progress?.(this.simulations, this.expected);
    return wins;
  }

  /** The incumbent's simulated TTFT, exactly (run in full if only an estimate is known). */
  incumbentTtft(): number {
    if (this.incumbent === undefined) throw new Error('TtftEvaluator.incumbentTtft needs startDescent first');
    if (this.incumbent.ttft === undefined) {
      const ttft = this.incremental!.incumbentTtft();
      this.incumbent.ttft = ttft;
      this.remember(this.incumbent.partition, ttft);
    }
    return this.incumbent.ttft;
  }

  private simulate(partition: readonly number[]): number {
    if (this.runsChain) {
      this.recurrenceSimulations += 1;
      // The strategy names the recurrence's plan header, which only a result reads.
      return runRecurrence(kvrRecurrence(this.scenario.model, partition, 'kvr', this.chain!.hops, this.chain!.stages), this.scenario.model.layers)!.ttft;
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
