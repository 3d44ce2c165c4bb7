import { KvrInputError, describeValue } from '../../sim/errors.js';
import type { GpuSpec } from '../../sim/hardware/gpu-spec.js';
import { defaultOutput } from '../output-paths.js';
import { parseTokens } from '../../sim/units/tokens.js';
import { parseIntegerText } from '../../sim/input/fields.js';
import { MAX_CONTEXT, MAX_GPUS } from '../../sim/plan/build-plan.js';
import { parseQuantity } from '../../sim/units/quantity.js';
import { checkOutput, type CliIo } from '../io.js';
import { splitList } from '../list-flags.js';
import { oneLine } from '../load-json.js';
import { resolveModel, resolveScenario } from '../scenario-flags.js';

export interface PlotFlags {
  out?: string;
  model?: string;
  gpu?: string;
  gpus?: string;
  bandwidth?: string;
  context?: string;
}

/** The figures `kvr plot` draws (kept in step with notebooks/index.ts, which the test checks). */
export const PLOT_FIGURES = ['ttft-vs-context', 'ttft-vs-gpus', 'speedup', 'kvrp-gap', 'partitions', 'timeline', 'robustness', 'beyond-paper', 'strategies-at-scale'];

/**
 * `kvr plot FIGURE`: builds one of the notebooks' figures (optionally on other models, GPU, GPU
 * counts, links or contexts) and writes <figure>.svg, .png, .vl.json, .csv and .json into --out
 * (default notebooks/out/<notebook>/).
 */
export async function plotCommand(figureName: string, flags: PlotFlags, io: CliIo): Promise<void> {
  if (!PLOT_FIGURES.includes(figureName)) {
    throw new KvrInputError('figure', `unknown figure ${describeValue(figureName)} (figures: ${PLOT_FIGURES.join(', ')})`);
  }
  const options = {
    ...(flags.model === undefined ? {} : { models: splitList(flags.model, '--model').map((m) => resolveModel(m, io)) }),
    ...(flags.gpu === undefined ? {} : { gpu: resolveGpuFlag(flags.gpu, io) }),
    ...(flags.gpus === undefined ? {} : { gpus: splitList(flags.gpus, '--gpus').map((g) => parseIntegerText(g, '--gpus', { min: 1, max: MAX_GPUS })) }),
    ...(flags.bandwidth === undefined ? {} : { bandwidths: splitList(flags.bandwidth, '--bandwidth').map(positiveRate) }),
    ...(flags.context === undefined ? {} : { contexts: splitList(flags.context, '--context').map((c) => parseTokens(c, '--context', { min: 1, max: MAX_CONTEXT })) }),
  };
  if (flags.out !== undefined) checkOutput(io, flags.out, '--out', 'folder');
  // The figure pipeline (vega, d3, resvg) loads only when a figure is drawn.
  const { FIGURES, writeFigure } = await import('../../notebooks/index.js');
  const entry = FIGURES[figureName]!;
  const outDir = flags.out ?? defaultOutput(entry.notebook);
  if (flags.out === undefined) checkOutput(io, outDir, '--out', 'folder');
  const figure = entry.build(options);
  let written;
  try {
    written = await writeFigure(outDir, figure.name, figure);
  } catch (error) {
    throw new KvrInputError('--out', `cannot write the figure into ${JSON.stringify(outDir)}: ${oneLine(error)}`);
  }
  io.stdout(`wrote ${written.summary}\n${figure.findings.map((line) => `  ${line}\n`).join('')}`);
}

/** --gpu as `kvr simulate` resolves it: a calibrated profile, a preset or a JSON file. */
function resolveGpuFlag(value: string, io: CliIo): GpuSpec {
  return resolveScenario({ gpu: value, gpus: '1', strategy: 'single', context: '1', bandwidth: '1 GB/s' }, io).gpu;
}

function positiveRate(text: string): number {
  const rate = parseQuantity(text, 'bandwidth', '--bandwidth');
  if (rate <= 0) throw new KvrInputError('--bandwidth', `must be > 0, e.g. "300 GB/s" (got ${describeValue(text)})`);
  return rate;
}
