/**
 * One sweep row: the point's `kvr simulate` flags -> resolveScenario -> simulate -> results. An
 * invalid scenario (context < gpus, a partition that does not sum, ...) becomes a row with an
 * error, never an exception: one bad point must not stop a sweep.
 */
import { KvrInputError } from '../../sim/errors.js';
import { simulate } from '../../sim/simulate.js';
import type { CliIo } from '../io.js';
import { oneLine } from '../load-json.js';
import { resolveScenario, SCENARIO_DEFAULTS, type ScenarioFlags } from '../scenario-flags.js';
import { TOPOLOGY_PRESET_NAMES } from '../../sim/topology/presets.js';
import { parseQuantity } from '../../sim/units/quantity.js';
import type { RowResult } from './output.js';

const EMPTY: Omit<RowResult, 'error'> = {
  gpu_count: null,
  context_tokens: null,
  bandwidth_Bps: null,
  latency_s: null,
  ttft_s: null,
  flops_total: null,
  comm_bytes_total: null,
  peak_mem_bytes: null,
  fits: null,
  partition: null,
  gpu_profile: null,
  uncalibrated: null,
};

/** Spec key of a flag or library field: "--gpus-per-node" -> "gpus_per_node". */
function keyOf(field: string): string {
  return field.replace(/^--/, '').replace(/-/g, '_');
}

export function computeRow(flags: ScenarioFlags, io: CliIo): RowResult {
  try {
    const scenario = resolveScenario(flags, io);
    const result = simulate(scenario).result;
    const preset = (TOPOLOGY_PRESET_NAMES as readonly string[]).includes(flags.topology ?? SCENARIO_DEFAULTS.topology);
    const pcie = /^pcie/.test(flags.topology ?? '');
    const bandwidth = !preset ? null : flags.bandwidth !== undefined ? parseQuantity(flags.bandwidth, 'bandwidth', '--bandwidth') : pcie ? scenario.gpu.pcie_bandwidth : scenario.gpu.link_bandwidth;
    let peak = 0;
    for (const rank of result.ranks) peak = Math.max(peak, rank.peak_mem_bytes);
    return {
      gpu_count: scenario.gpus,
      context_tokens: scenario.context,
      bandwidth_Bps: bandwidth,
      latency_s: preset ? parseQuantity(flags.latency ?? SCENARIO_DEFAULTS.latency, 'time', '--latency') : null,
      ttft_s: result.ttft_s,
      flops_total: result.flops_total,
      comm_bytes_total: result.comm_bytes_total,
      peak_mem_bytes: peak,
      fits: result.fits,
      partition: result.partition,
      gpu_profile: result.gpu_profile,
      uncalibrated: result.uncalibrated,
      error: null,
    };
  } catch (error) {
    const message = error instanceof KvrInputError ? `${keyOf(error.field)}: ${oneLine(error.detail)}` : `internal error: ${oneLine(error)}`;
    return { ...EMPTY, error: message };
  }
}

/** A read-only io over given file texts, then the disk; reads are memoised (presets probe profiles). */
export function cachedReadIo(files: Record<string, string>, readDisk: (path: string) => string): CliIo {
  const cache = new Map<string, string | Error>(Object.entries(files));
  const fail = (): never => {
    throw new Error('a sweep worker writes no files');
  };
  return {
    stdout: () => undefined,
    stderr: () => undefined,
    writeFile: fail,
    readFile(path: string): string {
      let entry = cache.get(path);
      if (entry === undefined) {
        try {
          entry = readDisk(path);
        } catch (error) {
          entry = error instanceof Error ? error : new Error(String(error));
        }
        cache.set(path, entry);
      }
      if (entry instanceof Error) throw entry;
      return entry;
    },
  };
}
