/**
 * A sweep worker thread (run from dist/cli/sweep/worker.js): takes batches of `kvr simulate`
 * flags, answers with their rows in the same order.
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { ScenarioFlags } from '../scenario-flags.js';
import { cachedReadIo, computeRow } from './compute.js';

export interface WorkerInit {
  files: Record<string, string>;
}

export interface WorkerTask {
  batch: number;
  flags: ScenarioFlags[];
}

export interface WorkerReply {
  batch: number;
  results: ReturnType<typeof computeRow>[];
}

const init = workerData as WorkerInit;
const io = cachedReadIo(init.files, (path) => readFileSync(path, 'utf8'));

parentPort!.on('message', (task: WorkerTask) => {
  const reply: WorkerReply = { batch: task.batch, results: task.flags.map((flags) => computeRow(flags, io)) };
  parentPort!.postMessage(reply);
});
