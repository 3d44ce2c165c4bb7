import type { PlanRequest } from '../../sim/plan/build-plan.js';
import { topologyFabric } from '../../sim/plan/collective-tuner.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';
import { falcon7b, llama7b, topology } from './scenarios.js';

/** 16 GPUs in two nodes of 8, with latencies (protocols and multi-node collectives show up). */
export const multiNode = topology('multi-node', 16, 300e9, 2e-6, { nic_latency_s: 5e-6 });

/** Plan requests of every strategy and of the fields that only some ops have (shards, merges, MoE work, ranges, protocols). */
export const PLAN_REQUESTS: [string, PlanRequest][] = [
  ['single', { strategy: 'single', model: llama7b, context: 2048, gpus: 1 }],
  ['tsp, 2 channels across nodes, LL128', { strategy: 'tsp', model: llama7b, context: 4096, gpus: 16, channels: 2, protocol: 'll128', fabric: topologyFabric(multiNode, 16) }],
  ['tsp-causal', { strategy: 'tsp-causal', model: llama7b, context: 4096, gpus: 4 }],
  ['kvr-e', { strategy: 'kvr-e', model: llama7b, context: 4096, gpus: 4 }],
  ['ring-kv (zig-zag ranges, merges)', { strategy: 'ring-kv', model: falcon7b, context: 4096, gpus: 4 }],
  ['ring-kv --tp 2 (protocols)', { strategy: 'ring-kv', model: llama7b, context: 4096, gpus: 16, tp: 2, fabric: topologyFabric(multiNode, 16) }],
  ['ring-q --tp 2', { strategy: 'ring-q', model: llama7b, context: 4096, gpus: 8, tp: 2 }],
  ['tp, tree with LL', { strategy: 'tp', model: llama7b, context: 4096, gpus: 16, collective: 'tree', protocol: 'll', fabric: topologyFabric(multiNode, 16) }],
  ['tp-sp (sequence shards)', { strategy: 'tp-sp', model: falcon7b, context: 4096, gpus: 4 }],
  ['tp, MoE with --ep', { strategy: 'tp', model: MODEL_PRESETS['mixtral-8x7b']!, context: 2048, gpus: 8, ep: 8, expertImbalance: 2 }],
  ['kvr-tp', { strategy: 'kvr-tp', model: llama7b, context: 4096, gpus: 8, tp: 2, partition: [1000, 1000, 1000, 1096] }],
  ['pp-chunked --tp 2', { strategy: 'pp-chunked', model: llama7b, context: 8192, gpus: 8, tp: 2, chunk: 3000 }],
];
