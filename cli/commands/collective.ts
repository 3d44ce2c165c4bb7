import { KvrInputError } from '../../sim/errors.js';
import { COLLECTIVE_OPS, runCollective, type CollectiveOpName } from '../../sim/collective-run.js';
import { parseIntegerText } from '../../sim/input/fields.js';
import { COLLECTIVE_PROTOCOLS } from '../../sim/plan/collective-tuner.js';
import { COLLECTIVE_CHOICES } from '../../sim/plan/plan.js';
import { TOPOLOGY_PRESET_NAMES, type TopologyPresetName } from '../../sim/topology/presets.js';
import { renderTable } from '../format.js';
import type { CliIo } from '../io.js';
import { SCENARIO_DEFAULTS, checkChoice, resolveGpu, resolvePresetTopology, type ScenarioFlags } from '../scenario-flags.js';

export interface CollectiveFlags extends ScenarioFlags {
  op?: string;
  sizes?: string;
  json?: boolean;
}

const UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, KB: 1024, M: 1024 ** 2, MB: 1024 ** 2, G: 1024 ** 3, GB: 1024 ** 3 };

/** "1G" -> 1073741824; sizes as nccl-tests' -b/-e take them (K, M, G: powers of 1024). */
function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]?B?)$/i.exec(text.trim());
  if (m === null) throw new KvrInputError('--sizes', `expected sizes such as 1M, 64M:4G (K, M, G = 1024^1..3 bytes) (got "${text}")`);
  return Math.round(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
}

/** "1M:4G" doubles from 1M to 4G; "1M,8M" a list; "1G" one size. */
export function parseSizes(text: string): number[] {
  const sizes: number[] = [];
  for (const part of text.split(',')) {
    const [from, to] = part.split(':');
    if (to === undefined) sizes.push(parseSize(from!));
    else {
      const hi = parseSize(to);
      for (let s = parseSize(from!); s <= hi; s *= 2) sizes.push(s);
    }
  }
  if (sizes.length === 0 || sizes.length > 64) throw new KvrInputError('--sizes', `expected 1..64 sizes (got ${sizes.length})`);
  return sizes;
}

function human(bytes: number): string {
  for (const [unit, size] of [['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  return `${bytes}`;
}

/**
 * `kvr collective`: one collective per size on a topology, timed by the simulator, printed as
 * nccl-tests prints it (size, time, algbw, busbw) with what ran (algorithm, protocol, channels).
 */
export function collectiveCommand(flags: CollectiveFlags, io: CliIo): void {
  const op = checkChoice(flags.op ?? 'all-reduce', COLLECTIVE_OPS, '--op') as CollectiveOpName;
  const gpu = resolveGpu(flags.gpu ?? SCENARIO_DEFAULTS.gpu, io);
  const gpus = parseIntegerText(flags.gpus ?? SCENARIO_DEFAULTS.gpus, '--gpus', { min: 2, max: 1024 });
  const topologyName = checkChoice(flags.topology ?? SCENARIO_DEFAULTS.topology, TOPOLOGY_PRESET_NAMES, '--topology') as TopologyPresetName;
  const topology = resolvePresetTopology(topologyName, gpus, gpu, flags);
  const collective = checkChoice(flags.collective ?? 'auto', COLLECTIVE_CHOICES, '--collective');
  const channels = flags.channels === undefined ? undefined : parseIntegerText(flags.channels, '--channels', { min: 1, max: 64 });
  const protocol = flags.protocol === undefined ? undefined : checkChoice(flags.protocol, COLLECTIVE_PROTOCOLS, '--protocol');
  const sizes = parseSizes(flags.sizes ?? '1M:1G');
  const rows = sizes.map((bytes) =>
    runCollective({ op, gpus, topology, gpu, bytes, collective, ...(channels === undefined ? {} : { channels }), ...(protocol === undefined ? {} : { protocol }) }),
  );
  const nics = topologyName === 'multi-node' ? ` (${gpus} GPUs, ${parseIntegerText(flags.gpusPerNode ?? SCENARIO_DEFAULTS.gpusPerNode, '--gpus-per-node', { min: 1, max: 1024 })} per node)` : '';
  const notes: string[] = [];
  if (rows.some((r) => r.algorithm === 'ring' && r.channels === 1) && topologyName === 'multi-node' && gpus > Number(flags.gpusPerNode ?? SCENARIO_DEFAULTS.gpusPerNode)) {
    notes.push('one ring channel: every node crossing goes through a single NIC, so inter-node traffic runs at one NIC\'s bandwidth (the single-NIC figure)');
  }
  if (flags.json === true) {
    io.stdout(
      `${JSON.stringify(
        {
          schema: 'kvr-collective@1',
          op,
          gpus,
          topology: topologyName,
          gpu: gpu.name,
          collective,
          busbw_factor: op === 'all-reduce' ? '2(n-1)/n' : op === 'send-recv' ? '1' : '(n-1)/n',
          rows: rows.map((r) => ({ size_bytes: r.bytes, time_s: r.time_s, algbw_GBps: r.algbw / 1e9, busbw_GBps: r.busbw / 1e9, algorithm: r.algorithm, protocol: r.protocol, channels: r.channels, tuner_estimate_s: r.estimate_s })),
          notes,
        },
        null,
        2,
      )}\n`,
    );
    return;
  }
  io.stdout(`# ${op} on ${topologyName}${nics}, ${gpu.name}; busbw = algbw x ${op === 'all-reduce' ? '2(n-1)/n' : op === 'send-recv' ? '1' : '(n-1)/n'} (nccl-tests doc/PERFORMANCE.md)\n`);
  io.stdout(
    `${renderTable(
      ['size', 'time (us)', 'algbw (GB/s)', 'busbw (GB/s)', 'algorithm', 'protocol', 'channels'],
      rows.map((r) => [human(r.bytes), (r.time_s * 1e6).toFixed(1), (r.algbw / 1e9).toFixed(2), (r.busbw / 1e9).toFixed(2), r.algorithm, r.protocol, String(r.channels)]),
    )}\n`,
  );
  for (const note of notes) io.stdout(`note: ${note}\n`);
}
