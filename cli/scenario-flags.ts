import { Command, Option } from 'commander';
import { KvrInputError, describeValue } from '../sim/errors.js';
import { GPU_PRESETS, GPU_PRESET_NAMES } from '../sim/hardware/gpu-presets.js';
import { gpuFromJson, type GpuSpec } from '../sim/hardware/gpu-spec.js';
import { parseIntegerText } from '../sim/input/fields.js';
import { modelFromJson, type ModelSpec } from '../sim/model/model-spec.js';
import { MODEL_PRESETS, MODEL_PRESET_NAMES } from '../sim/model/presets.js';
import { resolveHfModel } from './hf-model.js';
import { EXPERT_PARALLEL_STRATEGIES, MAX_CONTEXT, MAX_GPUS } from '../sim/plan/build-plan.js';
import { checkExpertImbalance } from '../sim/plan/expert-routing.js';
import { COLLECTIVE_CHOICES, COLLECTIVE_STRATEGIES, STRATEGY_NAMES, TP_STRATEGIES, type Plan, type StrategyName } from '../sim/plan/plan.js';
import { COLLECTIVE_PROTOCOLS } from '../sim/plan/collective-tuner.js';
import type { Scenario } from '../sim/simulate.js';
import { DEFAULT_SOCKET_BANDWIDTH, TOPOLOGY_PRESET_NAMES, presetTopology, type TopologyPresetName } from '../sim/topology/presets.js';
import { gpuNodes, topologyFromJson, type Topology } from '../sim/topology/topology.js';
import { parseQuantity } from '../sim/units/quantity.js';
import { parseTokens } from '../sim/units/tokens.js';
import { DEFAULT_GRANULARITY } from '../sim/partition/lattice.js';
import { partitionTableFromJson, type PartitionTable } from '../sim/partition/partition-table.js';
import { PREDICTORS } from '../sim/partition/predict-partition.js';
import { SEARCH_METHODS, type SearchOptions } from '../sim/partition/search-partition.js';
import { ATTENTION_IMPLEMENTATIONS } from '../sim/work/op-kernels.js';
import { DTYPES, checkPrecisionOnGpu, precisionOf, withPrecision } from '../sim/model/precision.js';
import type { CliIo } from './io.js';
import { findDefaultTable, profileCandidates, TINY_MODELS, tinyModelPath } from './project-root.js';
import { gpuProfileFromJson, isGpuProfile } from '../sim/hardware/gpu-profile.js';
import { loadJsonFile, looksLikePath } from './load-json.js';

/** Raw strings of the scenario flags shared by simulate, demo-like and later commands. */
export interface ScenarioFlags {
  model?: string;
  gpu?: string;
  gpus?: string;
  topology?: string;
  bandwidth?: string;
  latency?: string;
  context?: string;
  strategy?: string;
  partition?: string;
  gpusPerNode?: string;
  nicBandwidth?: string;
  nicLatency?: string;
  gpusPerSwitch?: string;
  search?: string;
  granularity?: string;
  table?: string;
  predictor?: string;
  attention?: string;
  tp?: string;
  ep?: string;
  expertImbalance?: string;
  pp?: string;
  chunk?: string;
  collective?: string;
  channels?: string;
  protocol?: string;
  oversubscription?: string;
  nicsPerNode?: string;
  leaf?: string;
  socketBandwidth?: string;
  dtype?: string;
  ffnDtype?: string;
  kvDtype?: string;
}

export const SCENARIO_DEFAULTS = {
  model: 'llama2-7b',
  gpu: 'a100-80g',
  gpus: '8',
  topology: 'switch',
  latency: '2 us',
  context: '16384',
  strategy: 'kvr-e',
  gpusPerNode: '8',
  nicBandwidth: '50 GB/s',
  nicLatency: '5 us',
  gpusPerSwitch: '2',
  search: 'fast',
  granularity: String(DEFAULT_GRANULARITY),
  predictor: 'model',
  collective: 'auto',
  oversubscription: '1',
  socketBandwidth: `${DEFAULT_SOCKET_BANDWIDTH / 1e9} GB/s`,
} as const;

