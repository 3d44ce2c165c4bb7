import type { GpuSpec } from '../sim/hardware/gpu-spec.js';
import type { ModelSpec } from '../sim/model/model-spec.js';
import type { StrategyName } from '../sim/plan/plan.js';
import { simulate } from '../sim/simulate.js';
import { presetTopology } from '../sim/topology/presets.js';

/**
 * The paper's grid on one 8-GPU host (issue 16, item 7; DESIGN §0): TSP, KVR-E, KVR-S and KVR-P on
 * 2, 4 and 8 GPUs, 1k-16k tokens, llama2-7b and falcon-7b, over the links as they are (NVLink /
 * NVSwitch through NCCL) and over links paced to the paper's 10 GB/s. Rank r runs on GPU r (the
 * CUDA backend's default: rank r on device r with --device-offset 0).
 *
 * planPaperGrid is pure: the host (its GPU count and memory), a budget and a predictor in, the
 * plan out: which runs, on which GPUs, in what order, each with its expected seconds, the exact
 * `kvr` arguments native/scripts/gpu-node-validate.sh runs it with, and what is skipped and why.
 *
 * Order: the calibration first (every prediction needs its profile); then the validation runs
 * by value (tier), cheapest first within a tier:
 *   1 links as they are, 4k and 16k tokens (the paper's headline points)
 *   2 paced 10 GB/s,     4k and 16k tokens
 *   3 links as they are, 1k, 2k and 8k tokens
 *   4 paced 10 GB/s,     1k, 2k and 8k tokens
 * A run that does not fit in what is left of the budget is skipped (a cheaper later one may still
 * fit); one with more GPUs than the host has, or whose ranks do not fit the GPU's memory, is
 * skipped with that reason.
 *
 * Expected time of a run: the simulator's predicted TTFT of every case x (warm-up + repeats), plus
 * a fixed cost per case (plan set-up: weights allocated and filled on each GPU, NCCL communicators
 * created) and per process (Node start, addon load). Those fixed costs are estimates, not
 * measurements (PAPER_GRID_COSTS); on this grid they dominate, since every TTFT is under ~1.5 s.
 */

export const PAPER_GRID_SCHEMA = 'kvr-paper-grid/plan@1';
export const PAPER_MODELS = ['llama2-7b', 'falcon-7b'] as const;
export const PAPER_STRATEGIES: readonly StrategyName[] = ['tsp', 'kvr-e', 'kvr-s', 'kvr-p'];
export const PAPER_RANKS = [2, 4, 8] as const;
export const PAPER_CONTEXTS = [1024, 2048, 4096, 8192, 16384] as const;
/** The paper's slow setting, per GPU and direction. */
export const PAPER_SLOW_LINK = 10e9;
export const LINK_LATENCY_S = 5e-6;
/** Contexts of tiers 1 and 2. */
const HEADLINE_CONTEXTS = [4096, 16384];

/** Fixed costs of the estimate, in seconds (estimates: no GPU has run this grid yet). */
export const PAPER_GRID_COSTS = {
  /** One `kvr` process: Node start, addon load, profile and model loading, writing the report. */
  process_s: 3,
  /** Each executed case: weights allocated and filled (13-14 GB) on each of its GPUs, rank state, NCCL communicators. */
  case_s: 2,
  case_per_gpu_s: 0.5,
  /** gpu-run.sh's preflight and build (cmake + ninja of kvr-exec and the addon), before any run. */
  setup_s: 240,
  /** kvr calibrate: the same fixed cost per timed plan, plus (1 + warm-up + repeats) x the plan's predicted time. */
  calibrate_case_s: 2.5,
} as const;

/** The calibration grid (as gpu-run.sh's calibrate step, both models). */
export const PAPER_CALIBRATION = { tokens: [512, 2048, 8192], prefixes: [0, 2048, 8192], link_tokens: [1024, 8192], warmup: 1, repeats: 3 } as const;

export type LinkSetting = 'native' | 'paced';

export interface PaperGridHost {
  /** GPUs the host has (nvidia-smi); ranks 0..p-1 run on GPUs 0..p-1. */
  gpus: number;
  /** The GPU's profile name: the calibration writes kvr-out/profiles/<gpu>.json, the validation reads it. */
  gpu: string;
}

export interface PaperGridOptions {
  /** Seconds for the calibration and validation runs (the setup is counted apart). */
  budget_s: number;
  warmup?: number;
  repeats?: number;
  /** Where each run's report folder goes: <out>/<id>. */
  out: string;
}

