/**
 * The config files of `kvr sweep` (a sweep spec) and `kvr plan` (a hardware catalogue). These
 * types are the source of the JSON Schemas in schemas/ (written by `npm run schemas`, checked by a
 * test): the loader validates every file against the generated schema, so the files, the schema an
 * editor sees and the code cannot drift apart. JSDoc tags (@integer, @minimum, @minItems, ...) go
 * into the schema.
 */
import type { CollectiveProtocol } from '../../sim/plan/collective-tuner.js';
import type { CollectiveChoice, StrategyName } from '../../sim/plan/plan.js';
import type { Predictor } from '../../sim/partition/predict-partition.js';
import type { SearchMethod } from '../../sim/partition/search-partition.js';
import type { AttentionImplementation } from '../../sim/work/op-kernels.js';
import type { Dtype } from '../../sim/model/precision.js';

/**
 * A number of GPUs.
 * @integer
 * @minimum 1
 * @maximum 1024
 */
export type GpuCount = number;

/**
 * Prompt tokens.
 * @integer
 * @minimum 1
 * @maximum 16777216
 */
export type ContextCount = number;

/**
 * k = 1024: "128k" = 131072, "1M" = 1048576.
 * @pattern ^\d+(\.\d+)?[kKmM]$
 */
export type ContextText = string;

/** Prompt tokens: 16384, or "16k", "128k", "1M" (k = 1024). */
export type ContextTokens = ContextCount | ContextText;

/**
 * Tokens of the partition lattice.
 * @integer
 * @minimum 1
 */
export type Granularity = number;

/**
 * A ratio of at least 1 (multi-node leaf-to-spine oversubscription).
 * @minimum 1
 * @maximum 1000000
 */
export type Ratio = number;

/**
 * Ring channels of a collective (as `--channels`).
 * @integer
 * @minimum 1
 * @maximum 64
 */
export type ChannelCount = number;

/** multi-node: one leaf switch for every NIC (shared), or rail-optimised leaves joined by a spine (rails). */
export type LeafKind = 'shared' | 'rails';

/**
 * A quantity with its unit: "300 GB/s", "2 us" (GB = 1e9 bytes).
 * @minLength 1
 */
export type Quantity = string;

/**
 * A preset name or a file path (relative to the config file).
 * @minLength 1
 */
export type NameOrFile = string;

/**
 * Tokens of each rank, e.g. "6000,5000,5384".
 * @pattern ^\s*\d+\s*(,\s*\d+\s*)*$
 */
export type PartitionText = string;

/**
 * One scenario of a sweep: the flags of `kvr simulate`, in snake_case. A key left out takes the
 * default of `kvr simulate`. Keys that do not apply to a row's strategy or topology are ignored
 * for that row (search, granularity: kvr-s, kvr-tp; predictor, table: kvr-p; partition: kvr;
 * collective, channels, protocol: strategies with collectives; tp: kvr-tp, ring-kv, ring-q, pp-chunked; gpus_per_node, nic_*,
 * nics_per_node, oversubscription, leaf: multi-node; gpus_per_switch: pcie, pcie-2s; socket_bandwidth: pcie-2s; bandwidth, latency:
 * topology presets).
 */
export interface SweepScenario {
  /** Model preset (llama2-7b, ...) or JSON file. */
  model?: NameOrFile;
  /** GPU preset, calibrated profile name or JSON file. */
  gpu?: NameOrFile;
  gpus?: GpuCount;
  /** Topology preset (switch, ring, pcie, multi-node) or JSON file. */
  topology?: NameOrFile;
  /** Per-direction bandwidth of each GPU's link, e.g. "300 GB/s". */
  bandwidth?: Quantity;
  /** GPU-to-GPU transfer latency, e.g. "2 us". */
  latency?: Quantity;
  context?: ContextTokens;
  strategy?: StrategyName;
  /** flash (fused) or eager (scores materialised). */
  attention?: AttentionImplementation;
  /** kvr-s, kvr-tp: search method. */
  search?: SearchMethod;
  /** kvr-s, kvr-tp: chunks are multiples of this many tokens. */
  granularity?: Granularity;
  /** kvr-p: predictor. */
  predictor?: Predictor;
  /** kvr-p with predictor interpolate: partition table file. */
  table?: NameOrFile;
  /** kvr: tokens of each rank. */
  partition?: PartitionText;
  /** multi-node: GPUs per node. */
  gpus_per_node?: GpuCount;
  /** multi-node: per-GPU NIC bandwidth, e.g. "50 GB/s". */
  nic_bandwidth?: Quantity;
  /** multi-node: inter-node latency, e.g. "5 us". */
  nic_latency?: Quantity;
  /** multi-node: leaf-to-spine oversubscription (2: a node's NICs share uplinks of half their bandwidth). */
  oversubscription?: Ratio;
  /** multi-node: NICs per node (divides gpus_per_node; default one per GPU). */
  nics_per_node?: GpuCount;
  /** multi-node: shared (one leaf, the default) or rails (rail-optimised leaves). */
  leaf?: LeafKind;
  /** pcie, pcie-2s: GPUs per PCIe switch. */
  gpus_per_switch?: GpuCount;
  /** pcie-2s: inter-socket link bandwidth, e.g. "64 GB/s". */
  socket_bandwidth?: Quantity;
  /** tsp, tsp-causal, tp, tp-sp, kvr-tp: collective algorithm (auto, the default: the tuner's pick per collective; or ring, hierarchical, direct). */
  collective?: CollectiveChoice;
  /** Strategies with collectives: ring channels per collective (default: one per NIC of a node across nodes, 1 inside a node). */
  channels?: ChannelCount;
  /** Strategies with collectives: NCCL protocol of every collective (default: the tuner's per size). */
  protocol?: CollectiveProtocol;
  /** kvr-tp, ring-kv, ring-q, pp-chunked: GPUs per tensor-parallel group (divides gpus; kvr-tp's default: a node on multi-node; the others: 1). */
  tp?: GpuCount;
  /** Every GEMM, activations and attention: fp16, bf16 or fp8 (default fp16). */
  dtype?: Dtype;
  /** The MLP GEMMs alone (default: dtype). */
  ffn_dtype?: Dtype;
  /** The KV cache (default: dtype). */
  kv_dtype?: Dtype;
}