/** Adds the scenario flags to a command. Defaults are applied later, so "given" stays knowable. */
export function addScenarioOptions(command: Command): Command {
  const d = SCENARIO_DEFAULTS;
  return command
    .addOption(new Option('--model <name|file>', `model preset (${MODEL_PRESET_NAMES.join(', ')}), a kvr model JSON file, a Hugging Face config.json or a folder holding one, or hf:<repo id> from the built-in catalogue (kvr models --hf) (default: ${d.model})`))
    .addOption(new Option('--gpu <name|file>', `GPU preset (${GPU_PRESET_NAMES.join(', ')}) or JSON file (default: ${d.gpu})`))
    .addOption(new Option('--gpus <n>', `number of GPUs (default: ${d.gpus}; 1 for single; a topology file's GPU count)`))
    .addOption(new Option('--topology <name|file>', `topology preset (${TOPOLOGY_PRESET_NAMES.join(', ')}) or JSON file (default: ${d.topology})`))
    .addOption(new Option('--bandwidth <rate>', "per-direction bandwidth of each GPU's link, e.g. \"300 GB/s\" (default: the GPU's NVLink; PCIe for pcie)"))
    .addOption(new Option('--latency <time>', `GPU-to-GPU transfer latency, e.g. "2 us" (default: ${d.latency})`))
    .addOption(new Option('--context <tokens>', `prompt tokens, e.g. 16384, 128k or 1M (k = 1024, M = 1048576) (default: ${d.context})`))
    .addOption(new Option('--strategy <name>', `${STRATEGY_NAMES.join('|')} (default: ${d.strategy})`))
    .addOption(new Option('--partition <a,b,...>', 'tokens of each rank, summing to the context (strategy kvr)'))
    .addOption(new Option('--gpus-per-node <n>', `multi-node: GPUs per node (default: ${d.gpusPerNode})`))
    .addOption(new Option('--nic-bandwidth <rate>', `multi-node: per-GPU NIC bandwidth (default: ${d.nicBandwidth})`))
    .addOption(new Option('--nic-latency <time>', `multi-node: inter-node latency (default: ${d.nicLatency})`))
    .addOption(new Option('--gpus-per-switch <n>', `pcie, pcie-2s: GPUs per PCIe switch (default: ${d.gpusPerSwitch})`))
    .addOption(new Option('--oversubscription <ratio>', `multi-node: leaf-to-spine oversubscription, e.g. 2 = a node's NICs share uplinks of half their bandwidth (default: ${d.oversubscription})`))
    .addOption(new Option('--nics-per-node <n>', 'multi-node: NICs per node, dividing --gpus-per-node; fewer than GPUs: GPUs share a NIC (default: one per GPU)'))
    .addOption(new Option('--leaf <kind>', 'multi-node: shared|rails: one leaf switch for every NIC (default), or rail-optimised: NIC j of every node on leaf j, the leaves joined by a spine'))
    .addOption(new Option('--socket-bandwidth <rate>', `pcie-2s: inter-socket link bandwidth (default: ${d.socketBandwidth})`))
    .addOption(new Option('--tp <n>', 'kvr-tp, ring-kv, ring-q, pp-chunked: GPUs per tensor-parallel group, dividing --gpus (kvr-tp default: --gpus-per-node on multi-node; the others: 1)'))
    .addOption(new Option('--pp <n>', 'pp-chunked: pipeline stages, at most the layers; stages x --tp = --gpus (default: --gpus / --tp)'))
    .addOption(new Option('--chunk <tokens>', 'pp-chunked: tokens per prompt chunk, or "search" for the one of least TTFT (default: 8192)'))
    .addOption(new Option('--ep <n>', `mixture-of-experts models under ${EXPERT_PARALLEL_STRATEGIES.join(', ')}: expert-parallel GPUs, 1 or --gpus (each holds E/n whole experts; all-to-all dispatch and combine) (default: 1, every expert split by columns)`))
    .addOption(new Option('--expert-imbalance <f>', 'with --ep: the busiest expert GPU\'s routed token-expert pairs over the mean, 1 (perfect balance, the default) to --ep'))
    .addOption(new Option('--collective <algo>', `${COLLECTIVE_CHOICES.join('|')}: how all-gathers, reduce-scatters and all-reduces run (${COLLECTIVE_STRATEGIES.join(', ')}; default: ${d.collective}, NCCL-style tuner per collective and size)`))
    .addOption(new Option('--channels <n>', 'ring channels per collective (default: one per NIC of a node across nodes, 1 inside a node)'))
    .addOption(new Option('--protocol <name>', `${COLLECTIVE_PROTOCOLS.join('|')}: NCCL protocol of every collective (default: the tuner's per size)`))
    .addOption(new Option('--search <method>', `kvr-s: ${SEARCH_METHODS.join('|')} (default: ${d.search})`))
    .addOption(new Option('--granularity <tokens>', `kvr-s: chunks are multiples of this many tokens (default: ${d.granularity})`))
    .addOption(new Option('--table <file>', 'kvr-p --predictor interpolate: partition table (default: kvr-out/partition-tables/<model>.<gpu>.<topology>.<attention>.json if built here, else the committed one in calibration/partition-tables/)'))
    .addOption(new Option('--predictor <name>', `kvr-p: ${PREDICTORS.join('|')} (default: ${d.predictor})`))
    .addOption(new Option('--dtype <dtype>', `${DTYPES.join('|')}: every GEMM's weights and inputs, activations and attention (default: fp16; fp8 needs a GPU with an fp8 peak)`))
    .addOption(new Option('--ffn-dtype <dtype>', `${DTYPES.join('|')}: the MLP GEMMs alone, weights stored and computed in it (default: --dtype)`))
    .addOption(new Option('--kv-dtype <dtype>', `${DTYPES.join('|')}: the KV cache, its sends and all-gathers (default: --dtype)`))
    .addOption(new Option('--attention <impl>', `${ATTENTION_IMPLEMENTATIONS.join('|')}: fused attention, or scores materialised as in PyTorch eager (default: flash)`));
}

