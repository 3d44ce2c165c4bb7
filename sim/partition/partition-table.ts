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
import { checkPartition } from '../plan/partition.js';
import { SEARCH_METHODS, type SearchMethod } from './search-partition.js';

export const PARTITION_TABLE_SCHEMA = 'kvr-partition-table@1';

/** One searched scenario: a GPU count, a chain bandwidth and a context, and what KVR-S found. */
export interface PartitionTableEntry {
  gpus: number;
  /** Slowest hop of the KV-Runahead chain, bytes/s. */
  bandwidth: number;
  context: number;
  /** The searched (KVR-S) partition. */
  partition: number[];
  ttft_s: number;
  ttft_kvr_e_s: number;
  simulations: number;
}

/**
 * Searched partitions over context lengths, GPU counts and link bandwidths, for one model, GPU
 * profile and topology kind. Tables depend on the hardware profile, so they record it and are
 * only used for scenarios that match.
 */
export interface PartitionTable {
  schema: typeof PARTITION_TABLE_SCHEMA;
  model: string;
  gpu: string;
  gpu_profile: string;
  topology: string;
  /** Largest hop latency of the chain the entries were searched on. */
  latency_s: number;
  granularity: number;
  search: SearchMethod;
  /** How the table was made, for provenance. */
  command: string;
  entries: PartitionTableEntry[];
}

const TABLE_KEYS = ['schema', 'model', 'gpu', 'gpu_profile', 'topology', 'latency_s', 'granularity', 'search', 'command', 'entries'] as const;
const ENTRY_KEYS = ['gpus', 'bandwidth', 'context', 'partition', 'ttft_s', 'ttft_kvr_e_s', 'simulations'] as const;

export function partitionTableFromJson(value: unknown, field = 'table'): PartitionTable {
  const object = expectObject(value, field);
  rejectUnknownKeys(object, TABLE_KEYS, field);
  if (object.schema !== PARTITION_TABLE_SCHEMA) {
    throw new KvrInputError(`${field}.schema`, `expected "${PARTITION_TABLE_SCHEMA}" (got ${describeValue(object.schema)})`);
  }
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
    return {
      gpus,
      bandwidth,
      context,
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
    gpu: checkString(requireKey(object, 'gpu', field), `${field}.gpu`),
    gpu_profile: checkString(requireKey(object, 'gpu_profile', field), `${field}.gpu_profile`),
    topology: checkString(requireKey(object, 'topology', field), `${field}.topology`),
    latency_s: number(object, 'latency_s', field),
    granularity: checkInteger(requireKey(object, 'granularity', field), `${field}.granularity`, { min: 1 }),
    search: checkEnum(requireKey(object, 'search', field), SEARCH_METHODS, `${field}.search`),
    command: checkString(requireKey(object, 'command', field), `${field}.command`),
    entries,
  };
}
