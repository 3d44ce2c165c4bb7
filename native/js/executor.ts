import type { Plan } from '../../sim/plan/plan.js';
import type { ChromeTrace } from '../../sim/trace/perfetto.js';
import { loadAddon } from './addon.js';
import { asNativeError } from './native-error.js';

export const BACKENDS = ['cpu', 'cuda'] as const;
export type BackendName = (typeof BACKENDS)[number];
export const TRANSPORTS = ['auto', 'peer', 'nccl'] as const;
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
  /** Return the last rank's K,V cache too (fp32, [layer][position][k|v][kv_head][head_dim]). */
  captureKv?: boolean;
  deviceOffset?: number;
}

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
    const text = typeof plan === 'string' ? plan : JSON.stringify(plan);
    const raw = await loadAddon().execute(text, { ...options });
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

/** What the build and the machine support (native/include/kvr/devices.hpp). */
export async function describeDevices(): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await loadAddon().devices()) as Record<string, unknown>;
  } catch (error) {
    throw asNativeError(error);
  }
}
