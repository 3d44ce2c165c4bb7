import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KvrInputError } from '../../sim/errors.js';
import { checkOutput, makeFolders, type CliIo } from '../io.js';
import { oneLine } from '../load-json.js';
import { commandProgress } from '../sweep/progress.js';
import { defaultOutput } from '../output-paths.js';
import { reportHtml, type ReportFigure } from '../report-html.js';
import { explorerScript } from '../explore/bundle.js';
import { explorerSection } from '../explore/page-html.js';

export interface ReportFlags {
  out?: string;
  quick?: boolean;
  quiet?: boolean;
}

/** The assumptions behind every number of the report, stated once. */
export const REPORT_ASSUMPTIONS = [
  'Simulated with the a100-80g datasheet preset (312 TFLOP/s fp16, 2039 GB/s HBM): uncalibrated. Each kernel is costed from its shape with efficiencies from published benchmarks (GEMMs plateau at 0.76 of peak, less tile and wave quantisation over 108 SMs; square causal attention 0.73 of peak, a chunk over a prefix 0.55 of that; memory traffic 0.84 of HBM; sources in sim/hardware/gpu-presets.ts), not measured on an A100.',
  'fp16 weights, activations and K,V cache; every strategy replicates the weights on every GPU (no tensor parallelism).',
  'GPUs hang off one non-blocking switch, one link per GPU at the stated per-direction bandwidth (300 GB/s as NVLink, 10 GB/s as the paper\'s slow network), 2 us per transfer; concurrent transfers share links max-min fairly.',
  'TSP: even token split, per layer a ring all-gather of K,V after every GPU finished its QKV projection, then dense-masked attention over all keys. KV-Runahead: each GPU attends causally over its prefix and forwards the K,V of every token up to its chunk end to the next GPU, per layer, without blocking its compute.',
  'Attention is flash-style (scores never stored, causal tiles skipped) unless a figure says eager: eager attention, as PyTorch 2.0 ran it in the paper, computes and stores all c x K scores and reads them back in the softmax.',
  'KVR-S: the fast partition search on simulated TTFT (64-token granularity). KVR-P: the cost-model predictor with no search, unless the paper\'s interpolation is named.',
  'The noisy network draws each link\'s bandwidth uniformly from 50-100% of nominal every 2 ms from a fixed seed. Nothing is tuned to reproduce the paper\'s numbers.',
];

/**
 * `kvr report --out DIR`: one static HTML page with every notebook figure (inline SVG), the live
 * what-if explorer of `kvr explore` (the simulator itself, inline, run in the page), the paper's
 * claims next to what the simulator reproduces, and the assumptions. `--quick` shrinks every grid (for tests); the numbers are then indicative only.
 */
export async function reportCommand(flags: ReportFlags, io: CliIo): Promise<void> {
  const out = flags.out ?? defaultOutput('report');
  const generated = sourceDate(io.env ?? {});
  checkOutput(io, out, '--out', 'folder');
  const { FIGURES, writeFigure } = await import('../../notebooks/index.js');
  const { evaluateClaims } = await import('../../notebooks/claims.js');
  const quick = flags.quick === true;
  const grid = quick ? { contexts: [2048, 8192], gpus: [2, 4] } : {};
  try {
    makeFolders(join(out, 'figures'));
  } catch (error) {
    throw new KvrInputError('--out', `cannot create ${JSON.stringify(out)}: ${oneLine(error)}`);
  }
  const figures: ReportFigure[] = [];
  const chosen = Object.entries(FIGURES).filter(([name]) => !(quick && name === 'beyond-paper')); // beyond-paper: minutes of 64-GPU searches; not needed to test the page
  const progress = commandProgress(io, chosen.length + 2, 'report', flags.quiet);
  for (const [name, entry] of chosen) {
    const figure = entry.build(quick ? { ...grid, ...(name === 'timeline' ? { contexts: [4096], gpus: [2] } : {}) } : {});
    const written = await writeFigure(join(out, 'figures'), name, figure);
    figures.push({ name, title: entry.description, caption: figure.caption, svg: readFileSync(written.paths.svg, 'utf8') });
    progress.tick();
  }
  const explorer = explorerSection(await explorerScript());
  progress.tick();
  const claims = evaluateClaims(quick ? { contexts: [2048, 8192], gpuCounts: [2, 4], seeds: [1] } : {});
  progress.tick();
  progress.finish();
  const html = reportHtml({
    title: 'KV-Runahead: simulated TTFT, reproduced claims',
    ...(generated === undefined ? {} : { generated }),
    explorer,
    figures,
    claims,
    assumptions: REPORT_ASSUMPTIONS,
  });
  io.writeFile(join(out, 'index.html'), html);
  io.stdout(`wrote ${join(out, 'index.html')}: ${figures.length} figures, ${claims.length} claims${quick ? ' (quick grids)' : ''}\n`);
}

/**
 * The page's date: SOURCE_DATE_EPOCH (seconds, reproducible-builds.org) as an ISO date, else none,
 * so the same inputs give the same bytes.
 */
export function sourceDate(env: Record<string, string | undefined>): string | undefined {
  const text = env.SOURCE_DATE_EPOCH;
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,12}$/.test(text)) throw new KvrInputError('SOURCE_DATE_EPOCH', `expected whole seconds since 1970 (got ${JSON.stringify(text)})`);
  return new Date(Number(text) * 1000).toISOString();
}
