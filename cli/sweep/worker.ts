/**
 * A sweep worker thread (run from dist/cli/sweep/worker.js): takes batches of `kvr simulate`
 * flags, answers with their rows in the same order.
 */
import { existsSync, readFileSync } from 'node:fs';
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

// Test hook (test/cli/sweep-bin.test.ts): KVR_TEST_SWEEP_HOLD="N:PATH" holds this worker before
// its row N+1 for as long as the file PATH exists, so a test can signal the sweep at a known point
// (after N rows, with more to do) however fast or loaded the machine is.
const hold = /^(\d+):(.+)$/.exec(process.env.KVR_TEST_SWEEP_HOLD ?? '');
const holdAfter = hold === null ? -1 : Number(hold[1]);
let computed = 0;

function compute(flags: ScenarioFlags): WorkerReply['results'][number] {
  if (computed++ === holdAfter) {
    const cell = new Int32Array(new SharedArrayBuffer(4));
    while (existsSync(hold![2]!)) Atomics.wait(cell, 0, 0, 10);
  }
  return computeRow(flags, io);
}

parentPort!.on('message', (task: WorkerTask) => {
  const reply: WorkerReply = { batch: task.batch, results: task.flags.map(compute) };
  parentPort!.postMessage(reply);
});
