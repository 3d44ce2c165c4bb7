import type { SimResult } from '../../sim/result/result.js';
import { simulate, type Scenario } from '../../sim/simulate.js';
import { perfettoTrace } from '../../sim/trace/perfetto.js';
import { KvrInputError } from '../../sim/errors.js';
import { checkOutput, type CliIo } from '../io.js';
import { formatBytes, formatBytesColumn, formatMemory, formatPartition, formatRate, formatSeconds, formatSecondsColumn, formatTtft, renderTable } from '../format.js';
import { resolveScenario, type ScenarioFlags } from '../scenario-flags.js';
import { oneLine } from '../load-json.js';
import { gpuProfileNote } from '../gpu-profile-note.js';
import { scenarioRecord } from '../scenario-record.js';
import { searchProgress, withSearchProgress } from '../search-progress.js';
import { commandProgress, PROGRESS_AFTER_MS, type ProgressLike } from '../sweep/progress.js';

export interface SimulateFlags extends ScenarioFlags {
  json?: boolean;
  trace?: string;
  quiet?: boolean;
}

export function simulateCommand(flags: SimulateFlags, io: CliIo): void {
  const scenario = resolveScenario(flags, io);
  if (flags.trace !== undefined) checkOutput(io, flags.trace, '--trace');
  const search = searchProgress(io, 'kvr-s search', flags.quiet);
  // The simulation's own bar starts once the search (if any) is over: a big one (1024 GPUs) takes
  // seconds in plan building, routing and the result; shown after PROGRESS_AFTER_MS, as searches.
  let stages: ProgressLike | undefined;
  // Only a trace reads the plan and run: a big plan is otherwise never built whole (sim/simulate.ts).
  const simulation = simulate(withSearchProgress(scenario, search.progress), (done, total) => {
    if (stages === undefined) {
      search.finish();
      stages = commandProgress(io, total, 'simulate', flags.quiet, PROGRESS_AFTER_MS);
    }
    if (done > 0) stages.tick();
  });
  if (stages === undefined) search.finish();
  stages?.finish();
  const result = simulation.result;
  if (flags.trace !== undefined) {
    const trace = perfettoTrace(simulation.plan, simulation.run, { gpu: result.gpu, topology: result.topology, ttft_s: result.ttft_s });
    try {
      io.writeFile(flags.trace, JSON.stringify(trace));
    } catch (error) {
      throw new KvrInputError('--trace', `cannot write ${JSON.stringify(flags.trace)}: ${oneLine(error)}`);
    }
  }
  io.stdout(flags.json ? `${JSON.stringify({ ...result, scenario: scenarioRecord(scenario) }, null, 2)}\n` : renderResult(result, scenario));
}