/** Resolves the flags into a scenario, rejecting anything unknown, malformed or unused. */
export function resolveScenario(flags: ScenarioFlags, io: CliIo): Scenario {
  const gpu = resolveGpu(flags.gpu ?? SCENARIO_DEFAULTS.gpu, io);
  const model = resolvePrecision(resolveModel(flags.model ?? SCENARIO_DEFAULTS.model, io), gpu, flags);
  const strategy = resolveStrategy(flags.strategy ?? SCENARIO_DEFAULTS.strategy);
  const topologyName = flags.topology ?? SCENARIO_DEFAULTS.topology;
  const isPreset = (TOPOLOGY_PRESET_NAMES as readonly string[]).includes(topologyName);
  let topology: Topology;
  let gpus: number;
  if (isPreset) {
    gpus = parseIntegerText(flags.gpus ?? (strategy === 'single' ? '1' : SCENARIO_DEFAULTS.gpus), '--gpus', { min: 1, max: MAX_GPUS });
    topology = resolvePresetTopology(topologyName as TopologyPresetName, gpus, gpu, flags);
  } else {
    topology = resolveTopologyFile(topologyName, flags, io);
    const available = gpuNodes(topology).length;
    gpus =
      flags.gpus === undefined
        ? strategy === 'single'
          ? 1
          : available
        : parseIntegerText(flags.gpus, '--gpus', { min: 1, max: Math.min(MAX_GPUS, available) });
  }
  const context = parseTokens(flags.context ?? SCENARIO_DEFAULTS.context, '--context', { min: gpus, max: MAX_CONTEXT });
  const scenario: Scenario = { model, gpu, topology, gpus, context, strategy };
  if (flags.attention !== undefined) scenario.attention = checkChoice(flags.attention, ATTENTION_IMPLEMENTATIONS, '--attention');
  if (flags.partition !== undefined) scenario.partition = parsePartition(flags.partition);
  const onlyFor = (flag: string, given: string | undefined, wanted: StrategyName): void => {
    if (given !== undefined && strategy !== wanted) {
      throw new KvrInputError(flag, `only applies to --strategy ${wanted} (strategy is ${strategy})`);
    }
  };
  const onlyForSearch = (flag: string, given: string | undefined): void => {
    if (given !== undefined && strategy !== 'kvr-s' && strategy !== 'kvr-tp') {
      throw new KvrInputError(flag, `only applies to --strategy kvr-s or kvr-tp (strategy is ${strategy})`);
    }
  };
  onlyForSearch('--search', flags.search);
  onlyForSearch('--granularity', flags.granularity);
  if (flags.collective !== undefined) {
    if (!COLLECTIVE_STRATEGIES.includes(strategy)) {
      throw new KvrInputError('--collective', `only applies to strategies with collectives (${COLLECTIVE_STRATEGIES.join(', ')}); strategy is ${strategy}`);
    }
    scenario.collective = checkChoice(flags.collective, COLLECTIVE_CHOICES, '--collective');
  }
  for (const [flag, given] of [['--channels', flags.channels], ['--protocol', flags.protocol]] as const) {
    if (given !== undefined && !COLLECTIVE_STRATEGIES.includes(strategy)) {
      throw new KvrInputError(flag, `only applies to strategies with collectives (${COLLECTIVE_STRATEGIES.join(', ')}); strategy is ${strategy}`);
    }
  }
  if (flags.channels !== undefined) scenario.channels = parseIntegerText(flags.channels, '--channels', { min: 1, max: 64 });
  if (flags.protocol !== undefined) scenario.protocol = checkChoice(flags.protocol, COLLECTIVE_PROTOCOLS, '--protocol');
  if (flags.tp !== undefined && !TP_STRATEGIES.includes(strategy)) {
    throw new KvrInputError('--tp', `only applies to --strategy ${TP_STRATEGIES.join(', ')} (tp and tp-sp split every layer over all --gpus; strategy is ${strategy})`);
  }
  if (strategy === 'kvr-tp') scenario.tp = resolveTp(flags, gpus, isPreset && topologyName === 'multi-node');
  else if (flags.tp !== undefined) scenario.tp = resolveTp(flags, gpus, false);
  onlyFor('--pp', flags.pp, 'pp-chunked');
  onlyFor('--chunk', flags.chunk, 'pp-chunked');
  if (flags.pp !== undefined) scenario.pp = parseIntegerText(flags.pp, '--pp', { min: 1, max: model.layers });
  if (flags.chunk !== undefined) scenario.chunk = flags.chunk === 'search' ? 'search' : parseTokens(flags.chunk, '--chunk', { min: 1, max: context });
  if (flags.ep !== undefined) {
    if (!EXPERT_PARALLEL_STRATEGIES.includes(strategy)) throw new KvrInputError('--ep', `only applies to --strategy ${EXPERT_PARALLEL_STRATEGIES.join(' or ')} (strategy is ${strategy})`);
    scenario.ep = parseIntegerText(flags.ep, '--ep', { min: 1, max: MAX_GPUS });
    if (scenario.ep !== 1 && scenario.ep !== gpus) throw new KvrInputError('--ep', `expert parallelism spans the tensor-parallel group: allowed 1 or --gpus ${gpus} (got ${scenario.ep})`);
    if (scenario.ep !== 1 && model.moe === undefined) throw new KvrInputError('--ep', `${model.name} has no experts (allowed: 1; mixture-of-experts presets: mixtral-8x7b, qwen3-30b-a3b, deepseek-v3)`);
  }
  if (flags.expertImbalance !== undefined) {
    const ep = scenario.ep ?? 1;
    if (ep === 1) throw new KvrInputError('--expert-imbalance', 'only applies with --ep > 1 (without expert parallelism every GPU computes a slice of every expert)');
    const value = Number(flags.expertImbalance.trim());
    if (flags.expertImbalance.trim() === '' || !Number.isFinite(value)) throw new KvrInputError('--expert-imbalance', `expected a number in 1..${ep} (got "${flags.expertImbalance}")`);
    checkExpertImbalance(value, ep, '--expert-imbalance');
    scenario.expertImbalance = value;
  }
  onlyFor('--table', flags.table, 'kvr-p');
  onlyFor('--predictor', flags.predictor, 'kvr-p');
  if (strategy === 'kvr-s' || strategy === 'kvr-tp') scenario.search = resolveSearch(flags);
  if (strategy === 'kvr-p') {
    scenario.predictor = checkChoice(flags.predictor ?? SCENARIO_DEFAULTS.predictor, PREDICTORS, '--predictor');
    if (scenario.predictor === 'interpolate') {
      const readable = (path: string): boolean => {
        try {
          io.readFile(path);
          return true;
        } catch {
          return false;
        }
      };
      scenario.partitionTable = loadPartitionTable(flags.table ?? findDefaultTable(model.name, gpu.name, topology.name, scenario.attention ?? 'flash', readable), io, flags.table === undefined);
    } else if (flags.table !== undefined) {
      throw new KvrInputError('--table', 'only applies to --predictor interpolate (the model predictor needs no table)');
    }
  }
  return scenario;
}

