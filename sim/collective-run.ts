import { runPlan } from './engine/engine.js';
import { KvrInputError } from './errors.js';
import type { GpuSpec } from './hardware/gpu-spec.js';
import type { ModelSpec } from './model/model-spec.js';
import { topologyFabric, tuneCollective, type CollectiveProtocol } from './plan/collective-tuner.js';
import { PlanBuilder } from './plan/plan-builder.js';
import { PLAN_SCHEMA, type CollectiveChoice, type CollectiveName } from './plan/plan.js';
import { planOfTable } from './plan/table-plan.js';
import { OP_COLLECTIVE } from './plan/op-table.js';
import { scenarioRouter } from './scenario-router.js';
import type { Topology } from './topology/topology.js';

/**
 * One collective on a topology, timed by the engine, as nccl-tests reports it (NVIDIA/nccl-tests
 * doc/PERFORMANCE.md): time from the start until every rank has its result; algbw = size / time;
 * busbw = algbw x the factor that makes it comparable to a link's bandwidth:
 *   all-reduce 2(n-1)/n; all-gather, reduce-scatter, all-to-all (n-1)/n; send-recv 1.
 * Size is nccl-tests' size: the whole buffer (an all-reduce's, an all-gather's output, a
 * reduce-scatter's input; for all-to-all and send-recv, each rank's send buffer).
 */
export const COLLECTIVE_OPS = ['all-reduce', 'all-gather', 'reduce-scatter', 'all-to-all', 'send-recv'] as const;
export type CollectiveOpName = (typeof COLLECTIVE_OPS)[number];

export interface CollectiveRunRequest {
  op: CollectiveOpName;
  gpus: number;
  topology: Topology;
  gpu: GpuSpec;
  /** Bytes (nccl-tests' size). */
  bytes: number;
  collective?: CollectiveChoice;
  channels?: number;
  protocol?: CollectiveProtocol;
}

export interface CollectiveRun {
  op: CollectiveOpName;
  bytes: number;
  time_s: number;
  algbw: number;
  busbw: number;
  /** What ran: algorithm (all-to-all, send-recv: direct), protocol (none: no protocol model), rings. */
  algorithm: string;
  protocol: string;
  channels: number;
  /** The tuner's closed-form estimate (s), where it chose. */
  estimate_s: number | null;
}

const NAMES: Partial<Record<CollectiveOpName, CollectiveName>> = { 'all-reduce': 'allreduce', 'all-gather': 'allgather', 'reduce-scatter': 'reducescatter' };

export function busBandwidthFactor(op: CollectiveOpName, n: number): number {
  if (op === 'all-reduce') return (2 * (n - 1)) / n;
  if (op === 'send-recv') return 1;
  return (n - 1) / n;
}

/** One byte per "token", so blocks are byte ranges. */
const BYTE_MODEL: ModelSpec = { name: 'bytes', layers: 1, hidden: 1, heads: 1, kv_heads: 1, head_dim: 1, ffn: 1, vocab: 1, dtype_bytes: 1, mlp: 'swiglu', block: 'sequential' } as ModelSpec;

export function runCollective(request: CollectiveRunRequest): CollectiveRun {
  const { op, gpus: p, bytes } = request;
  if (!Number.isInteger(p) || p < 2) throw new KvrInputError('gpus', `a collective needs at least 2 GPUs (got ${p})`);
  if (!(bytes >= p) || !Number.isFinite(bytes)) throw new KvrInputError('sizes', `each size must be at least one byte per GPU (got ${bytes} bytes on ${p} GPUs)`);
  const size = Math.round(bytes);
  const fabric = topologyFabric(request.topology, p);
  const builder = new PlanBuilder(BYTE_MODEL, { fabric, options: { ...(request.channels === undefined ? {} : { channels: request.channels }), ...(request.protocol === undefined ? {} : { protocol: request.protocol }) } });
  const ranks = Array.from({ length: p }, (_, r) => r);
  const blocks = ranks.map((r) => [Math.floor((r * size) / p), Math.floor(((r + 1) * size) / p)] as [number, number]);
  const name = NAMES[op];
  let algorithm = 'direct';
  let protocol = 'none';
  let channels = 1;
  let estimate: number | null = null;
  if (name !== undefined) {
    const choice = request.collective ?? 'auto';
    const id = builder.collective(name, choice, 0, ranks, blocks, 'together', []);
    if (builder.table.kind[id] === OP_COLLECTIVE) {
      const collective = builder.table.collective(id);
      algorithm = collective.algorithm;
      protocol = collective.protocol ?? 'none';
      channels = collective.channels ?? 1;
      estimate = tuneCollective(name, size, p, 0, fabric, { algorithm: choice, ...(request.channels === undefined ? {} : { channels: request.channels }), ...(request.protocol === undefined ? {} : { protocol: request.protocol }) }).estimate_s;
    }
  } else if (op === 'all-to-all') {
    // Every rank sends 1/p of its buffer (the size) to every other rank, all at once.
    for (let k = 1; k < p; k++) for (const r of ranks) builder.transfer('send', r, (r + k) % p, 0, 0, Math.floor(size / p), [], undefined, { payload: 'hidden' });
  } else {
    // send-recv: every rank sends its buffer (the size) to the next (nccl-tests sendrecv).
    for (const r of ranks) builder.transfer('send', r, (r + 1) % p, 0, 0, size, [], undefined, { payload: 'hidden' });
  }
  const plan = planOfTable({ schema: PLAN_SCHEMA, strategy: 'tp', model: BYTE_MODEL, context: size, gpus: p, partition: ranks.map(() => 0), kv_tokens: ranks.map(() => 0), last_rank: 0 }, builder.table);
  const run = runPlan(plan, new Float64Array(builder.table.count), scenarioRouter({ topology: request.topology, gpu: request.gpu }));
  const time = run.makespan;
  const algbw = size / time;
  return { op, bytes: size, time_s: time, algbw, busbw: algbw * busBandwidthFactor(op, p), algorithm, protocol, channels, estimate_s: estimate };
}
