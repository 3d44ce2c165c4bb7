/**
 * `kvr sweep`: expand a spec, skip the rows an earlier run already wrote, compute the rest on a
 * worker pool, and append rows to PREFIX.csv and PREFIX.jsonl in product order as they complete.
 *
 * Resume: the output files are the source of truth. Their complete rows (a torn last line is
 * dropped) are matched to the spec's points by scenario id. When they are the first rows of this
 * run's order (an interrupted run), the files are kept and the run appends after them; otherwise
 * (the spec was edited) they are set aside in PREFIX.old.{csv,jsonl}, reused by id while the
 * files are rewritten in the new order, and deleted once the sweep completes. Either way no
 * finished row is computed again, and the finished files equal those of an uninterrupted run.
 */
import { basename, dirname, join, resolve } from 'node:path';
import { KvrInputError } from '../../sim/errors.js';
import { loadSweepSpec } from '../config/load-config.js';
import { formatBytes } from '../../sim/plan/build-plan.js';
import { appendText, checkOutput, lockOutput, readTextOrUndefined, type CliIo } from '../io.js';
import { oneLine } from '../load-json.js';
import { defaultOutput } from '../output-paths.js';
import { CSV_HEADER, csvLine, jsonLine, makeRow, readExisting, type Row, type RowResult } from './output.js';
import { runOrdered, type PoolTask } from './pool.js';
import { commandProgress, Progress, type ProgressLike } from './progress.js';
import { expandSpec, pointFlags, pointId, specMemoryBound, SWEEP_CONFIRM_ROWS, SWEEP_MAX_ROWS, type ExpandedSpec, type Point } from './spec.js';
import type { Shard } from './shard.js';

export interface SweepOptions {
  specPath: string;
  /** Output prefix (default: the spec's path without its extension). */
  out?: string;
  /** Worker threads (0: this thread). */
  jobs: number;
  shard?: Shard;
  /** Compute at most this many rows, then stop (resume later). */
  limit?: number;
  /** Run products over SWEEP_CONFIRM_ROWS rows. */
  yes?: boolean;
  /** Ignore earlier output and start again. */
  restart?: boolean;
  signal?: AbortSignal;
  /** Called with the id of every row computed (tests count them). */
  onComputed?: (id: string) => void;
  /** Rows per worker message. */
  batchSize?: number;
  /** No progress on stderr. */
  quiet?: boolean;
}

export interface SweepSummary {
  /** Scenarios in the whole spec. */
  total: number;
  /** Scenarios of this shard (= total unsharded). */
  planned: number;
  reused: number;
  computed: number;
  /** Rows with an error (invalid scenarios), among those written. */
  errors: number;
  /** Rows still to do (0 when complete). */
  remaining: number;
  seconds: number;
  csvPath: string;
  jsonlPath: string;
}

/**
 * PREFIX of the output files: --out, else kvr-out/ in the working directory and the spec's name
 * without its extension (a CSV spec's rows go to kvr-out/SPEC.results.csv); never over the spec.
 */
export function outputPrefix(specPath: string, out: string | undefined, shard: Shard | undefined): string {
  const stem = basename(specPath).replace(/\.(ya?ml|json|csv)$/i, '');
  const base = out ?? defaultOutput(/\.csv$/i.test(specPath) ? `${stem}.results` : stem);
  if (resolve(`${base}.csv`) === resolve(specPath) || resolve(`${base}.jsonl`) === resolve(specPath)) {
    throw new KvrInputError('--out', `${JSON.stringify(base)} would write over the spec ${JSON.stringify(specPath)}; choose another prefix`);
  }
  return shard === undefined ? base : `${base}.shard-${shard.index}-of-${shard.count}`;
}

/** Points of the spec in order with their global index, only this shard's (index mod N). */
export function* shardPoints(expanded: ExpandedSpec, shard: Shard | undefined): Generator<{ index: number; point: Point }> {
  let index = 0;
  for (const point of expanded.points()) {
    if (shard === undefined || index % shard.count === shard.index - 1) yield { index, point };
    index += 1;
  }
}

export function shardSize(total: number, shard: Shard | undefined): number {
  if (shard === undefined) return total;
  return Math.max(0, Math.ceil((total - (shard.index - 1)) / shard.count));
}

