/**
 * A small pool of worker threads that computes rows and hands them back in the order they were
 * taken from the task iterator, whatever order the workers finish in. Tasks are pulled lazily,
 * a batch at a time, only when a worker is idle, so at most jobs x batch rows are in flight and
 * a stop request (abort, row limit) loses nothing: rows in flight are finished and handed back.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CliIo } from '../io.js';
import { projectRoot } from '../project-root.js';
import type { ScenarioFlags } from '../scenario-flags.js';
import { cachedReadIo, computeRow } from './compute.js';
import type { RowResult } from './output.js';
import type { WorkerReply, WorkerTask } from './worker.js';

/** A task: flags to simulate, or nothing to compute (a row reused from an earlier run). */
export interface PoolTask<T> {
  flags?: ScenarioFlags;
  payload: T;
}

export interface PoolOptions {
  /** Worker threads; 0 computes in this thread. */
  jobs: number;
  /** File texts the workers read instead of the disk (files the spec names). */
  files: Record<string, string>;
  io: CliIo;
  /** Rows per message (default 4). */
  batchSize?: number;
  /** Checked before each pull: true stops taking tasks. */
  shouldStop?: () => boolean;
}

/** Default number of workers: every core. */
export function defaultJobs(): number {
  return Math.max(1, availableParallelism());
}

/** The compiled worker; the pool runs from dist/ or from the TypeScript sources (tests). */
export function workerFile(): string {
  return join(projectRoot(), 'dist', 'cli', 'sweep', 'worker.js');
}

interface Slot<T> {
  payload: T;
  result?: RowResult;
  done: boolean;
}

/**
 * Runs every task and calls `emit(payload, result)` in task order (result undefined for tasks
 * without flags). Resolves when the iterator is exhausted or a stop was requested and the rows
 * in flight are emitted.
 */
export async function runOrdered<T>(tasks: Iterator<PoolTask<T>>, options: PoolOptions, emit: (payload: T, result: RowResult | undefined) => void): Promise<void> {
  const shouldStop = options.shouldStop ?? (() => false);
  if (options.jobs <= 0 || !existsSync(workerFile())) {
    if (options.jobs > 0) options.io.stderr(`kvr: note: ${workerFile()} is missing (run npm run build); computing in one thread\n`);
    return runInline(tasks, options, emit, shouldStop);
  }
  const slots = new Map<number, Slot<T>>();
  let nextSeq = 0;
  let nextEmit = 0;
  let exhausted = false;
  const flush = (): void => {
    for (;;) {
      const slot = slots.get(nextEmit);
      if (slot === undefined || !slot.done) return;
      slots.delete(nextEmit);
      nextEmit += 1;
      emit(slot.payload, slot.result);
    }
  };
  const batchSize = options.batchSize ?? 4;
  const count = Math.max(1, options.jobs);
  // Rows may be done out of order; a worker runs at most this far ahead of the oldest row not
  // yet handed back (a slow scenario holds the others back rather than filling memory).
  const window = count * batchSize * 8;
  /** Pulls up to batchSize computable tasks; tasks without flags are done at once. */
  const pull = (): { seqs: number[]; flags: ScenarioFlags[] } => {
    const seqs: number[] = [];
    const flags: ScenarioFlags[] = [];
    while (!exhausted && flags.length < batchSize && nextSeq - nextEmit < window) {
      if (shouldStop()) {
        exhausted = true;
        break;
      }
      const next = tasks.next();
      if (next.done) {
        exhausted = true;
        break;
      }
      const seq = nextSeq++;
      if (next.value.flags === undefined) {
        slots.set(seq, { payload: next.value.payload, done: true });
        flush();
      } else {
        slots.set(seq, { payload: next.value.payload, done: false });
        seqs.push(seq);
        flags.push(next.value.flags);
      }
    }
    return { seqs, flags };
  };

  const workers: Worker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const inFlight = new Map<number, number[]>();
      const outstanding = new Map<Worker, number>();
      let batchId = 0;
      // Two batches per worker: the next one waits in its queue while it computes, so a worker
      // never idles while the main thread writes rows.
      const pump = (): void => {
        for (const worker of workers) {
          while (!failed && outstanding.get(worker)! < 2) {
            const { seqs, flags } = pull();
            if (flags.length === 0) break;
            const id = batchId++;
            inFlight.set(id, seqs);
            outstanding.set(worker, outstanding.get(worker)! + 1);
            const task: WorkerTask = { batch: id, flags };
            worker.postMessage(task);
          }
        }
        if (inFlight.size === 0) {
          flush();
          if (exhausted || nextSeq === nextEmit) resolve();
        }
      };
      for (let i = 0; i < count; i++) {
        const worker = new Worker(workerFile(), { workerData: { files: options.files } });
        workers.push(worker);
        outstanding.set(worker, 0);
        worker.on('message', (reply: WorkerReply) => {
          if (failed) return;
          outstanding.set(worker, outstanding.get(worker)! - 1);
          const seqs = inFlight.get(reply.batch)!;
          inFlight.delete(reply.batch);
          seqs.forEach((seq, k) => {
            const slot = slots.get(seq)!;
            slot.result = reply.results[k];
            slot.done = true;
          });
          try {
            flush();
            pump();
          } catch (error) {
            failed = true;
            reject(error);
          }
        });
        worker.on('error', (error) => {
          failed = true;
          reject(error);
        });
      }
      try {
        pump();
      } catch (error) {
        failed = true;
        reject(error);
      }
    });
    flush();
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

async function runInline<T>(tasks: Iterator<PoolTask<T>>, options: PoolOptions, emit: (payload: T, result: RowResult | undefined) => void, shouldStop: () => boolean): Promise<void> {
  const io = cachedReadIo(options.files, (path) => options.io.readFile(path));
  let sinceYield = 0;
  while (!shouldStop()) {
    const next = tasks.next();
    if (next.done) return;
    emit(next.value.payload, next.value.flags === undefined ? undefined : computeRow(next.value.flags, io));
    if (++sinceYield >= 16) {
      sinceYield = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
