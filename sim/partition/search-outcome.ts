/** What a partition searcher returns. */
export interface SearchOutcome {
  partition: number[];
  ttft_s: number;
  /** Distinct partitions run through the full event engine. */
  simulations: number;
  /** Searcher-specific facts worth reporting (levels, iterations, cost-model evaluations). */
  detail: Record<string, unknown>;
}
