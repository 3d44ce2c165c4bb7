import type { Scenario } from '../simulate.js';
import { scenarioRouter } from '../scenario-router.js';
import { evenPartition } from '../plan/partition.js';
import { chainFeatures } from './kvr-chain.js';
import type { PartitionTable } from './partition-table.js';
import { PREDICTORS, predictPartition, type Predictor } from './predict-partition.js';
import { searchPartition, type SearchOptions } from './search-partition.js';
import { TtftEvaluator } from './ttft-evaluator.js';

export interface PredictionScore {
  partition: number[];
  ttft_s: number;
  /** TTFT of the prediction over KVR-S's, minus one (0.01 = 1% slower). */
  gap: number;
}

export interface ValidationRow {
  gpus: number;
  bandwidth: number;
  context: number;
  kvr_s: { partition: number[]; ttft_s: number };
  kvr_e_ttft_s: number;
  predictors: Record<Predictor, PredictionScore>;
}

export interface ValidationReport {
  rows: ValidationRow[];
  summary: Record<Predictor, { mean_gap: number; max_gap: number }>;
}

/** Scores every predictor against KVR-S on scenarios (typically contexts not in the table). */
export function validatePartitionTable(table: PartitionTable, scenarios: Scenario[], search: SearchOptions): ValidationReport {
  const rows = scenarios.map((scenario): ValidationRow => {
    const evaluator = new TtftEvaluator(scenario);
    const searched = searchPartition(scenario, search);
    const predictors = {} as Record<Predictor, PredictionScore>;
    for (const predictor of PREDICTORS) {
      const partition = predictPartition(scenario, predictor, table);
      const ttft = evaluator.ttft(partition);
      predictors[predictor] = { partition, ttft_s: ttft, gap: ttft / searched.ttft_s - 1 };
    }
    return {
      gpus: scenario.gpus,
      bandwidth: chainFeatures(scenario, scenarioRouter(scenario)).bandwidth,
      context: scenario.context,
      kvr_s: { partition: searched.partition, ttft_s: searched.ttft_s },
      kvr_e_ttft_s: evaluator.ttft(evenPartition(scenario.context, scenario.gpus)),
      predictors,
    };
  });
  const summary = {} as ValidationReport['summary'];
  for (const predictor of PREDICTORS) {
    const gaps = rows.map((row) => row.predictors[predictor].gap);
    summary[predictor] = {
      mean_gap: gaps.reduce((a, b) => a + b, 0) / Math.max(1, gaps.length),
      max_gap: gaps.reduce((a, b) => Math.max(a, b), -Infinity),
    };
  }
  return { rows, summary };
}
