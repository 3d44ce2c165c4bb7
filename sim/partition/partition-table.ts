import { KvrInputError, describeValue } from '../errors.js';
import {
  checkEnum,
  checkInteger,
  checkString,
  expectArray,
  expectObject,
  rejectUnknownKeys,
  requireKey,
} from '../input/fields.js';
import { digest } from '../input/digest.js';
import type { GpuSpec } from '../hardware/gpu-spec.js';
import type { ModelSpec } from '../model/model-spec.js';
import { checkPartition } from '../plan/partition.js';
import { ATTENTION_IMPLEMENTATIONS, type AttentionImplementation } from '../work/op-kernels.js';
import { SEARCH_METHODS, type SearchMethod } from './search-partition.js';

/** @2 added what @1 left out: attention, the model's and GPU's digests and each entry's hops. */
export const PARTITION_TABLE_SCHEMA = 'kvr-partition-table@2';

/** One searched scenario: a GPU count, a chain bandwidth and a context, and what KVR-S found. */
export interface PartitionTableEntry {
  gpus: number;
  /** Slowest hop of the KV-Runahead chain, bytes/s. */
  bandwidth: number;
  context: number;
  /** Narrowest per-direction bandwidth (bytes/s) of each hop rank i -> i+1 of the chain. */
  hop_bandwidths: number[];
  /** Route latency of each hop (s). */
  hop_latencies_s: number[];
  /** The searched (KVR-S) partition. */
  partition: number[];
  ttft_s: number;
  ttft_kvr_e_s: number;
  simulations: number;
}

/**
 * Searched partitions over context lengths, GPU counts and link bandwidths, for one model, GPU
 * profile, attention implementation and topology kind. It records every other input its answer
 * depends on (the model's shape and the GPU's costs as digests, each entry's chain of hops) and
 * predicts only for scenarios that match them (predict-partition.ts).
 */
export interface PartitionTable {
  schema: typeof PARTITION_TABLE_SCHEMA;
  model: string;
  /** modelDigest: every field of the model spec but its name. */
  model_digest: string;
  gpu: string;
  gpu_profile: string;
  /** gpuCostDigest: every GPU field an op's time depends on. */
  gpu_digest: string;
  /** The attention implementation the searched TTFTs assume. */
  attention: AttentionImplementation;
  topology: string;
  /** Largest hop latency of the chain the entries were searched on. */
  latency_s: number;
  granularity: number;
  search: SearchMethod;
  /** How the table was made, for provenance. */
  command: string;
  entries: PartitionTableEntry[];
}

const TABLE_KEYS = [
  'schema', 'model', 'model_digest', 'gpu', 'gpu_profile', 'gpu_digest', 'attention', 'topology', 'latency_s', 'granularity', 'search', 'command', 'entries',
] as const;
const ENTRY_KEYS = ['gpus', 'bandwidth', 'context', 'hop_bandwidths', 'hop_latencies_s', 'partition', 'ttft_s', 'ttft_kvr_e_s', 'simulations'] as const;

/**
 * Digest of a model's shape: every field but the name (which a table records by itself). A
 * precision without fp8 costs what the model's dtype_bytes already say, so it is left out (a table
 * built at fp16 serves fp16 and bf16 runs); one with fp8 anywhere is part of the digest.
 */
export function modelDigest(model: ModelSpec): string {
  const { name: _name, precision, ...shape } = model;
  const plain = precision === undefined || (precision.dtype !== 'fp8' && precision.ffn_dtype !== 'fp8' && precision.kv_dtype !== 'fp8');
  return digest(plain ? shape : { ...shape, precision });
}

/**
 * Digest of what a GPU's op and transfer times depend on: peaks, HBM bandwidth, launch overhead,
 * efficiencies, calibration and shape model. Not its name, profile kind (recorded by themselves), memory
 * (a search ignores whether a partition fits), default link bandwidths (the entries record the
 * hops) or source.
 */
export function gpuCostDigest(gpu: GpuSpec): string {
  return digest({
    peak_flops: gpu.peak_flops,
    hbm_bandwidth: gpu.hbm_bandwidth,
    launch_overhead_s: gpu.launch_overhead_s,
    efficiency: gpu.efficiency,
    calibration: gpu.calibration ?? null,
    // Where present (GPUs with fp8 tensor cores; shape-aware presets and profiles).
    ...(gpu.peak_flops_fp8 == null ? {} : { peak_flops_fp8: gpu.peak_flops_fp8 }),
    ...(gpu.shape === undefined ? {} : { shape: gpu.shape }),
  });
}

