/**
 * Hardware on offer for `kvr plan`: a built-in catalogue of the GPU presets in NVSwitch and PCIe
 * nodes, or a catalogue file. Each offer expands into machine configurations (a GPU count and
 * the `kvr simulate` topology flags that build it).
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { KvrInputError, describeValue } from '../../sim/errors.js';
import { MAX_GPUS } from '../../sim/plan/build-plan.js';
import { parseQuantity } from '../../sim/units/quantity.js';
import { loadCatalogue } from '../config/load-config.js';
import type { CatalogueOffer, PlanCatalogue } from '../config/types.js';
import type { CliIo } from '../io.js';
import type { ScenarioFlags } from '../scenario-flags.js';
import { resolveScenario } from '../scenario-flags.js';

/**
 * Illustrative on-demand prices in USD per GPU-hour (list prices of large clouds vary 2x and
 * change often): planning with real money needs a catalogue file with your own prices.
 */
export const DEFAULT_CATALOGUE: PlanCatalogue = {
  currency: 'USD',
  offers: [
    { name: 'a100-80g nvswitch', gpu: 'a100-80g', price_per_gpu_hour: 2.0, interconnect: 'nvswitch', gpus_per_node: 8, nic_bandwidth: '25 GB/s', max_nodes: 8 },
    { name: 'a100-80g pcie', gpu: 'a100-80g', price_per_gpu_hour: 1.6, interconnect: 'pcie', gpus_per_node: 8 },
    { name: 'h100-sxm nvswitch', gpu: 'h100-sxm', price_per_gpu_hour: 3.5, interconnect: 'nvswitch', gpus_per_node: 8, nic_bandwidth: '50 GB/s', max_nodes: 8 },
    { name: 'h100 pcie', gpu: 'h100-sxm', price_per_gpu_hour: 2.8, interconnect: 'pcie', gpus_per_node: 8 },
    { name: 'h200 nvswitch', gpu: 'h200', price_per_gpu_hour: 4.5, interconnect: 'nvswitch', gpus_per_node: 8, nic_bandwidth: '50 GB/s', max_nodes: 8 },
  ],
};

/** One machine configuration: an offer at a GPU count, as `kvr simulate` flags. */
export interface MachineConfig {
  offer: string;
  offerIndex: number;
  gpu: string;
  gpus: number;
  price_per_gpu_hour: number;
  /** Topology flags: topology and its options. */
  flags: ScenarioFlags;
  nodes: number;
}

export interface LoadedCatalogue {
  catalogue: PlanCatalogue;
  /** Where the catalogue came from ("built-in" or its path). */
  source: string;
  configs: MachineConfig[];
}

export function loadPlanCatalogue(io: CliIo, path: string | undefined): LoadedCatalogue {
  const catalogue = path === undefined ? DEFAULT_CATALOGUE : loadCatalogue(io, path);
  const baseDir = path === undefined ? '.' : dirname(path);
  const configs: MachineConfig[] = [];
  catalogue.offers.forEach((offer, k) => configs.push(...expandOffer(offer, k, baseDir, io)));
  return { catalogue, source: path ?? 'built-in (illustrative prices)', configs };
}

function expandOffer(offer: CatalogueOffer, k: number, baseDir: string, io: CliIo): MachineConfig[] {
  const field = `catalogue.offers[${k}]`;
  const gpu = offer.gpu.toLowerCase().endsWith('.json') && !isAbsolute(offer.gpu) ? resolve(baseDir, offer.gpu) : offer.gpu;
  const multiNode = offer.nic_bandwidth !== undefined;
  if (multiNode && offer.interconnect !== 'nvswitch') {
    throw new KvrInputError(`${field}.nic_bandwidth`, `only nvswitch offers span nodes (the multi-node preset joins NVSwitch nodes); interconnect is ${offer.interconnect}`);
  }
  if (offer.gpus_per_switch !== undefined && offer.interconnect !== 'pcie') {
    throw new KvrInputError(`${field}.gpus_per_switch`, `only applies to interconnect pcie (interconnect is ${offer.interconnect})`);
  }
  for (const key of ['nic_latency', 'max_nodes'] as const) {
    if (offer[key] !== undefined && !multiNode) throw new KvrInputError(`${field}.${key}`, 'only applies with nic_bandwidth (an offer of several nodes)');
  }
  for (const key of ['bandwidth', 'nic_bandwidth'] as const) {
    const value = offer[key];
    if (value !== undefined) wrap(`${field}.${key}`, () => positive(parseQuantity(value, 'bandwidth', `${field}.${key}`), `${field}.${key}`, value));
  }
  for (const key of ['latency', 'nic_latency'] as const) {
    const value = offer[key];
    if (value !== undefined) wrap(`${field}.${key}`, () => parseQuantity(value, 'time', `${field}.${key}`));
  }
  // The GPU must resolve (preset, calibrated profile or file) and have a default link if none is given.
  const topologyName = offer.interconnect === 'nvswitch' ? 'switch' : offer.interconnect;
  wrap(`${field}.gpu`, () => {
    resolveScenario({ gpu, gpus: '1', strategy: 'single', context: '1', topology: topologyName, ...(offer.bandwidth === undefined ? {} : { bandwidth: offer.bandwidth }) }, io);
  });
  const maxNodes = offer.max_nodes ?? (multiNode ? 8 : 1);
  const largest = Math.min(MAX_GPUS, offer.gpus_per_node * maxNodes);
  const counts = offer.gpu_counts ?? powersOfTwo(largest);
  const name = offer.name ?? `${offer.gpu} ${offer.interconnect}`;
  const seen = new Set<number>();
  return counts.map((gpus, i) => {
    if (gpus > largest) {
      throw new KvrInputError(`${field}.gpu_counts[${i}]`, `${gpus} GPUs is more than ${largest} (${offer.gpus_per_node} per node x ${maxNodes} node${maxNodes === 1 ? '' : 's'}${multiNode ? '' : '; add nic_bandwidth for several nodes'})`);
    }
    if (seen.has(gpus)) throw new KvrInputError(`${field}.gpu_counts[${i}]`, `repeats ${gpus}; each count once`);
    seen.add(gpus);
    const inNode = gpus <= offer.gpus_per_node;
    const flags: ScenarioFlags = { gpu, gpus: String(gpus), topology: inNode ? topologyName : 'multi-node' };
    if (offer.bandwidth !== undefined) flags.bandwidth = offer.bandwidth;
    if (offer.latency !== undefined) flags.latency = offer.latency;
    if (inNode && offer.interconnect === 'pcie' && offer.gpus_per_switch !== undefined) flags.gpusPerSwitch = String(offer.gpus_per_switch);
    if (!inNode) {
      flags.gpusPerNode = String(offer.gpus_per_node);
      flags.nicBandwidth = offer.nic_bandwidth!;
      if (offer.nic_latency !== undefined) flags.nicLatency = offer.nic_latency;
    }
    return { offer: name, offerIndex: k, gpu, gpus, price_per_gpu_hour: offer.price_per_gpu_hour, flags, nodes: Math.ceil(gpus / offer.gpus_per_node) };
  });
}

function powersOfTwo(largest: number): number[] {
  const counts: number[] = [];
  for (let n = 1; n <= largest; n *= 2) counts.push(n);
  return counts;
}

function positive(value: number, field: string, text: string): number {
  if (value <= 0) throw new KvrInputError(field, `must be > 0, e.g. "300 GB/s" (got ${describeValue(text)})`);
  return value;
}

function wrap(field: string, run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (error instanceof KvrInputError) throw new KvrInputError(field, error.detail);
    throw error;
  }
}