/** A readable summary: headline, memory verdict, calibration status, then one row per rank. */
export function renderResult(result: SimResult, scenario: Scenario): string {
  const lines: string[] = [];
  const variant = [
    result.tensor_parallel > 1 && ['kvr-tp', 'ring-kv', 'ring-q', 'pp-chunked'].includes(result.strategy) ? `tp ${result.tensor_parallel}` : '',
    result.pipeline === undefined
      ? ''
      : `${result.pipeline.stages} stages, ${result.pipeline.chunks} chunks of ${result.pipeline.chunk_tokens} tokens` +
        (result.pipeline.chunks_too_big === undefined ? '' : `; the search left out chunks of ${result.pipeline.chunks_too_big.join(', ')} tokens, past the size limits`),
    result.collective === 'direct' ? 'direct collectives' : '',
    (scenario.ep ?? 1) > 1 ? `ep ${scenario.ep}${(scenario.expertImbalance ?? 1) !== 1 ? `, expert imbalance ${scenario.expertImbalance}` : ''}` : '',
  ].filter((part) => part !== '');
  lines.push(
    `${result.model} on ${result.gpus} x ${result.gpu} (${describeLinks(scenario)}), ${result.context} tokens, ${result.strategy}${variant.length > 0 ? ` (${variant.join(', ')})` : ''}`,
  );
  lines.push(
    `TTFT ${formatTtft(result.ttft_s)}${result.ttft_band === undefined ? '' : ` (±${(result.ttft_band * 100).toFixed(1)}%)`}   all ranks idle ${formatTtft(result.makespan_s)}   FLOPs ${result.flops_total.toExponential(3)}   moved ${formatBytes(result.comm_bytes_total)}   partition ${formatPartition(result.partition)}`,
  );
  if (result.memory_overflow !== null) {
    const o = result.memory_overflow;
    lines.push(`memory: does NOT fit: rank ${o.rank} needs ${formatMemory(o.over_by_bytes)} more than its ${formatMemory(o.capacity_bytes)}`);
  } else {
    lines.push('memory: fits on every rank');
  }
  if (result.ring_choice !== undefined) {
    const c = result.ring_choice;
    const why =
      c.reason === 'overlap'
        ? `${result.context} new tokens >= ${Math.ceil(c.overlap_threshold_tokens)}: K,V transfers hide behind attention`
        : c.reason === 'bytes'
          ? `miss rate ${c.miss_rate.toFixed(2)} >= 2 NKV/NH = ${c.miss_rate_threshold.toFixed(3)}: K,V no bigger than Q`
          : `fewer than ${Math.ceil(c.overlap_threshold_tokens)} new tokens and miss rate ${c.miss_rate.toFixed(2)} < ${c.miss_rate_threshold.toFixed(3)}`;
    lines.push(`ring choice (Yang et al. 2411.01783): ${c.recommended === 'ring-kv' ? 'pass-KV (ring-kv)' : 'pass-Q (ring-q)'}: ${why}`);
  }
  const d = result.decode;
  lines.push(
    `decode (TP over ${d.tp} GPUs): re-shard ${d.reshard_bytes === 0 ? 'nothing' : `${formatBytes(d.reshard_bytes)} in ${formatSeconds(d.reshard_s)}`}; ` +
      `replicate ${d.replicate_bytes === 0 ? 'nothing' : `${formatBytes(d.replicate_bytes)} in ${formatSeconds(d.replicate_s)}`}; ` +
      `largest KV-cache: rank ${d.max_kv_cache_rank}, ${formatMemory(d.max_kv_cache_bytes)}`,
  );
  if (result.ttft_band_s !== undefined) {
    lines.push(`TTFT band ${formatSeconds(result.ttft_band_s[0])} .. ${formatSeconds(result.ttft_band_s[1])} (cross-validated kernel error of profile ${result.gpu}; stack: ${result.stack})`);
  }
  for (const warning of result.warnings ?? []) lines.push(`warning: ${warning}`);
  const profileNote = gpuProfileNote(scenario.gpu);
  if (profileNote !== undefined) lines.push(profileNote);
  lines.push(`gpu source: ${scenario.gpu.source}`);
  lines.push('');
  // One time unit per column; traffic in decimal GB (1e9 B), memory in binary GiB (2^30 B).
  const compute = formatSecondsColumn(result.ranks.map((r) => r.compute_s));
  const wait = formatSecondsColumn(result.ranks.map((r) => r.wait_s));
  const finish = formatSecondsColumn(result.ranks.map((r) => r.finish_s));
  const sent = formatBytesColumn(result.ranks.map((r) => r.sent_bytes), 'decimal');
  const kv = formatBytesColumn(result.ranks.map((r) => r.kv_cache_bytes), 'binary');
  const peak = formatBytesColumn(result.ranks.map((r) => r.peak_mem_bytes), 'binary');
  const rows = result.ranks.map((r, i) => [
    String(r.rank),
    String(r.tokens),
    compute[i]!,
    wait[i]!,
    finish[i]!,
    sent[i]!,
    kv[i]!,
    peak[i]! + (r.fits ? '' : ' !'),
  ]);
  return `${lines.join('\n')}\n${renderTable(['rank', 'tokens', 'compute', 'wait', 'finish', 'sent', 'kv-cache', 'peak mem'], rows)}`;
}

function describeLinks(scenario: Scenario): string {
  const topology = scenario.topology;
  const rates = new Set(topology.links.map((l) => formatRate(Math.min(l.bandwidth_ab, l.bandwidth_ba))));
  const rateText = rates.size === 0 ? 'no links' : [...rates].join(' / ');
  return `${topology.name}, ${rateText}`;
}