export function partitionTableFromJson(value: unknown, field = 'table'): PartitionTable {
  const object = expectObject(value, field);
  if (object.schema === 'kvr-partition-table@1') {
    throw new KvrInputError(`${field}.schema`, `is "kvr-partition-table@1", which does not record the attention implementation, model and GPU digests or hops; rebuild it with kvr partition build-table`);
  }
  if (object.schema !== PARTITION_TABLE_SCHEMA) {
    throw new KvrInputError(`${field}.schema`, `expected "${PARTITION_TABLE_SCHEMA}" (got ${describeValue(object.schema)})`);
  }
  rejectUnknownKeys(object, TABLE_KEYS, field);
  const number = (o: Record<string, unknown>, key: string, where: string): number => {
    const value = requireKey(o, key, where);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new KvrInputError(`${where}.${key}`, `expected a finite number >= 0 (got ${describeValue(value)})`);
    }
    return value;
  };
  const entries = expectArray(requireKey(object, 'entries', field), `${field}.entries`).map((raw, i): PartitionTableEntry => {
    const where = `${field}.entries[${i}]`;
    const entry = expectObject(raw, where);
    rejectUnknownKeys(entry, ENTRY_KEYS, where);
    const gpus = checkInteger(requireKey(entry, 'gpus', where), `${where}.gpus`, { min: 1 });
    const context = checkInteger(requireKey(entry, 'context', where), `${where}.context`, { min: gpus });
    const partition = expectArray(requireKey(entry, 'partition', where), `${where}.partition`) as number[];
    checkPartition(partition, context, gpus, `${where}.partition`);
    const bandwidth = number(entry, 'bandwidth', where);
    if (bandwidth <= 0) throw new KvrInputError(`${where}.bandwidth`, 'must be > 0');
    const hops = (key: string, positive: boolean): number[] => {
      const values = expectArray(requireKey(entry, key, where), `${where}.${key}`);
      if (values.length !== gpus - 1) throw new KvrInputError(`${where}.${key}`, `needs one value per hop: ${gpus - 1} for ${gpus} GPUs (got ${values.length})`);
      return values.map((v, k) => {
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (positive && v === 0)) {
          throw new KvrInputError(`${where}.${key}[${k}]`, `expected a finite number ${positive ? '> 0' : '>= 0'} (got ${describeValue(v)})`);
        }
        return v;
      });
    };
    const hopBandwidths = hops('hop_bandwidths', true);
    if (hopBandwidths.length > 0 && Math.min(...hopBandwidths) !== bandwidth) {
      throw new KvrInputError(`${where}.bandwidth`, 'must be the slowest of hop_bandwidths');
    }
    return {
      gpus,
      bandwidth,
      context,
      hop_bandwidths: hopBandwidths,
      hop_latencies_s: hops('hop_latencies_s', false),
      partition,
      ttft_s: number(entry, 'ttft_s', where),
      ttft_kvr_e_s: number(entry, 'ttft_kvr_e_s', where),
      simulations: checkInteger(requireKey(entry, 'simulations', where), `${where}.simulations`, { min: 0 }),
    };
  });
  if (entries.length === 0) throw new KvrInputError(`${field}.entries`, 'needs at least one entry');
  return {
    schema: PARTITION_TABLE_SCHEMA,
    model: checkString(requireKey(object, 'model', field), `${field}.model`),
    model_digest: checkString(requireKey(object, 'model_digest', field), `${field}.model_digest`),
    gpu: checkString(requireKey(object, 'gpu', field), `${field}.gpu`),
    gpu_profile: checkString(requireKey(object, 'gpu_profile', field), `${field}.gpu_profile`),
    gpu_digest: checkString(requireKey(object, 'gpu_digest', field), `${field}.gpu_digest`),
    attention: checkEnum(requireKey(object, 'attention', field), ATTENTION_IMPLEMENTATIONS, `${field}.attention`),
    topology: checkString(requireKey(object, 'topology', field), `${field}.topology`),
    latency_s: number(object, 'latency_s', field),
    granularity: checkInteger(requireKey(object, 'granularity', field), `${field}.granularity`, { min: 1 }),
    search: checkEnum(requireKey(object, 'search', field), SEARCH_METHODS, `${field}.search`),
    command: checkString(requireKey(object, 'command', field), `${field}.command`),
    entries,
  };
}
