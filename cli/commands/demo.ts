import { simulate } from '../../sim/simulate.js';
import type { StrategyName } from '../../sim/plan/plan.js';
import type { CliIo } from '../io.js';
import { formatTtft, renderTable } from '../format.js';
import { resolveScenario } from '../scenario-flags.js';
import type { GpuSpec } from '../../sim/hardware/gpu-spec.js';
import { gpuProfileNote } from '../gpu-profile-note.js';
import { compareOnGpu, renderComparison, type Comparison } from './compare.js';

/** The paper's setting (Cho et al., ICML 2024 §5): 8 x A100, fp16, links of 300 and 10 GB/s. */
export const DEMO_SETTING = {
  models: ['llama2-7b', 'falcon-7b'],
  gpu: 'a100-80g',
  gpus: 8,
  topology: 'switch',
  bandwidths: ['300 GB/s', '10 GB/s'],
  contexts: [4096, 8192, 12288, 16384],
  strategies: ['single', 'tsp', 'kvr-e', 'kvr-s', 'kvr-p'] as StrategyName[],
};

/** The demo's comparison of every strategy (kvr compare) on one setting; kvr-tp with groups of 4. */
export const DEMO_COMPARE = { model: 'llama2-7b', gpu: 'a100-80g', gpus: '8', topology: 'switch', bandwidth: '300 GB/s', context: '16384', tp: '4' };

export function demoComparison(io: CliIo): { comparison: Comparison; gpu: GpuSpec } {
  return compareOnGpu({ ...DEMO_COMPARE }, io);
}

export interface DemoRow {
  model: string;
  bandwidth: string;
  context: number;
  ttft_s: Record<string, number>;
  /** TSP's TTFT over each strategy's TTFT. */
  speedup_over_tsp: Record<string, number>;
}

export function demoRows(io: CliIo): DemoRow[] {
  const s = DEMO_SETTING;
  const rows: DemoRow[] = [];
  for (const model of s.models) {
    for (const bandwidth of s.bandwidths) {
      for (const context of s.contexts) {
        const ttft: Record<string, number> = {};
        for (const strategy of s.strategies) {
          const scenario = resolveScenario(
            {
              model,
              gpu: s.gpu,
              gpus: strategy === 'single' ? '1' : String(s.gpus),
              topology: s.topology,
              bandwidth,
              context: String(context),
              strategy,
            },
            io,
          );
          ttft[strategy] = simulate(scenario).result.ttft_s;
        }
        const speedup: Record<string, number> = {};
        for (const strategy of s.strategies) speedup[strategy] = ttft.tsp! / ttft[strategy]!;
        rows.push({ model, bandwidth, context, ttft_s: ttft, speedup_over_tsp: speedup });
      }
    }
  }
  return rows;
}

export function demoCommand(flags: { json?: boolean }, io: CliIo): void {
  const rows = demoRows(io);
  const { comparison, gpu } = demoComparison(io);
  if (flags.json) {
    io.stdout(`${JSON.stringify({ schema: 'kvr-demo@1', setting: DEMO_SETTING, rows, compare: comparison }, null, 2)}\n`);
    return;
  }
  const s = DEMO_SETTING;
  const others = s.strategies.filter((name) => name !== 'tsp' && name !== 'single');
  const header = ['model', 'link', 'context', ...s.strategies.map((name) => `${name} TTFT`), ...others.map((name) => `${name} vs tsp`)];
  const table = rows.map((row) => [
    row.model,
    row.bandwidth,
    String(row.context),
    ...s.strategies.map((name) => formatTtft(row.ttft_s[name]!)),
    ...others.map((name) => `${row.speedup_over_tsp[name]!.toFixed(2)}x`),
  ]);
  io.stdout(
    `kvr demo: prefill TTFT on ${s.gpus} x ${s.gpu} behind one switch (the KV-Runahead paper's setting)\n` +
      'single = one GPU; tsp = tensor/sequence-parallel baseline; KV-Runahead with kvr-e = even chunks,\n' +
      'kvr-s = searched chunks (simulated TTFT), kvr-p = chunks predicted by the cost model without search\n' +
      `${gpuProfileNote(gpu) ?? `gpu profile: ${gpu.name} ${gpu.profile}`}\n\n` +
      renderTable(header, table, 2) +
      '\nEvery strategy on one setting (kvr compare; tp, tp-sp: tensor parallelism; ring-kv, ring-q: ring attention\n' +
      'passing K,V or queries; pp-chunked: chunked pipeline prefill; with --tp 4 these and kvr-tp run tensor\n' +
      'parallelism inside groups of 4 GPUs):\n' +
      renderComparison(comparison, gpu, { profileNote: false }),
  );
}
