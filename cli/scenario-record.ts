import type { Scenario } from '../sim/simulate.js';

/**
 * The `scenario` object every --json result carries: every input that produced it, resolved,
 * with defaults filled in, as numbers in base units (bytes, seconds, bytes/s, FLOP/s; the unit is
 * in the key where the key would not say it). Enough to rebuild the run without the command line.
 */
export interface ScenarioRecord {
  model: Scenario['model'];
  gpu: {
    name: string;
    profile: string;
    peak_flops_per_s: number;
    hbm_bandwidth_Bps: number | null;
    memory_bytes: number | null;
    launch_overhead_s: number;
    efficiency: Scenario['gpu']['efficiency'];
    link_bandwidth_Bps: number | null;
    pcie_bandwidth_Bps: number | null;
    stack: string | null;
  };
  gpus: number;
  context_tokens: number;
  strategy: string;
  partition: number[] | null;
  attention: string;
  /** auto: the NCCL-style tuner's pick per collective and size (sim/plan/collective-tuner.ts). */
  collective: string | null;
  /** Forced ring channels and NCCL protocol (null: the tuner's). */
  channels: number | null;
  protocol: string | null;
  tp: number | null;
  /** Expert-parallel GPUs of a MoE model (--ep) and the busiest one's load factor (--expert-imbalance); absent: 1 and 1. */
  ep?: number;
  expert_imbalance?: number;
  /** pp-chunked: --pp and --chunk, when given (a number of tokens, or "search"). */
  pp?: number;
  chunk?: number | 'search';
  search: { method: string; granularity_tokens: number } | null;
  predictor: string | null;
  /** kvr-p interpolate: the table's identity (model, GPU and their digests, attention, topology). */
  partition_table: { model: string; model_digest: string; gpu: string; gpu_digest: string; attention: string; topology: string; entries: number } | null;
  topology: {
    name: string;
    gpu_nodes: number;
    nodes: { id: string; kind: string }[];
    /** Each full-duplex link: per-direction bandwidth (bytes/s) and latency (s). */
    links: { a: string; b: string; bandwidth_ab_Bps: number; bandwidth_ba_Bps: number; latency_s: number }[];
    /** Distinct per-direction link bandwidths and latencies, for a quick read. */
    bandwidths_Bps: number[];
    latencies_s: number[];
    background_flows: number;
  };
}

export function scenarioRecord(s: Scenario): ScenarioRecord {
  const t = s.topology;
  const id = (index: number): string => t.nodes[index]?.id ?? String(index);
  // The ring and pipeline strategies have collectives only with tensor parallelism inside.
  const usesCollectives = ['tsp', 'tsp-causal', 'tp', 'tp-sp', 'kvr-tp'].includes(s.strategy) || (['ring-kv', 'ring-q', 'pp-chunked'].includes(s.strategy) && (s.tp ?? 1) > 1);
  return {
    model: { ...s.model },
    gpu: {
      name: s.gpu.name,
      profile: s.gpu.profile,
      peak_flops_per_s: s.gpu.peak_flops,
      hbm_bandwidth_Bps: s.gpu.hbm_bandwidth,
      memory_bytes: s.gpu.memory_bytes,
      launch_overhead_s: s.gpu.launch_overhead_s,
      efficiency: s.gpu.efficiency,
      link_bandwidth_Bps: s.gpu.link_bandwidth,
      pcie_bandwidth_Bps: s.gpu.pcie_bandwidth,
      stack: s.gpu.stack_description ?? null,
    },
    gpus: s.gpus,
    context_tokens: s.context,
    strategy: s.strategy,
    partition: s.partition ?? null,
    attention: s.attention ?? 'flash',
    collective: usesCollectives ? (s.collective ?? 'auto') : null,
    channels: usesCollectives ? (s.channels ?? null) : null,
    protocol: usesCollectives ? (s.protocol ?? null) : null,
    tp: s.tp ?? null,
    ...(s.ep === undefined || s.ep === 1 ? {} : { ep: s.ep, expert_imbalance: s.expertImbalance ?? 1 }),
    ...(s.pp === undefined ? {} : { pp: s.pp }),
    ...(s.chunk === undefined ? {} : { chunk: s.chunk }),
    search: s.search === undefined ? null : { method: s.search.method, granularity_tokens: s.search.granularity },
    predictor: s.predictor ?? null,
    partition_table:
      s.partitionTable === undefined
        ? null
        : (({ model, model_digest, gpu, gpu_digest, attention, topology, entries }) => ({ model, model_digest, gpu, gpu_digest, attention, topology, entries: entries.length }))(s.partitionTable),
    topology: {
      name: t.name,
      gpu_nodes: t.nodes.filter((n) => n.kind === 'gpu').length,
      nodes: t.nodes.map((n) => ({ id: n.id, kind: n.kind })),
      links: t.links.map((l) => ({ a: id(l.a), b: id(l.b), bandwidth_ab_Bps: l.bandwidth_ab, bandwidth_ba_Bps: l.bandwidth_ba, latency_s: l.latency_s })),
      bandwidths_Bps: [...new Set(t.links.flatMap((l) => [l.bandwidth_ab, l.bandwidth_ba]))].sort((a, b) => b - a),
      latencies_s: [...new Set(t.links.map((l) => l.latency_s))].sort((a, b) => a - b),
      background_flows: t.background?.length ?? 0,
    },
  };
}
