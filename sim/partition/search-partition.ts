import { KvrInputError } from '../errors.js';
import type { Scenario } from '../simulate.js';
import { exhaustiveSearch } from './exhaustive-search.js';
import { fastSearch } from './fast-search.js';
import { gridSearch } from './grid-search.js';
import { DEFAULT_GRANULARITY, makeLattice } from './lattice.js';
import type { SearchOutcome } from './search-outcome.js';
import { TtftEvaluator } from './ttft-evaluator.js';

export const SEARCH_METHODS = ['fast', 'grid', 'exhaustive'] as const;
export type SearchMethod = (typeof SEARCH_METHODS)[number];

export interface SearchOptions {
  method: SearchMethod;
  /** Chunks (all but the last) are multiples of this many tokens. */
  granularity: number;
  /** Told after each new simulation (the caller keeps the clock: sim/ has none). Not recorded. */
  progress?: SearchProgress;
}

/**
 * Progress of a search: distinct partitions simulated so far, and the search's estimate of how
 * many it will simulate (exhaustive: exact; grid: an upper bound; fast: a guess, expectedSimulations
 * in fast-search.ts; it may be passed).
 */
export type SearchProgress = (simulations: number, expected: number) => void;

export const DEFAULT_SEARCH: SearchOptions = { method: 'fast', granularity: DEFAULT_GRANULARITY };

/** Chunks of a searched partition: one per GPU, or one per tensor-parallel group for kvr-tp. */
export function partitionParts(scenario: Scenario): number {
  return scenario.strategy === 'kvr-tp' ? scenario.gpus / (scenario.tp ?? 1) : scenario.gpus;
}

/** KVR-S: the partition of the scenario's context that minimises simulated TTFT. */
export function searchPartition(scenario: Scenario, options: SearchOptions = DEFAULT_SEARCH): SearchOutcome {
  return searchPartitionWith(new TtftEvaluator(scenario), options);
}

/** As searchPartition, with the caller's evaluator (to read every partition it simulated). */
export function searchPartitionWith(evaluator: TtftEvaluator, options: SearchOptions = DEFAULT_SEARCH): SearchOutcome {
  const scenario = evaluator.scenario;
  if (!(SEARCH_METHODS as readonly string[]).includes(options.method)) {
    throw new KvrInputError('search', `expected one of ${SEARCH_METHODS.join(', ')} (got "${options.method}")`);
  }
  const parts = partitionParts(scenario);
  if (parts === 1) {
    return { partition: [scenario.context], ttft_s: evaluator.ttft([scenario.context]), simulations: evaluator.simulations, detail: {} };
  }
  const lattice = makeLattice(scenario.context, parts, options.granularity);
  const search = { fast: fastSearch, grid: gridSearch, exhaustive: exhaustiveSearch }[options.method];
  if (options.progress === undefined) return search(evaluator, lattice);
  evaluator.progress = options.progress;
  try {
    return search(evaluator, lattice);
  } finally {
    evaluator.progress = undefined;
  }
}