/**
 * --dtype, --ffn-dtype, --kv-dtype (sim/model/precision.ts): the model served in those formats.
 * Given no flag, a model of 2-byte elements is recorded as fp16 throughout (the paper's setting)
 * and any other model keeps its dtype_bytes. fp8 compute on a GPU without an fp8 peak is refused.
 */
export function resolvePrecision(model: ModelSpec, gpu: GpuSpec, flags: Pick<ScenarioFlags, 'dtype' | 'ffnDtype' | 'kvDtype'>): ModelSpec {
  const given = {
    ...(flags.dtype === undefined ? {} : { dtype: checkChoice(flags.dtype, DTYPES, '--dtype') }),
    ...(flags.ffnDtype === undefined ? {} : { ffn_dtype: checkChoice(flags.ffnDtype, DTYPES, '--ffn-dtype') }),
    ...(flags.kvDtype === undefined ? {} : { kv_dtype: checkChoice(flags.kvDtype, DTYPES, '--kv-dtype') }),
  };
  if (Object.keys(given).length === 0 && model.dtype_bytes !== 2) return model;
  const served = withPrecision(model, precisionOf(given));
  checkPrecisionOnGpu(served, gpu, { dtype: '--dtype', ffn_dtype: '--ffn-dtype' });
  return served;
}