/** What the planner asks of the simulator for one case. */
export interface CasePrediction {
  ttft_s: number;
  /** Largest peak memory over the ranks. */
  peak_mem_bytes: number;
}

export type Predictor = (model: string, strategy: StrategyName, gpus: number, context: number, bandwidth: number) => CasePrediction;

export interface PaperGridRun {
  /** Position in the run order, from 1. */
  index: number;
  id: string;
  kind: 'calibrate' | 'validate';
  tier: number;
  models: string[];
  /** GPUs the run uses (rank r on GPU r). */
  devices: number[];
  link: LinkSetting | null;
  /** Per GPU and direction, bytes/s: the paced rate, or the GPU's NVLink figure the native runs are predicted with. */
  bandwidth: number | null;
  context: number | null;
  strategies: StrategyName[];
  predicted_ttft_s: Partial<Record<StrategyName, number>>;
  expected_s: number;
  /** Arguments of `kvr` (node bin/kvr.js ...). */
  argv: string[];
}

export interface PaperGridSkip {
  id: string;
  why: string;
  expected_s?: number;
}

export interface PaperGridPlan {
  schema: typeof PAPER_GRID_SCHEMA;
  host: PaperGridHost;
  budget_s: number;
  warmup: number;
  repeats: number;
  costs: typeof PAPER_GRID_COSTS;
  runs: PaperGridRun[];
  skipped: PaperGridSkip[];
  /** Sum of the planned runs' expected seconds (setup not included). */
  expected_s: number;
  /** The whole grid this host could run, in expected seconds, budget aside (setup not included). */
  full_grid_expected_s: number;
}

/** A candidate run before the budget is applied. */
interface Candidate extends Omit<PaperGridRun, 'index'> {
  order: number;
}

/**
 * The plan for a host: pure (the predictor is the only source of numbers). `nvlink` is the
 * per-direction bandwidth the native runs are predicted with (the GPU profile's link_bandwidth).
 */
