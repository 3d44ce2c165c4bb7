import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

// kvr-exec under mpirun / srun: rank, world size and device from the launcher's environment
// (native/include/kvr/launch.hpp), checked through `kvr-exec launch-info`.
const kvrExec = fileURLToPath(new URL('../../build/kvr-exec', import.meta.url));
const plan = fileURLToPath(new URL('../../native/scripts/plans/check-tiny-llama-kvr-p4.json', import.meta.url));
const LAUNCHER_VARIABLES = [
  'OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK', 'PMI_RANK', 'PMI_SIZE', 'MPI_LOCALRANKID',
  'SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID', 'LOCAL_RANK',
];

function exec(args: string[], env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !LAUNCHER_VARIABLES.includes(k)));
  return spawnSync(kvrExec, args, { encoding: 'utf8', env: { ...clean, ...env } });
}
function launch(env: Record<string, string>, args: string[] = []) {
  const run = exec(['launch-info', ...args], env);
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

describe('kvr-exec launch-info', () => {
  test('alone: rank 0 of 1 on device 0', () => {
    expect(launch({})).toMatchObject({ schema: 'kvr-exec/launch@1', launcher: 'none', rank: 0, world_size: 1, device: 0 });
  });

  test('mpirun (Open MPI): OMPI_COMM_WORLD_RANK/SIZE, device from OMPI_COMM_WORLD_LOCAL_RANK', () => {
    expect(launch({ OMPI_COMM_WORLD_RANK: '5', OMPI_COMM_WORLD_SIZE: '8', OMPI_COMM_WORLD_LOCAL_RANK: '1' })).toMatchObject({
      launcher: 'openmpi', rank: 5, world_size: 8, local_rank: 1, local_rank_from: 'OMPI_COMM_WORLD_LOCAL_RANK', device: 1, ignored: [],
    });
  });

  test('mpirun inside an salloc shell: Open MPI wins, the shell task\'s SLURM variables are listed as ignored', () => {
    expect(launch({ OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '4', SLURM_PROCID: '0', SLURM_NTASKS: '1' })).toMatchObject({
      launcher: 'openmpi', rank: 3, world_size: 4, local_rank: 3, local_rank_from: 'rank',
      ignored: ['slurm (SLURM_PROCID=0, SLURM_NTASKS=1)'],
    });
  });

  test('MPICH / Intel MPI / srun --mpi=pmi2: PMI_RANK/SIZE, device from MPI_LOCALRANKID', () => {
    expect(launch({ PMI_RANK: '2', PMI_SIZE: '4', MPI_LOCALRANKID: '0' })).toMatchObject({ launcher: 'pmi', rank: 2, world_size: 4, device: 0 });
  });

  test('srun: SLURM_PROCID/NTASKS with SLURM_LOCALID; a consistent PMI pair is not reported', () => {
    expect(launch({ SLURM_PROCID: '9', SLURM_NTASKS: '16', SLURM_LOCALID: '1', PMI_RANK: '9', PMI_SIZE: '16' })).toMatchObject({
      launcher: 'pmi', rank: 9, world_size: 16, local_rank: 1, local_rank_from: 'SLURM_LOCALID', ignored: [],
    });
    expect(launch({ SLURM_PROCID: '9', SLURM_NTASKS: '16', SLURM_LOCALID: '1' })).toMatchObject({ launcher: 'slurm', device: 1 });
  });

  test('LOCAL_RANK overrides the launcher\'s local rank; --rank/--world-size override the launcher', () => {
    expect(launch({ OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_LOCAL_RANK: '1', LOCAL_RANK: '0' })).toMatchObject({
      local_rank: 0, local_rank_from: 'LOCAL_RANK', device: 0,
    });
    expect(launch({ SLURM_PROCID: '1', SLURM_NTASKS: '2' }, ['--rank', '0', '--world-size', '1'])).toMatchObject({
      launcher: 'cli', rank: 0, world_size: 1, ignored: ['slurm (SLURM_PROCID=1, SLURM_NTASKS=2)'],
    });
  });

  test.each([
    [{ PMI_RANK: '3' }, [], /PMI_RANK is set but PMI_SIZE is not/],
    [{ SLURM_NTASKS: '4' }, [], /SLURM_NTASKS is set but SLURM_PROCID is not/],
    [{ OMPI_COMM_WORLD_RANK: '4', OMPI_COMM_WORLD_SIZE: '4' }, [], /rank 4 is not below the world size 4/],
    [{ OMPI_COMM_WORLD_RANK: 'one', OMPI_COMM_WORLD_SIZE: '4' }, [], /OMPI_COMM_WORLD_RANK: expected a non-negative integer/],
    [{ SLURM_PROCID: '0', SLURM_NTASKS: '0' }, [], /world size must be at least 1/],
    [{ LOCAL_RANK: '-1' }, [], /LOCAL_RANK: expected a non-negative integer/],
    [{}, ['--rank', '1'], /--rank and --world-size go together/],
  ] as [Record<string, string>, string[], RegExp][])('bad launch environment %o %o: one line, exit 2', (env, args, message) => {
    const run = exec(['launch-info', ...args], env);
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(message);
  });

  test('time-ops and compare refuse to run the whole plan in each of several launched processes', () => {
    for (const args of [['time-ops', plan, '--ops', '0'], ['compare', plan]]) {
      const run = exec(args, { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2' });
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(/started as rank 0 of 2 by openmpi; (time-ops|compare) runs every rank in one process/);
    }
    // One process (world size 1) runs as before.
    expect(exec(['run', plan, '--warmup', '0', '--repeats', '1'], { SLURM_PROCID: '0', SLURM_NTASKS: '1' }).status).toBe(0);
  });
});