/**
 * The plan as the native executor takes it: the executor computes in fp16 only, so an fp8
 * precision is refused naming its flag, and an fp16/bf16 one (same bytes, same kernels) is
 * dropped from the plan's model, which stays a plain kvr-plan@1 model.
 */
export function executorPlan(plan: Plan): Plan {
  checkExecutorPrecision(plan.model);
  if (plan.model.precision === undefined) return plan;
  const { precision: _precision, ...model } = plan.model;
  return { ...plan, model };
}

/** Refuses an fp8 precision for the native executor, naming its flag. */
export function checkExecutorPrecision(model: ModelSpec): void {
  // The executor's layer is dense attention + one FFN (native/MODEL.md): no experts, no latent KV.
  if (model.moe !== undefined) throw new KvrInputError('--model', `${model.name} is a mixture-of-experts model, which the native executor does not run (allowed: dense models); simulate it with kvr simulate`);
  if (model.mla !== undefined) throw new KvrInputError('--model', `${model.name} uses multi-head latent attention, which the native executor does not run (allowed: MHA, GQA, MQA models); simulate it with kvr simulate`);
  const precision = model.precision;
  if (precision === undefined) return;
  for (const [flag, dtype] of [['--dtype', precision.dtype], ['--ffn-dtype', precision.ffn_dtype], ['--kv-dtype', precision.kv_dtype]] as const) {
    if (dtype === 'fp8') throw new KvrInputError(flag, 'the native executor runs fp16 and bf16 only (allowed: fp16, bf16); simulate fp8 with kvr simulate');
  }
}

/**
 * --tp of kvr-tp: GPUs per tensor-parallel group. Defaults to --gpus-per-node on the multi-node
 * preset (a group is a node); must divide --gpus.
 */
export function resolveTp(flags: ScenarioFlags, gpus: number, multiNode: boolean): number {
  const text = flags.tp ?? (multiNode ? flags.gpusPerNode ?? SCENARIO_DEFAULTS.gpusPerNode : undefined);
  if (text === undefined) {
    throw new KvrInputError('--tp', 'is required by strategy kvr-tp: GPUs per tensor-parallel group, dividing --gpus (e.g. --tp 4)');
  }
  const tp = parseIntegerText(text, '--tp', { min: 1, max: MAX_GPUS });
  if (gpus % tp !== 0) throw new KvrInputError('--tp', `must divide --gpus ${gpus} into whole groups (got ${tp})`);
  return tp;
}

/** --search and --granularity, for kvr-s and `kvr partition`. */
export function resolveSearch(flags: ScenarioFlags): SearchOptions {
  return {
    method: checkChoice(flags.search ?? SCENARIO_DEFAULTS.search, SEARCH_METHODS, '--search'),
    granularity: parseIntegerText(flags.granularity ?? SCENARIO_DEFAULTS.granularity, '--granularity', { min: 1, max: MAX_CONTEXT }),
  };
}

/** Reads a partition table; a missing default table gets a message saying how to make one. */
export function loadPartitionTable(path: string, io: CliIo, isDefault: boolean): PartitionTable {
  if (isDefault) {
    try {
      io.readFile(path);
    } catch {
      throw new KvrInputError('--table', `--predictor interpolate needs a partition table and there is none at ${path} (write one with kvr partition build-table, or pass --table FILE)`);
    }
  }
  return partitionTableFromJson(loadJsonFile(io, path, '--table'), path);
}

