/**
 * # What KVR-S's searched partitions look like
 *
 * KV-Runahead splits the prompt into consecutive chunks, one per GPU; rank r's causal attention
 * covers all tokens before its chunk, so later ranks do more attention work per token and also
 * wait for a longer KV-cache to arrive. The search (KVR-S, fast method, 64-token lattice) answers
 * by giving earlier ranks more tokens. Each bar is one searched partition, stacked by rank
 * (rank 0 at the bottom), as a share of the context:
 * - left: 8 GPUs, contexts 2k..16k;
 * - right: 16k tokens on 2, 4 and 8 GPUs;
 * columns: link bandwidth.
 *
 * What to look for (numbers when this was written; the notebook prints the current ones):
 * - 300 GB/s: the even split would be equal bands (50%, 25%, 12.5%). Rank 0's band is the widest
 *   and the bands shrink with the rank, more so as the context grows (attention's quadratic term
 *   grows): 8 GPUs at 16k, rank 0 18.8% down to rank 7 9.4%.
 * - 10 GB/s: the picture flips. Handing the KV-cache down the chain costs more than extra GPUs
 *   save, so the search gives the first GPUs the smallest chunk allowed (64 tokens) and puts the
 *   work on the last few: 8 GPUs at 16k, ranks 0-4 get 64 tokens each (rank 2: 192), ranks 5-7
 *   97% of the context. That is why KVR-S on 8 GPUs is no faster than on 4 at this bandwidth.
 *
 * Run: `node dist/notebooks/partitions.js [outDir]`.
 */
import type { TopLevelSpec } from 'vega-lite';
import { simulate } from '../sim/simulate.js';
import type { Figure, Row } from './lib/figure.js';
import { defaultOutDir, isMain, writeFigures, type Notebook } from './lib/notebook.js';
import {
  PAPER,
  contextLabel,
  gpu as gpuPreset,
  linkLabel,
  model as modelPreset,
  profileNote,
  round,
  scenario,
  type GridOptions,
} from './lib/setting.js';

export const NAME = 'partitions';

export interface PartitionOptions extends GridOptions {
  /** Context of the by-GPU-count view (default: the largest of `contexts`). */
  context?: number;
}

/**
 * Options: models (first used; llama2-7b), gpu (a100-80g), gpus (2, 4, 8; the by-context view
 * uses the largest), bandwidths (300 and 10 GB/s), contexts (2k, 4k, 8k, 12k, 16k).
 */
export function figure(options: PartitionOptions = {}): Figure {
  const model = (options.models ?? [modelPreset(PAPER.models[0])])[0]!;
  const gpu = options.gpu ?? gpuPreset(PAPER.gpu);
  const gpuCounts = [...(options.gpus ?? PAPER.gpus)].sort((a, b) => a - b);
  const bandwidths = options.bandwidths ?? [...PAPER.bandwidths];
  const contexts = [...(options.contexts ?? [2048, 4096, 8192, 12288, 16384])].sort((a, b) => a - b);
  const maxGpus = gpuCounts[gpuCounts.length - 1]!;
  const fixedContext = options.context ?? contexts[contexts.length - 1]!;
  const rows: Row[] = [];
  const add = (view: string, gpus: number, context: number, bandwidth: number): void => {
    const { result } = simulate(scenario({ model, gpu, gpus, context, strategy: 'kvr-s', bandwidth }));
    result.partition.forEach((tokens, rank) => {
      rows.push({
        view,
        model: model.name,
        link: linkLabel(bandwidth),
        bandwidth_Bps: bandwidth,
        gpus,
        context,
        context_label: contextLabel(context),
        rank,
        tokens,
        share_percent: round((tokens / context) * 100, 6),
        even_share_percent: round(100 / gpus, 6),
        ttft_ms: round(result.ttft_s * 1e3, 6),
      });
    });
  };
  for (const bandwidth of bandwidths) {
    for (const context of contexts) add('by-context', maxGpus, context, bandwidth);
    for (const gpus of gpuCounts) add('by-gpus', gpus, fixedContext, bandwidth);
  }
  const links = bandwidths.map(linkLabel);
  const ranks = Array.from({ length: maxGpus }, (_, r) => r);
  const bars = (x: object) => ({
    width: { step: 34 },
    height: 200,
    mark: { type: 'bar', stroke: 'white', strokeWidth: 0.6 },
    encoding: {
      x,
      y: { field: 'share_percent', type: 'quantitative', stack: 'zero', title: 'share of the context (%)', scale: { domain: [0, 100] } },
      color: { field: 'rank', type: 'ordinal', title: 'rank', scale: { domain: ranks, scheme: 'viridis' }, legend: { orient: 'right' } },
      order: { field: 'rank', type: 'quantitative', sort: 'ascending' },
    },
  });
  const column = { field: 'link', type: 'nominal', sort: links, title: 'link bandwidth', header: { labelFontWeight: 'bold' } };
  const spec = {
    title: {
      text: `KVR-S partitions: tokens per rank, ${model.name} on ${gpu.name}`,
      subtitle: [`${profileNote(gpu)}; switch topology; fast search on a 64-token lattice; rank 0 (first chunk) at the bottom`],
    },
    hconcat: [
      {
        title: { text: `${maxGpus} GPUs, by context`, fontSize: 13, anchor: 'start' },
        transform: [{ filter: "datum.view == 'by-context'" }],
        facet: { column },
        spec: bars({ field: 'context_label', type: 'ordinal', sort: contexts.map(contextLabel), title: 'context (tokens)', axis: { labelAngle: 0 } }),
      },
      {
        title: { text: `${contextLabel(fixedContext)} tokens, by GPU count`, fontSize: 13, anchor: 'start' },
        transform: [{ filter: "datum.view == 'by-gpus'" }],
        facet: { column },
        spec: bars({ field: 'gpus', type: 'ordinal', title: 'GPUs', axis: { labelAngle: 0 } }),
      },
    ],
    resolve: { scale: { color: 'shared' } },
  } as unknown as TopLevelSpec;
  return {
    name: NAME,
    spec,
    data: rows,
    caption: `KVR-S's searched partitions as shares of the context per rank, for ${model.name} on ${gpu.name}: ${maxGpus} GPUs by context, and ${contextLabel(fixedContext)} tokens by GPU count, per link bandwidth.`,
    findings: findings(rows, maxGpus, contexts[contexts.length - 1]!),
  };
}

function findings(rows: Row[], gpus: number, context: number): string[] {
  return [...new Set(rows.map((r) => r.link as string))].map((link) => {
    const chunks = rows.filter((r) => r.view === 'by-context' && r.link === link && r.context === context && r.gpus === gpus);
    const first = chunks[0]!;
    const last = chunks[chunks.length - 1]!;
    return `${link}, ${gpus} GPUs, ${contextLabel(context)}: partition ${chunks.map((r) => r.tokens).join(',')}; rank 0 ${(first.share_percent as number).toFixed(1)}%, rank ${last.rank} ${(last.share_percent as number).toFixed(1)}% (even ${(100 / gpus).toFixed(1)}%)`;
  });
}

export const notebook: Notebook = {
  name: NAME,
  title: "KVR-S's searched partitions as stacked bars per rank",
  async run(outDir = defaultOutDir(NAME), log) {
    return writeFigures(outDir, [figure()], log);
  },
};

if (isMain(import.meta.url)) await notebook.run(process.argv[2]);