/** Loads and expands a spec, refusing huge products (and asking for --yes above the threshold). */
export function prepareSpec(io: CliIo, specPath: string, yes: boolean): ExpandedSpec {
  const expanded = expandSpec(loadSweepSpec(io, specPath), specPath, io);
  const n = expanded.total;
  if (n > SWEEP_MAX_ROWS) {
    throw new KvrInputError('spec', `has ${fmt(n)} scenarios, more than the limit of ${fmt(SWEEP_MAX_ROWS)}; split it into several specs (each resumable and shardable)`);
  }
  if (n > SWEEP_CONFIRM_ROWS && !yes) {
    throw new KvrInputError('spec', `has ${fmt(n)} scenarios (more than ${fmt(SWEEP_CONFIRM_ROWS)}); pass --yes to run them all, or shrink the axes`);
  }
  return expanded;
}

export function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** The results of a written row, to re-render it under the current spec's keys. */
export function resultOf(row: Row): RowResult {
  return {
    gpu_count: (row.gpu_count ?? null) as number | null,
    context_tokens: (row.context_tokens ?? null) as number | null,
    bandwidth_Bps: (row.bandwidth_Bps ?? null) as number | null,
    latency_s: (row.latency_s ?? null) as number | null,
    ttft_s: row.ttft_s as number | null,
    flops_total: row.flops_total as number | null,
    comm_bytes_total: row.comm_bytes_total as number | null,
    peak_mem_bytes: row.peak_mem_bytes as number | null,
    fits: row.fits as boolean | null,
    partition: row.partition as number[] | null,
    gpu_profile: row.gpu_profile as string | null,
    uncalibrated: row.uncalibrated as boolean | null,
    error: row.error as string | null,
  };
}

/**
 * Worker threads for a sweep whose scenarios may each take up to `perJob` bytes: at most as many
 * as fit in 80% of the available memory at once (at least one), so --jobs never multiplies the
 * simulator's memory past the machine.
 */
export function memoryCappedJobs(jobs: number, perJob: number, available: number | undefined): number {
  if (jobs <= 1 || available === undefined || perJob <= 0) return jobs;
  return Math.max(1, Math.min(jobs, Math.floor((0.8 * available) / perJob)));
}

export async function runSweep(io: CliIo, options: SweepOptions): Promise<SweepSummary> {
  const started = io.now?.() ?? performance.now();
  const expanded = prepareSpec(io, options.specPath, options.yes === true);
  const prefix = outputPrefix(options.specPath, options.out, options.shard);
  const csvPath = `${prefix}.csv`;
  const jsonlPath = `${prefix}.jsonl`;
  if (options.out === undefined) checkOutput(io, dirname(prefix), '--out', 'folder');
  checkOutput(io, csvPath, '--out');
  checkOutput(io, jsonlPath, '--out');
  // One run at a time writes an output: a second would append every row again.
  const release = lockOutput(io, prefix, '--out');
  try {
    const perJob = specMemoryBound(expanded, io);
    const available = io.availableMemory?.();
    const jobs = memoryCappedJobs(options.jobs, perJob, available);
    if (jobs < options.jobs) {
      io.stderr(`kvr sweep: ${jobs} jobs, not ${options.jobs}: a scenario of this spec may take ${formatBytes(perJob)} to simulate and ${formatBytes(available!)} is available\n`);
    }
    return await sweepInto(io, { ...options, jobs }, expanded, prefix, started);
  } finally {
    release();
  }
}