export function planPaperGrid(host: PaperGridHost, options: PaperGridOptions, predict: Predictor, gpuMemoryBytes: number, nvlink: number): PaperGridPlan {
  const warmup = options.warmup ?? 1;
  const repeats = options.repeats ?? 3;
  const timed = warmup + repeats;
  const skipped: PaperGridSkip[] = [];
  const candidates: Candidate[] = [];

  // The calibration: every op of both models on the grid, on GPU 0 (its two-rank attention and
  // transfer plans use GPUs 0 and 1 when the host has them).
  const C = PAPER_CALIBRATION;
  let calibrate = 0;
  for (const model of PAPER_MODELS) {
    for (const tokens of [...C.tokens, ...midpointsOf(C.tokens)]) {
      calibrate += C.prefixes.length * PAPER_GRID_COSTS.calibrate_case_s + (1 + C.warmup + C.repeats) * predict(model, 'single', 1, tokens, nvlink).ttft_s;
    }
  }
  calibrate += C.link_tokens.length * PAPER_GRID_COSTS.calibrate_case_s + PAPER_GRID_COSTS.process_s;
  const calibrateDevices = host.gpus >= 2 ? [0, 1] : [0];
  candidates.push({
    order: 0,
    id: 'calibrate',
    kind: 'calibrate',
    tier: 0,
    models: [...PAPER_MODELS],
    devices: calibrateDevices,
    link: 'paced',
    bandwidth: PAPER_SLOW_LINK,
    context: null,
    strategies: [],
    predicted_ttft_s: {},
    expected_s: round(calibrate),
    argv: [
      'calibrate', '--backend', 'cuda', '--name', host.gpu, '--model', PAPER_MODELS.join(','),
      '--tokens', C.tokens.join(','), '--prefixes', C.prefixes.join(','), '--link-tokens', C.link_tokens.join(','),
      '--link-bandwidth', '10 GB/s', '--link-latency', '5 us', '--warmup', String(C.warmup), '--repeats', String(C.repeats),
    ],
  });

  let order = 1;
  for (const link of ['native', 'paced'] as const) {
    for (const headline of [true, false]) {
      const tier = (headline ? 1 : 3) + (link === 'paced' ? 1 : 0);
      const contexts = PAPER_CONTEXTS.filter((c) => HEADLINE_CONTEXTS.includes(c) === headline);
      for (const model of PAPER_MODELS) {
        for (const gpus of PAPER_RANKS) {
          for (const context of contexts) {
            const id = `${model}-p${gpus}-${link === 'native' ? 'nvlink' : '10gbps'}-${context}`;
            if (gpus > host.gpus) {
              skipped.push({ id, why: `needs ${gpus} GPUs, the host has ${host.gpus}${host.gpus === 1 ? ' (one GPU: gpu-run.sh emulates ranks on SM partitions instead)' : ''}` });
              continue;
            }
            const bandwidth = link === 'native' ? nvlink : PAPER_SLOW_LINK;
            const predicted: Partial<Record<StrategyName, number>> = {};
            let expected = PAPER_GRID_COSTS.process_s;
            let peak = 0;
            for (const strategy of PAPER_STRATEGIES) {
              const p = predict(model, strategy, gpus, context, bandwidth);
              predicted[strategy] = p.ttft_s;
              peak = Math.max(peak, p.peak_mem_bytes);
              expected += PAPER_GRID_COSTS.case_s + PAPER_GRID_COSTS.case_per_gpu_s * gpus + timed * p.ttft_s;
            }
            if (peak > gpuMemoryBytes) {
              skipped.push({ id, why: `a rank needs ${(peak / 1e9).toFixed(1)} GB, more than the GPU's ${(gpuMemoryBytes / 1e9).toFixed(1)} GB` });
              continue;
            }
            candidates.push({
              order: order++,
              id,
              kind: 'validate',
              tier,
              models: [model],
              devices: Array.from({ length: gpus }, (_, r) => r),
              link,
              bandwidth,
              context,
              strategies: [...PAPER_STRATEGIES],
              predicted_ttft_s: predicted,
              expected_s: round(expected),
              argv: [
                'validate', '--backend', 'cuda', '--gpu', host.gpu, '--model', model, '--single', 'none', '--ranks', String(gpus),
                '--contexts', String(context), '--strategies', PAPER_STRATEGIES.join(','), '--links', link === 'native' ? 'native' : '10 GB/s',
                '--repeats', String(repeats), '--out', `${options.out}/${id}`,
              ],
            });
          }
        }
      }
    }
  }
  // By tier, then cheapest first; ties in the order built (model, GPUs, context).
  candidates.sort((a, b) => a.tier - b.tier || a.expected_s - b.expected_s || a.order - b.order);
  const full = candidates.reduce((sum, c) => sum + c.expected_s, 0);

  const runs: PaperGridRun[] = [];
  let left = options.budget_s;
  for (const c of candidates) {
    if (c.kind === 'validate' && !runs.some((r) => r.kind === 'calibrate')) {
      skipped.push({ id: c.id, why: 'no calibration run fits the budget, and validation needs its profile', expected_s: c.expected_s });
      continue;
    }
    if (c.expected_s > left) {
      skipped.push({ id: c.id, why: `over budget: expected ${c.expected_s} s, ${round(left)} s left`, expected_s: c.expected_s });
      continue;
    }
    left -= c.expected_s;
    const { order: _order, ...run } = c;
    runs.push({ index: runs.length + 1, ...run });
  }
  return {
    schema: PAPER_GRID_SCHEMA,
    host,
    budget_s: options.budget_s,
    warmup,
    repeats,
    costs: PAPER_GRID_COSTS,
    runs,
    skipped,
    expected_s: round(runs.reduce((sum, r) => sum + r.expected_s, 0)),
    full_grid_expected_s: round(full),
  };
}

/**
 * The simulator as the planner's predictor: a switch topology (one link per GPU at `bandwidth`,
 * 5 us) under `gpu` (a datasheet preset before calibration, the calibrated profile after).
 */
export function simulatorPredictor(gpu: GpuSpec, models: Record<string, ModelSpec>): Predictor {
  return (modelName, strategy, gpus, context, bandwidth) => {
    const model = models[modelName];
    if (model === undefined) throw new Error(`no model ${modelName}`);
    const topology = presetTopology('switch', {
      gpus: Math.max(gpus, 2),
      bandwidth,
      latency_s: LINK_LATENCY_S,
      gpus_per_node: Math.max(gpus, 2),
      nic_bandwidth: bandwidth,
      nic_latency_s: 0,
      gpus_per_switch: 2,
    });
    const { result } = simulate({ model, gpu, topology, gpus, context, strategy });
    return { ttft_s: result.ttft_s, peak_mem_bytes: Math.max(...result.ranks.map((r) => r.peak_mem_bytes)) };
  };
}

/** Geometric midpoints of consecutive values (calibrate's check shapes). */
function midpointsOf(values: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < values.length; i++) out.push(Math.round(Math.sqrt(values[i - 1]! * values[i]!)));
  return out;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