export function checkChoice<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new KvrInputError(flag, `unknown value ${describeValue(value)} (allowed: ${allowed.join(', ')})`);
  }
  return value as T;
}

/**
 * A model preset, one of the tiny test models of native/scripts/models, a kvr model file, a
 * Hugging Face config (file, folder holding config.json, or hf:<repo id> from the catalogue).
 */
export function resolveModel(value: string, io: CliIo): ModelSpec {
  const preset = MODEL_PRESETS[value];
  if (preset !== undefined) return preset;
  if (TINY_MODELS.includes(value)) return modelFromJson(loadJsonFile(io, tinyModelPath(value), '--model'), value);
  const hf = resolveHfModel(value, io);
  if (hf !== undefined) return hf;
  if (!looksLikePath(value)) {
    throw new KvrInputError('--model', `unknown model ${describeValue(value)} (presets: ${MODEL_PRESET_NAMES.join(', ')}; test models: ${TINY_MODELS.join(', ')}; hf:<repo id>; or a JSON file or folder with config.json)`);
  }
  return modelFromJson(loadJsonFile(io, value, '--model'), value);
}

/**
 * A GPU by name or file. A calibrated profile (kvr-out/profiles/<name>.json in the working
 * directory, where `kvr calibrate` writes, then the shipped calibration/profiles/<name>.json) wins
 * over the datasheet preset of the same name; a file may be a GPU description or a profile.
 */
export function resolveGpu(value: string, io: CliIo): GpuSpec {
  // A calibrated profile wins, also under a name with a "/" (slice profiles: h200/16sm is
  // kvr-out/profiles/h200/16sm.json); only then is such a name a file path.
  if (!value.toLowerCase().endsWith('.json') && !value.includes('\\')) {
    for (const profilePath of profileCandidates(value)) {
      let profileText: string | undefined;
      try {
        profileText = io.readFile(profilePath);
      } catch {
        profileText = undefined;
      }
      if (profileText !== undefined) return gpuProfileFromJson(loadJsonFile(io, profilePath, '--gpu'), profilePath);
    }
  }
  if (!looksLikePath(value)) {
    const preset = GPU_PRESETS[value];
    if (preset !== undefined) return preset;
    throw new KvrInputError('--gpu', `unknown GPU ${describeValue(value)} (presets: ${GPU_PRESET_NAMES.join(', ')}; a calibrated profile in kvr-out/profiles/ or calibration/profiles/; or a JSON file)`);
  }
  const document = loadJsonFile(io, value, '--gpu');
  return isGpuProfile(document) ? gpuProfileFromJson(document, value) : gpuFromJson(document, value);
}

function resolveStrategy(value: string): StrategyName {
  if (!(STRATEGY_NAMES as readonly string[]).includes(value)) {
    throw new KvrInputError('--strategy', `unknown strategy ${describeValue(value)} (allowed: ${STRATEGY_NAMES.join(', ')})`);
  }
  return value as StrategyName;
}

