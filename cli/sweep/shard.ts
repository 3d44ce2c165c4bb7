/**
 * Which share of a sweep this process runs: `--shard i/N` (1-based), or the index a job array
 * hands each task: SLURM_ARRAY_TASK_ID (N from SLURM_ARRAY_TASK_COUNT or --shards; ids counted
 * from SLURM_ARRAY_TASK_MIN in steps of SLURM_ARRAY_TASK_STEP) or Kubernetes' JOB_COMPLETION_INDEX
 * (0-based; N from --shards). Shard i of N runs the points whose index mod N is i - 1, so every
 * shard gets a similar mix of cheap and expensive scenarios.
 */
import { KvrInputError, describeValue } from '../../sim/errors.js';

export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
  /** Where it came from, for the log line. */
  source: string;
}

export const MAX_SHARDS = 100_000;

export function resolveShard(shardFlag: string | undefined, shardsFlag: string | undefined, env: Record<string, string | undefined>): Shard | undefined {
  const count = shardsFlag === undefined ? undefined : parseCount(shardsFlag, '--shards');
  if (shardFlag !== undefined) {
    const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(shardFlag);
    if (match === null) throw new KvrInputError('--shard', `expected i/N such as 2/3 (got ${describeValue(shardFlag)})`);
    const n = parseCount(match[2]!, '--shard');
    const i = Number(match[1]);
    if (i < 1 || i > n) throw new KvrInputError('--shard', `the index must be in 1..${n} (got ${describeValue(shardFlag)})`);
    if (count !== undefined && count !== n) throw new KvrInputError('--shards', `says ${count} shards, --shard says ${n}`);
    return n === 1 ? undefined : { index: i, count: n, source: '--shard' };
  }
  const slurm = env.SLURM_ARRAY_TASK_ID;
  if (slurm !== undefined && slurm !== '') {
    const id = parseIndex(slurm, 'SLURM_ARRAY_TASK_ID');
    const min = env.SLURM_ARRAY_TASK_MIN === undefined ? 0 : parseIndex(env.SLURM_ARRAY_TASK_MIN, 'SLURM_ARRAY_TASK_MIN');
    const step = env.SLURM_ARRAY_TASK_STEP === undefined ? 1 : parseCount(env.SLURM_ARRAY_TASK_STEP, 'SLURM_ARRAY_TASK_STEP');
    const n = count ?? (env.SLURM_ARRAY_TASK_COUNT === undefined ? undefined : parseCount(env.SLURM_ARRAY_TASK_COUNT, 'SLURM_ARRAY_TASK_COUNT'));
    if (n === undefined) throw new KvrInputError('--shards', 'SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT: pass --shards N (the size of the job array)');
    if ((id - min) % step !== 0) throw new KvrInputError('SLURM_ARRAY_TASK_ID', `${id} is not SLURM_ARRAY_TASK_MIN ${min} plus a multiple of the step ${step}`);
    const i = (id - min) / step + 1;
    if (i < 1 || i > n) throw new KvrInputError('SLURM_ARRAY_TASK_ID', `${id} is task ${i} of an array of ${n} (SLURM_ARRAY_TASK_MIN ${min}, step ${step}); expected 1..${n}`);
    return n === 1 ? undefined : { index: i, count: n, source: `SLURM_ARRAY_TASK_ID=${id}` };
  }
  const k8s = env.JOB_COMPLETION_INDEX;
  if (k8s !== undefined && k8s !== '') {
    const index = parseIndex(k8s, 'JOB_COMPLETION_INDEX');
    if (count === undefined) throw new KvrInputError('--shards', "JOB_COMPLETION_INDEX is set: pass --shards N (the Job's completions)");
    if (index >= count) throw new KvrInputError('JOB_COMPLETION_INDEX', `${index} is not below --shards ${count}`);
    return count === 1 ? undefined : { index: index + 1, count, source: `JOB_COMPLETION_INDEX=${index}` };
  }
  if (count !== undefined && count !== 1) {
    throw new KvrInputError('--shards', 'needs a shard index: --shard i/N, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX');
  }
  return undefined;
}

function parseCount(text: string, field: string): number {
  if (!/^\s*\d+\s*$/.test(text) || Number(text) < 1 || Number(text) > MAX_SHARDS) {
    throw new KvrInputError(field, `expected a count in 1..${MAX_SHARDS} (got ${describeValue(text)})`);
  }
  return Number(text);
}

function parseIndex(text: string, field: string): number {
  if (!/^\s*\d+\s*$/.test(text)) throw new KvrInputError(field, `expected an integer >= 0 (got ${describeValue(text)})`);
  return Number(text);
}
