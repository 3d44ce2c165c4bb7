import { expandCollectives } from '../../sim/plan/expand.js';
import type { ComputeOp, Plan, StrategyName } from '../../sim/plan/plan.js';
import type { ChromeTrace } from '../../sim/trace/perfetto.js';
import { loadAddon } from './addon.js';
import type { LinkEmulation } from './link-emulation.js';
import { asNativeError } from './native-error.js';

export const BACKENDS = ['cpu', 'cuda'] as const;
export type BackendName = (typeof BACKENDS)[number];
export const TRANSPORTS = ['auto', 'peer', 'nccl'] as const;
/**
 * Strategies the cuda backend runs (native/src/cuda: contiguous chunks of whole-model rows); the
 * cpu backend runs every strategy. ring-kv, ring-q, tp, tp-sp, kvr-tp and pp-chunked are refused
 * by the cuda backend with an invalid-argument error naming `strategy`.
 */
export const CUDA_STRATEGIES: readonly StrategyName[] = ['single', 'tsp', 'tsp-causal', 'kvr', 'kvr-e', 'kvr-s', 'kvr-p'];
export type TransportName = (typeof TRANSPORTS)[number];

export interface ExecOptions {
  backend?: BackendName;
  transport?: TransportName;
  /** Untimed runs before the timed ones. */
  warmup?: number;
  /** Timed runs; TTFT is their median. */
  repeats?: number;
  /** Seed of the random weights and token ids. */
  seed?: number;
  /**
   * Return the prefill's K,V cache too (fp32, [layer][position < context][k|v][kv_head][head_dim]),
   * each entry from the rank that computed it: the last rank's cache when it holds every position
   * and KV head (single, tsp, kvr), assembled from the ranks' chunks or shards otherwise (ring-kv, tp).
   */
  captureKv?: boolean;
  deviceOffset?: number;
  /**
   * CUDA only: split each GPU's SMs into this many green-context partitions and run rank r on
   * partition r % n, so ranks sharing a GPU compute as separate smaller GPUs would (0 or absent:
   * whole GPUs). The cpu backend rejects it (invalid-argument); a driver without green contexts
   * (CUDA < 12.5) is no-cuda-device.
   */
  smPartitions?: number;
  /** Pace every transfer on these emulated links (see linkEmulationFor) instead of the host's memory. */
  links?: LinkEmulation;
}

/** Options of timeOps: those of executePlan that apply to timing single ops. */
export type TimeOpsOptions = Omit<ExecOptions, 'captureKv'>;

export interface MeasuredOp {
  id: number;
  name: string;
  layer: number | null;
  start_s: number;
  end_s: number;
}

/** kvr-exec/measurement@1 (native/include/kvr/executor.hpp). */
export interface Measurement {
  schema: 'kvr-exec/measurement@1';
  strategy: string;
  model: string;
  context: number;
  gpus: number;
  partition: number[];
  backend: string;
  device: string;
  transport: string;
  warmup: number;
  repeats: number;
  ttft_s: number;
  ttft_runs_s: number[];
  logits_head: number[];
  logits_l2: number;
  ranks: { rank: number; finish_s: number; compute_s: number; ops: MeasuredOp[] }[];
  transfers: { id: number; name: string; src: number; dst: number; layer: number; bytes: number; start_s: number; end_s: number }[];
}

interface TimedOpBase {
  id: number;
  /** Duration of each timed re-issue (seconds). */
  times_s: number[];
  median_s: number;
}

/** A compute op of the plan, with its measured times. */
export interface TimedComputeOp extends TimedOpBase, Pick<ComputeOp, 'name' | 'rank' | 'layer' | 'tokens' | 'prefix' | 'keys' | 'causal'> {
  kind: 'compute';
}

export interface TimedTransferOp extends TimedOpBase {
  kind: 'transfer';
  name: 'send' | 'allgather' | 'reducescatter';
  src: number;
  dst: number;
  bytes: number;
  layer: number;
}

/** kvr-exec/op-times@1 (native/include/kvr/op_timing.hpp): single ops timed alone, in the order asked. */
export interface OpTimes {
  schema: 'kvr-exec/op-times@1';
  backend: string;
  device: string;
  transport: string;
  warmup: number;
  repeats: number;
  ops: (TimedComputeOp | TimedTransferOp)[];
}

export interface Execution {
  measurement: Measurement;
  trace: ChromeTrace;
  logits: Float32Array;
  kv?: Float32Array;
}

/**
 * Runs a plan (object, or its JSON text) on the native executor off the main thread. Rejects with a NativeError whose code
 * says what went wrong (invalid-plan, built-without-cuda, no-cuda-device, out-of-memory, ...).
 */
export async function executePlan(plan: Plan | string, options: ExecOptions = {}): Promise<Execution> {
  try {
    const text = planText(plan);
    const raw = await loadAddon().execute(text, addonOptions(options));
    const execution: Execution = {
      measurement: JSON.parse(raw.measurement) as Measurement,
      trace: JSON.parse(raw.trace) as ChromeTrace,
      logits: raw.logits,
    };
    if (raw.kv !== undefined) execution.kv = raw.kv;
    return execution;
  } catch (error) {
    throw asNativeError(error);
  }
}

/**
 * Runs a plan once, then re-issues each op of `opIds` alone (`warmup` untimed, `repeats` timed) and
 * returns their durations: per-op costs of this machine, for calibration. Rejects like executePlan;
 * an id that is not an op of the plan is an invalid-argument NativeError.
 */
export async function timeOps(plan: Plan | string, opIds: readonly number[], options: TimeOpsOptions = {}): Promise<OpTimes> {
  try {
    const text = planText(plan);
    return JSON.parse(await loadAddon().timeOps(text, [...opIds], addonOptions(options))) as OpTimes;
  } catch (error) {
    throw asNativeError(error);
  }
}

/**
 * The plan as the executor reads it: collective ops (tp, tp-sp, kvr-tp) written out as their
 * transfers (sim/plan/expand.ts), so op ids are those of the expanded plan that kvr export-plan
 * prints and the simulator's traces use. Text is passed as it is (kvr export-plan already expanded it).
 */
export function planText(plan: Plan | string): string {
  if (typeof plan === 'string') {
    if (!/"kind"\s*:\s*"collective"/.test(plan)) return plan;
    try {
      return JSON.stringify(expanded(JSON.parse(plan) as Plan));
    } catch {
      return plan; // the native parser reports where the JSON breaks
    }
  }
  return JSON.stringify(expanded(plan));
}

/** The plan with its collectives expanded; a malformed one as it is, for the native parser to name the bad field. */
function expanded(plan: Plan): Plan {
  const ops: unknown = (plan as Partial<Plan> | null)?.ops;
  if (!Array.isArray(ops) || !ops.some((op) => (op as { kind?: unknown } | null)?.kind === 'collective')) return plan;
  try {
    return expandCollectives(plan);
  } catch {
    return plan;
  }
}

/** The addon takes the links as JSON text, parsed natively so that bad ones reject with a code. */
function addonOptions(options: ExecOptions): Record<string, unknown> {
  const { links, ...rest } = options;
  return links === undefined ? { ...rest } : { ...rest, links: JSON.stringify(links) };
}

/** What the build and the machine support (native/include/kvr/devices.hpp). */
export async function describeDevices(): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await loadAddon().devices()) as Record<string, unknown>;
  } catch (error) {
    throw asNativeError(error);
  }
}