/**
 * Lists of values; the sweep runs their cartesian product (the later keys vary fastest, in the
 * order of kvr-sweep rows). An axis left out takes the default of `kvr simulate`.
 */
export interface SweepAxes {
  /** @minItems 1 */
  model?: NameOrFile[];
  /** @minItems 1 */
  gpu?: NameOrFile[];
  /** @minItems 1 */
  topology?: NameOrFile[];
  /** @minItems 1 */
  gpus_per_node?: GpuCount[];
  /** @minItems 1 */
  nic_bandwidth?: Quantity[];
  /** @minItems 1 */
  nic_latency?: Quantity[];
  /** @minItems 1 */
  oversubscription?: Ratio[];
  /** @minItems 1 */
  nics_per_node?: GpuCount[];
  /** @minItems 1 */
  leaf?: LeafKind[];
  /** @minItems 1 */
  gpus_per_switch?: GpuCount[];
  /** @minItems 1 */
  socket_bandwidth?: Quantity[];
  /** @minItems 1 */
  gpus?: GpuCount[];
  /** @minItems 1 */
  bandwidth?: Quantity[];
  /** @minItems 1 */
  latency?: Quantity[];
  /** @minItems 1 */
  attention?: AttentionImplementation[];
  /** @minItems 1 */
  context?: ContextTokens[];
  /** @minItems 1 */
  strategy?: StrategyName[];
  /** @minItems 1 */
  search?: SearchMethod[];
  /** @minItems 1 */
  granularity?: Granularity[];
  /** @minItems 1 */
  predictor?: Predictor[];
  /** @minItems 1 */
  table?: NameOrFile[];
  /** @minItems 1 */
  partition?: PartitionText[];
  /** @minItems 1 */
  collective?: CollectiveChoice[];
  /** @minItems 1 */
  channels?: ChannelCount[];
  /** @minItems 1 */
  protocol?: CollectiveProtocol[];
  /** @minItems 1 */
  tp?: GpuCount[];
  /** @minItems 1 */
  dtype?: Dtype[];
  /** @minItems 1 */
  ffn_dtype?: Dtype[];
  /** @minItems 1 */
  kv_dtype?: Dtype[];
}

/**
 * A sweep spec (`kvr sweep SPEC.yaml|json`): the cartesian product of `axes`, then the listed
 * `rows`. A CSV spec is a header of SweepScenario keys and one listed row per line.
 */
export interface SweepSpec {
  /** The schema, for editors. */
  $schema?: string;
  axes?: SweepAxes;
  /**
   * Listed scenarios, run after the product's.
   * @minItems 1
   */
  rows?: SweepScenario[];
}

/** How the GPUs of one node talk to each other. */
export type Interconnect = 'nvswitch' | 'pcie' | 'ring';

/** One kind of machine on offer: a GPU type in nodes of a given size and fabric, and its price. */
export interface CatalogueOffer {
  /**
   * Label in the tables (default: "<gpu> <interconnect>").
   * @minLength 1
   */
  name?: string;
  /** GPU preset, calibrated profile name or JSON file. */
  gpu: NameOrFile;
  /**
   * Price of one GPU for one hour, in the catalogue's currency.
   * @exclusiveMinimum 0
   */
  price_per_gpu_hour: number;
  /** nvswitch (the switch preset), pcie or ring, inside a node. */
  interconnect: Interconnect;
  /** GPUs in one node. */
  gpus_per_node: GpuCount;
  /** Per-direction bandwidth of each GPU's link in a node (default: the GPU's NVLink, or PCIe for pcie). */
  bandwidth?: Quantity;
  /** GPU-to-GPU latency in a node (default: "2 us"). */
  latency?: Quantity;
  /** pcie: GPUs under one PCIe switch (default: 2). */
  gpus_per_switch?: GpuCount;
  /**
   * Per-GPU NIC bandwidth between nodes. Without it an offer is one node; with it, nvswitch nodes
   * are joined as in the multi-node preset.
   */
  nic_bandwidth?: Quantity;
  /** Inter-node latency (default: "5 us"). */
  nic_latency?: Quantity;
  /** At most this many nodes (default: 1, or 8 with nic_bandwidth). */
  max_nodes?: GpuCount;
  /**
   * GPU counts to consider (default: 1, 2, 4, ... up to gpus_per_node x max_nodes).
   * @minItems 1
   */
  gpu_counts?: GpuCount[];
}

/** A hardware catalogue for `kvr plan --catalogue FILE.yaml|json`. */
export interface PlanCatalogue {
  /** The schema, for editors. */
  $schema?: string;
  /**
   * Currency of the prices (default: USD).
   * @minLength 1
   */
  currency?: string;
  /** @minItems 1 */
  offers: CatalogueOffer[];
}