async function sweepInto(io: CliIo, options: SweepOptions, expanded: ExpandedSpec, prefix: string, started: number): Promise<SweepSummary> {
  const csvPath = `${prefix}.csv`;
  const jsonlPath = `${prefix}.jsonl`;
  const oldCsv = `${prefix}.old.csv`;
  const oldJsonl = `${prefix}.old.jsonl`;
  const planned = shardSize(expanded.total, options.shard);

  // What earlier runs left: the current files, and rows set aside by an earlier rewrite.
  const existing = options.restart ? { rows: [], extra: false } : readExisting(readTextOrUndefined(io, csvPath), readTextOrUndefined(io, jsonlPath));
  const setAside = options.restart ? { rows: [], extra: false } : readExisting(readTextOrUndefined(io, oldCsv), readTextOrUndefined(io, oldJsonl));
  const reuse = new Map<string, Row>();
  for (const row of setAside.rows) reuse.set(row.id as string, row);

  // Is what is written the start of this run's order? Then append; else rewrite, reusing by id.
  let keep = existing.rows.length;
  if (keep > 0) {
    let k = 0;
    for (const { index, point } of shardPoints(expanded, options.shard)) {
      if (k >= keep) break;
      const row = existing.rows[k]!;
      if (row.id !== pointId(point) || row.index !== index || jsonLine(row) !== jsonLine(makeRow(index, row.id as string, point, resultOf(row)))) break;
      k += 1;
    }
    if (k < keep) {
      for (const row of existing.rows) reuse.set(row.id as string, row);
      const all = [...reuse.values()];
      io.writeFile(oldCsv, CSV_HEADER + all.map(csvLine).join(''));
      io.writeFile(oldJsonl, all.map(jsonLine).join(''));
      keep = 0;
    }
  }
  try {
    if (keep === 0) {
      io.writeFile(csvPath, CSV_HEADER);
      io.writeFile(jsonlPath, '');
    } else if (existing.extra) {
      // Drop a torn last line (or a row one file has and the other lacks).
      io.writeFile(csvPath, CSV_HEADER + existing.rows.map(csvLine).join(''));
      io.writeFile(jsonlPath, existing.rows.map(jsonLine).join(''));
    }
  } catch (error) {
    throw new KvrInputError('--out', `cannot write ${JSON.stringify(csvPath)}: ${oneLine(error)}`);
  }

  let computed = 0;
  let reused = 0;
  let errors = existing.rows.slice(0, keep).filter((row) => row.error !== null).length;
  let written = keep;
  let pulled = 0;
  const limit = options.limit ?? Infinity;
  const progress: ProgressLike =
    options.quiet === true ? commandProgress(io, 0, 'sweep', true) : new Progress(io, planned, keep, options.shard === undefined ? 'sweep' : `sweep ${options.shard.index}/${options.shard.count}`);

  let csvBuffer = '';
  let jsonBuffer = '';
  let buffered = 0;
  // The first row goes to disk at once (a user sees the files fill), then at most once a second.
  let lastFlush = -Infinity;
  const flushOut = (): void => {
    if (buffered === 0) return;
    appendText(io, csvPath, csvBuffer);
    appendText(io, jsonlPath, jsonBuffer);
    csvBuffer = '';
    jsonBuffer = '';
    buffered = 0;
    lastFlush = io.now?.() ?? performance.now();
  };

  interface Payload {
    index: number;
    id: string;
    point: Point;
    reused?: Row;
  }
  function* tasks(): Generator<PoolTask<Payload>> {
    let k = 0;
    for (const { index, point } of shardPoints(expanded, options.shard)) {
      if (k++ < keep) continue;
      const id = pointId(point);
      const old = reuse.get(id);
      if (old !== undefined) {
        yield { payload: { index, id, point, reused: old } };
        continue;
      }
      if (pulled >= limit) return;
      pulled += 1;
      yield { flags: pointFlags(point, expanded.baseDir), payload: { index, id, point } };
    }
  }

  await runOrdered(
    tasks(),
    {
      jobs: options.jobs,
      files: expanded.files,
      io,
      ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      shouldStop: () => options.signal?.aborted === true,
    },
    (payload, result) => {
      const row = makeRow(payload.index, payload.id, payload.point, result ?? resultOf(payload.reused!));
      if (result === undefined) reused += 1;
      else {
        computed += 1;
        options.onComputed?.(payload.id);
        progress.tick();
      }
      if (row.error !== null) errors += 1;
      csvBuffer += csvLine(row);
      jsonBuffer += jsonLine(row);
      buffered += 1;
      written += 1;
      const now = io.now?.() ?? performance.now();
      if (buffered >= 256 || now - lastFlush >= 1000) flushOut();
    },
  );
  flushOut();
  progress.finish();
  const remaining = planned - written;
  if (remaining === 0) {
    io.removeFile?.(oldCsv);
    io.removeFile?.(oldJsonl);
  }
  const ended = io.now?.() ?? performance.now();
  return { total: expanded.total, planned, reused: reused + keep, computed, errors, remaining, seconds: (ended - started) / 1000, csvPath, jsonlPath };
}
