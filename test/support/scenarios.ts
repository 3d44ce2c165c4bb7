import { GPU_PRESETS } from '../../sim/hardware/gpu-presets.js';
import type { ModelSpec } from '../../sim/model/model-spec.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';
import { presetTopology, type PresetOptions, type TopologyPresetName } from '../../sim/topology/presets.js';
import type { Topology } from '../../sim/topology/topology.js';

export const llama7b = MODEL_PRESETS['llama2-7b']!;
export const falcon7b = MODEL_PRESETS['falcon-7b']!;
export const ideal = GPU_PRESETS.ideal!;
export const a100 = GPU_PRESETS['a100-80g']!;

/** A small model for fast property runs (shapes like a scaled-down Llama). */
export const tinyModel: ModelSpec = {
  name: 'tiny',
  layers: 3,
  hidden: 64,
  heads: 4,
  kv_heads: 2,
  head_dim: 16,
  ffn: 160,
  vocab: 500,
  dtype_bytes: 2,
  mlp: 'swiglu',
  block: 'sequential',
  norm: 'rmsnorm',
  tied_embeddings: false,
};

export function topology(
  name: TopologyPresetName,
  gpus: number,
  bandwidth: number,
  latency = 0,
  extra: Partial<PresetOptions> = {},
): Topology {
  return presetTopology(name, {
    gpus,
    bandwidth,
    latency_s: latency,
    gpus_per_node: 8,
    nic_bandwidth: 50e9,
    nic_latency_s: 0,
    gpus_per_switch: 2,
    ...extra,
  });
}