export function resolvePresetTopology(name: TopologyPresetName, gpus: number, gpu: GpuSpec, flags: ScenarioFlags): Topology {
  const d = SCENARIO_DEFAULTS;
  const onlyFor = (flag: string, given: string | undefined, preset: TopologyPresetName): void => {
    if (given !== undefined && name !== preset) {
      throw new KvrInputError(flag, `only applies to --topology ${preset} (topology is ${name})`);
    }
  };
  onlyFor('--gpus-per-node', flags.gpusPerNode, 'multi-node');
  onlyFor('--nic-bandwidth', flags.nicBandwidth, 'multi-node');
  onlyFor('--nic-latency', flags.nicLatency, 'multi-node');
  onlyFor('--oversubscription', flags.oversubscription, 'multi-node');
  onlyFor('--nics-per-node', flags.nicsPerNode, 'multi-node');
  onlyFor('--leaf', flags.leaf, 'multi-node');
  const rails = flags.leaf === undefined ? false : checkChoice(flags.leaf, ['shared', 'rails'] as const, '--leaf') === 'rails';
  onlyFor('--socket-bandwidth', flags.socketBandwidth, 'pcie-2s');
  if (flags.gpusPerSwitch !== undefined && name !== 'pcie' && name !== 'pcie-2s') {
    throw new KvrInputError('--gpus-per-switch', `only applies to --topology pcie or pcie-2s (topology is ${name})`);
  }
  const pcie = name === 'pcie' || name === 'pcie-2s';
  const defaultBandwidth = pcie ? gpu.pcie_bandwidth : gpu.link_bandwidth;
  const bandwidth = flags.bandwidth === undefined ? defaultBandwidth : positiveRate(flags.bandwidth, '--bandwidth');
  const latency_s = parseQuantity(flags.latency ?? d.latency, 'time', '--latency');
  if (bandwidth === null) {
    if (gpus > 1) {
      throw new KvrInputError('--bandwidth', `is required: GPU ${gpu.name} has no default ${pcie ? 'PCIe' : 'NVLink'} bandwidth (e.g. "300 GB/s")`);
    }
    // One GPU sends nothing, so no link needs a bandwidth: the GPU alone, with no links.
    return { name, nodes: [{ id: 'gpu0', kind: 'gpu' }], links: [], routes: [] };
  }
  const gpusPerNode = parseIntegerText(flags.gpusPerNode ?? d.gpusPerNode, '--gpus-per-node', { min: 1, max: MAX_GPUS });
  const nics = flags.nicsPerNode === undefined ? undefined : parseIntegerText(flags.nicsPerNode, '--nics-per-node', { min: 1, max: gpusPerNode });
  if (nics !== undefined && gpusPerNode % nics !== 0) {
    throw new KvrInputError('--nics-per-node', `must divide --gpus-per-node ${gpusPerNode} (got ${nics})`);
  }
  return presetTopology(name, {
    gpus,
    bandwidth,
    latency_s,
    ...(nics === undefined ? {} : { nics_per_node: nics }),
    ...(rails ? { rails: true } : {}),
    gpus_per_node: gpusPerNode,
    nic_bandwidth: positiveRate(flags.nicBandwidth ?? d.nicBandwidth, '--nic-bandwidth'),
    nic_latency_s: parseQuantity(flags.nicLatency ?? d.nicLatency, 'time', '--nic-latency'),
    gpus_per_switch: parseIntegerText(flags.gpusPerSwitch ?? d.gpusPerSwitch, '--gpus-per-switch', { min: 1, max: MAX_GPUS }),
    oversubscription: parseRatio(flags.oversubscription ?? d.oversubscription, '--oversubscription'),
    socket_bandwidth: positiveRate(flags.socketBandwidth ?? d.socketBandwidth, '--socket-bandwidth'),
  });
}

function resolveTopologyFile(value: string, flags: ScenarioFlags, io: CliIo): Topology {
  if (!looksLikePath(value)) {
    throw new KvrInputError('--topology', `unknown topology ${describeValue(value)} (presets: ${TOPOLOGY_PRESET_NAMES.join(', ')}; or a JSON file)`);
  }
  const presetOnly: [string, string | undefined][] = [
    ['--bandwidth', flags.bandwidth],
    ['--latency', flags.latency],
    ['--gpus-per-node', flags.gpusPerNode],
    ['--nic-bandwidth', flags.nicBandwidth],
    ['--nic-latency', flags.nicLatency],
    ['--gpus-per-switch', flags.gpusPerSwitch],
    ['--oversubscription', flags.oversubscription],
    ['--socket-bandwidth', flags.socketBandwidth],
  ];
  for (const [flag, given] of presetOnly) {
    if (given !== undefined) throw new KvrInputError(flag, 'only applies to topology presets (a topology file gives each link its own)');
  }
  return topologyFromJson(loadJsonFile(io, value, '--topology'), value);
}

/** A ratio >= 1 such as 2 or 1.5. */
function parseRatio(text: string, field: string): number {
  const value = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
  if (!(value >= 1 && value <= 1e6)) throw new KvrInputError(field, `expected a ratio >= 1, e.g. 2 (got ${describeValue(text)})`);
  return value;
}

function positiveRate(text: string, field: string): number {
  const rate = parseQuantity(text, 'bandwidth', field);
  if (rate <= 0) throw new KvrInputError(field, `must be > 0, e.g. "300 GB/s" (got ${describeValue(text)})`);
  return rate;
}

function parsePartition(text: string): number[] {
  const parts = text.split(',');
  return parts.map((part, i) => {
    if (!/^\s*\d+\s*$/.test(part)) {
      throw new KvrInputError('--partition', `chunk ${i} must be a positive integer (got ${describeValue(part)}); expected e.g. 6000,5000,5384`);
    }
    return Number(part);
  });
}
