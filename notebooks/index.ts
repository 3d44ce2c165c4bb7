/**
 * The notebooks and their figures, for the runner (notebooks/run.ts), `kvr plot` and the HTML
 * report. Each figure builder takes grid options (see each notebook) and returns a Figure.
 */
import * as beyondPaper from './beyond-paper.js';
import * as calibration from './calibration.js';
import * as claims from './claims.js';
import * as collectives from './collectives.js';
import * as kvrpGap from './kvrp-gap.js';
import * as partitions from './partitions.js';
import * as robustness from './robustness.js';
import * as speedup from './speedup.js';
import * as strategiesAtScale from './strategies-at-scale.js';
import * as timeline from './timeline.js';
import * as ttftVsContext from './ttft-vs-context.js';
import type { Figure } from './lib/figure.js';
import type { Notebook } from './lib/notebook.js';
import type { GridOptions } from './lib/setting.js';

export type { Figure, Row, WrittenFigure } from './lib/figure.js';
export { writeFigure } from './lib/figure.js';
export type { GridOptions } from './lib/setting.js';

/**
 * In reading order: the paper's figures, then what goes beyond it, then the calibration check
 * and the collectives check (their figures come from measurement files, not a scenario grid, so
 * they are not in FIGURES).
 */
export const NOTEBOOKS: Notebook[] = [
  ttftVsContext.notebook,
  speedup.notebook,
  kvrpGap.notebook,
  partitions.notebook,
  timeline.notebook,
  robustness.notebook,
  beyondPaper.notebook,
  strategiesAtScale.notebook,
  claims.notebook,
  calibration.notebook,
  collectives.notebook,
];

export interface FigureEntry {
  /** The notebook that writes it. */
  notebook: string;
  description: string;
  build(options?: GridOptions): Figure;
}

export const FIGURES: Record<string, FigureEntry> = {
  'ttft-vs-context': { notebook: 'ttft-vs-context', description: 'TTFT vs context, models x links, 8 GPUs', build: ttftVsContext.figure },
  'ttft-vs-gpus': { notebook: 'ttft-vs-context', description: 'TTFT vs context, 2/4/8 GPUs x links, one model', build: ttftVsContext.figureByGpus },
  speedup: { notebook: 'speedup', description: 'speedup of KVR-E and KVR-S over TSP vs GPUs and context', build: speedup.figure },
  'kvrp-gap': { notebook: 'kvrp-gap', description: 'KVR-P vs KVR-S gap on held-out contexts, both predictors', build: kvrpGap.figure },
  partitions: { notebook: 'partitions', description: "KVR-S's partitions as stacked bars per rank", build: partitions.figure },
  timeline: { notebook: 'timeline', description: 'per-rank Gantt of TSP vs KVR-S for one case (d3)', build: timeline.figure },
  robustness: { notebook: 'robustness', description: 'one slow link and background traffic: TSP vs KVR-S', build: robustness.figure },
  'beyond-paper': { notebook: 'beyond-paper', description: '16-64 H100s, 32k-128k tokens, GQA models', build: beyondPaper.figure },
  'strategies-at-scale': { notebook: 'strategies-at-scale', description: 'every strategy, 70B/405B/MoE, 8-256 H100s, 32k-1M tokens, memory feasibility', build: strategiesAtScale.figure },
};

export const FIGURE_NAMES = Object.keys(FIGURES);
