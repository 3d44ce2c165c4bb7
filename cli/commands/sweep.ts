import { parseIntegerText } from '../../sim/input/fields.js';
import type { CliIo } from '../io.js';
import { mergeShards } from '../sweep/merge.js';
import { defaultJobs } from '../sweep/pool.js';
import { fmt, runSweep } from '../sweep/run.js';
import { resolveShard } from '../sweep/shard.js';

export interface SweepFlags {
  out?: string;
  jobs?: string;
  shard?: string;
  shards?: string;
  limit?: string;
  yes?: boolean;
  restart?: boolean;
  quiet?: boolean;
}

/** Extra inputs for tests: an abort signal and a hook on every computed row. */
export interface SweepHooks {
  signal?: AbortSignal;
  onComputed?: (id: string) => void;
}

/** `kvr sweep SPEC`: every scenario of a spec, on all cores, resumable and shardable. */
export async function sweepCommand(specPath: string, flags: SweepFlags, io: CliIo, hooks: SweepHooks = {}): Promise<void> {
  const shard = resolveShard(flags.shard, flags.shards, io.env ?? {});
  const jobs = flags.jobs === undefined ? defaultJobs() : parseIntegerText(flags.jobs, '--jobs', { min: 0, max: 256 });
  const limit = flags.limit === undefined ? undefined : parseIntegerText(flags.limit, '--limit', { min: 1 });
  if (shard !== undefined && shard.source !== '--shard') io.stderr(`kvr sweep: shard ${shard.index}/${shard.count} (from ${shard.source})\n`);
  // Ctrl-C stops taking scenarios, finishes those in flight and keeps every finished row.
  const controller = new AbortController();
  const forward = (): void => controller.abort();
  hooks.signal?.addEventListener('abort', forward);
  if (hooks.signal?.aborted) controller.abort();
  const onSigint = (): void => {
    io.stderr('\nkvr sweep: interrupted; finishing the rows in flight (Ctrl-C again to quit at once)\n');
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  };
  const isProcess = io.env === process.env;
  if (isProcess) process.once('SIGINT', onSigint);
  let summary;
  try {
    summary = await runSweep(io, {
      specPath,
      ...(flags.out === undefined ? {} : { out: flags.out }),
      jobs,
      ...(shard === undefined ? {} : { shard }),
      ...(limit === undefined ? {} : { limit }),
      yes: flags.yes === true,
      restart: flags.restart === true,
      quiet: flags.quiet === true,
      signal: controller.signal,
      ...(hooks.onComputed === undefined ? {} : { onComputed: hooks.onComputed }),
    });
  } finally {
    if (isProcess) process.removeListener('SIGINT', onSigint);
    hooks.signal?.removeEventListener('abort', forward);
  }
  const s = summary;
  const of = shard === undefined ? `${fmt(s.total)} scenarios` : `shard ${shard.index}/${shard.count}: ${fmt(s.planned)} of ${fmt(s.total)} scenarios`;
  const rate = s.computed > 0 && s.seconds > 0 ? `, ${(s.computed / s.seconds).toFixed(1)} scenarios/s` : '';
  io.stdout(
    `sweep ${specPath}: ${of}; computed ${fmt(s.computed)}, reused ${fmt(s.reused)} (${fmt(s.errors)} invalid) in ${s.seconds.toFixed(1)} s${rate} -> ${s.csvPath}, ${s.jsonlPath}\n`,
  );
  if (s.remaining > 0) io.stdout(`stopped with ${fmt(s.remaining)} scenarios to go: run the same command again to finish them\n`);
}

export interface MergeFlags {
  out?: string;
  shards?: string;
  yes?: boolean;
}

export function mergeCommand(specPath: string, flags: MergeFlags, io: CliIo): void {
  const shards = flags.shards === undefined ? undefined : parseIntegerText(flags.shards, '--shards', { min: 1, max: 100_000 });
  const s = mergeShards(io, {
    specPath,
    ...(flags.out === undefined ? {} : { out: flags.out }),
    ...(shards === undefined ? {} : { shards }),
    yes: flags.yes === true,
  });
  io.stdout(`merged ${s.shards} shards: ${fmt(s.rows)} rows (${fmt(s.errors)} invalid) -> ${s.csvPath}, ${s.jsonlPath}\n`);
}
