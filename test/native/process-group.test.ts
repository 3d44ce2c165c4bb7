import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';

// kvr-exec with one process per GPU (native/include/kvr/process_group.hpp): which part of a plan each
// launched process runs, the NCCL id file rendezvous, and run's checks of a launched job, all
// without a GPU (the GPU run itself is native/README.md's worked example).
const kvrExec = fileURLToPath(new URL('../../build/kvr-exec', import.meta.url));
const plans = fileURLToPath(new URL('../../native/scripts/plans/', import.meta.url));
const kvrPlan = join(plans, 'check-tiny-llama-kvr-p4.json');
const tspPlan = join(plans, 'check-tiny-falcon-tsp-p4.json');
const dir = mkdtempSync(join(tmpdir(), 'kvr-process-group-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LAUNCHER_VARIABLES = [
  'OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_RANK', 'PMI_RANK', 'PMI_SIZE', 'MPI_LOCALRANKID',
  'SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID', 'LOCAL_RANK', 'SLURM_JOB_ID', 'SLURM_STEP_ID', 'PMIX_NAMESPACE',
  'OMPI_MCA_ess_base_jobid', 'KVR_JOB_ID', 'KVR_NCCL_ID_FILE', 'KVR_RENDEZVOUS_TIMEOUT',
];
function cleanEnv(env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !LAUNCHER_VARIABLES.includes(k)));
  return { ...clean, ...env };
}
function exec(args: string[], env: Record<string, string> = {}) {
  return spawnSync(kvrExec, args, { encoding: 'utf8', env: cleanEnv(env) });
}
// Several processes at once, as a launcher starts them.
function launchAll(args: string[], envs: Record<string, string>[]) {
  return Promise.all(envs.map((env) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(kvrExec, args, { env: cleanEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  })));
}
function layers(planPath: string) {
  return (JSON.parse(readFileSync(planPath, 'utf8')) as { model: { layers: number } }).model.layers;
}

describe('kvr-exec launch-info PLAN: the part of the plan each launched process runs', () => {
  test('kvr over 4 processes: rank r computes 4 ops a layer (plus lm_head on the last), sends each layer to r+1, receives from r-1', () => {
    const L = layers(kvrPlan);
    for (let r = 0; r < 4; r++) {
      const run = exec(['launch-info', kvrPlan], { SLURM_PROCID: String(r), SLURM_NTASKS: '4', SLURM_LOCALID: String(r % 2) });
      expect(run.status, run.stderr).toBe(0);
      const info = JSON.parse(run.stdout) as Record<string, unknown>;
      expect(info).toMatchObject({ launcher: 'slurm', rank: r, world_size: 4, device: r % 2 });
      expect(info['runs']).toEqual({
        compute: 4 * L + (r === 3 ? 1 : 0),
        sends: r < 3 ? L : 0,
        receives: r > 0 ? L : 0,
        send_to: r < 3 ? [r + 1] : [],
        receive_from: r > 0 ? [r - 1] : [],
        lm_head: r === 3,
      });
    }
  });

  test('tsp over 4 processes: a ring all-gather, p-1 = 3 steps a layer to the successor and from the predecessor', () => {
    const L = layers(tspPlan);
    const run = exec(['launch-info', tspPlan], { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '4' });
    expect(run.status, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as Record<string, unknown>)['runs']).toMatchObject({
      sends: 3 * L, receives: 3 * L, send_to: [1], receive_from: [3], lm_head: false,
    });
  });

  test('alone, the process runs every rank; the id file and job tag are reported from the environment', () => {
    const info = JSON.parse(exec(['launch-info', kvrPlan], { KVR_NCCL_ID_FILE: '/shared/id', SLURM_JOB_ID: '42', SLURM_STEP_ID: '3' }).stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ runs: 'every rank', nccl_id_file: '/shared/id', nccl_id_file_from: 'KVR_NCCL_ID_FILE', job: 'slurm:42.3' });
    const flagged = JSON.parse(exec(['launch-info', '--nccl-id-file', '/x/id', '--rendezvous-timeout', '7.5'], { KVR_NCCL_ID_FILE: '/shared/id' }).stdout) as Record<string, unknown>;
    expect(flagged).toMatchObject({ nccl_id_file: '/x/id', nccl_id_file_from: '--nccl-id-file', rendezvous_timeout_s: 7.5, job: '' });
  });

  test.each([
    [['launch-info', kvrPlan], { PMI_RANK: '0', PMI_SIZE: '2' }, /plan\.gpus: the plan has 4 ranks, the launcher \(pmi\) started 2 processes/],
    [['launch-info', '--rendezvous-timeout', '0'], {}, /--rendezvous-timeout: expected a number of seconds in \(0, 86400\]/],
    [['launch-info'], { KVR_RENDEZVOUS_TIMEOUT: 'soon' }, /KVR_RENDEZVOUS_TIMEOUT: expected a number of seconds/],
  ] as [string[], Record<string, string>, RegExp][])('bad launch %o %o: one line, exit 2', (args, env, message) => {
    const run = exec(args, env);
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(message);
  });
});

describe('kvr-exec rendezvous-check: the NCCL id file', () => {
  test('three processes launched at once agree on the id rank 0 wrote; the file names the world size and job', async () => {
    const idFile = join(dir, 'id-three');
    const results = await launchAll(['rendezvous-check', '--nccl-id-file', idFile, '--rendezvous-timeout', '20'],
      [0, 1, 2].map((r) => ({ PMI_RANK: String(r), PMI_SIZE: '3', SLURM_JOB_ID: '77' })));
    const docs = results.map((r) => {
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { rank: number; id_digest: string; id_bytes: number; job: string };
    });
    expect(docs.map((d) => d.rank)).toEqual([0, 1, 2]);
    expect(new Set(docs.map((d) => d.id_digest)).size).toBe(1);
    expect(docs[0]).toMatchObject({ id_bytes: 32, job: 'slurm:77' });
    const [header, hex] = readFileSync(idFile, 'utf8').split('\n');
    expect(header).toBe('kvr-nccl-id@1 world_size=3 job=slurm:77');
    expect(hex).toMatch(/^[0-9a-f]{64}$/);
  });

  test('a rank that starts before rank 0 waits for the file', async () => {
    const idFile = join(dir, 'id-late');
    const waiting = launchAll(['rendezvous-check', '--nccl-id-file', idFile, '--rendezvous-timeout', '20'], [{ OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '2' }]);
    // Rank 0 starts 1 s later; rank 1 polled for part of that second at least (it may itself start
    // late on a loaded machine, so only a tenth of it is asked for).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const first = exec(['rendezvous-check', '--nccl-id-file', idFile], { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2' });
    expect(first.status, first.stderr).toBe(0);
    const [late] = await waiting;
    expect(late!.status, late!.stderr).toBe(0);
    const waited = JSON.parse(late!.stdout) as { id_digest: string; waited_s: number };
    expect(waited.id_digest).toBe((JSON.parse(first.stdout) as { id_digest: string }).id_digest);
    expect(waited.waited_s).toBeGreaterThan(0.1);
  });

  test('no file in time, or a file of another job or world size: one line naming the path, exit 2', () => {
    const missing = exec(['rendezvous-check', '--nccl-id-file', join(dir, 'never'), '--rendezvous-timeout', '0.3'], { SLURM_PROCID: '1', SLURM_NTASKS: '2' });
    expect(missing.status).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/--nccl-id-file: rank 1 of 2 found no NCCL id for this job in .*never after 0\.3 s \(no file: did rank 0 start/);
    const stale = join(dir, 'id-stale');
    writeFileSync(stale, 'kvr-nccl-id@1 world_size=2 job=slurm:1\n00ff\n');
    for (const [env, holds] of [
      [{ SLURM_PROCID: '1', SLURM_NTASKS: '2', SLURM_JOB_ID: '2' }, 'this job expects "kvr-nccl-id@1 world_size=2 job=slurm:2"'],
      [{ SLURM_PROCID: '1', SLURM_NTASKS: '3', SLURM_JOB_ID: '1' }, 'this job expects "kvr-nccl-id@1 world_size=3 job=slurm:1"'],
    ] as [Record<string, string>, string][]) {
      const run = exec(['rendezvous-check', '--rendezvous-timeout', '0.2'], { ...env, KVR_NCCL_ID_FILE: stale });
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(holds);
    }
    // The same job reads it.
    expect(exec(['rendezvous-check', '--nccl-id-file', stale], { SLURM_PROCID: '1', SLURM_NTASKS: '2', SLURM_JOB_ID: '1' }).status).toBe(0);
  });

  test('rank 0 cannot write into a missing folder: one line, exit 2', () => {
    const run = exec(['rendezvous-check', '--nccl-id-file', join(dir, 'no-such-folder', 'id')], { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '2' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^kvr-exec: invalid-argument: --nccl-id-file: rank 0 cannot write the NCCL id to .*no-such-folder/);
  });
});

describe('kvr-exec run under a launcher: checked before any rendezvous or GPU time', () => {
  const rank1of4 = { OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_SIZE: '4' };
  const idFile = join(dir, 'run-id');
  test.each([
    [['--backend', 'cuda', '--out', 'r.json'], { PMI_RANK: '0', PMI_SIZE: '2', KVR_NCCL_ID_FILE: idFile }, 2, /plan\.gpus: the plan has 4 ranks, the launcher \(pmi\) started 2 processes/],
    [['--backend', 'cuda', '--out', 'r-{rank}.json'], rank1of4, 2, /--nccl-id-file: rank 1 of 4 \(openmpi\) needs a path on a filesystem every node shares/],
    [['--out', 'r-{rank}.json', '--nccl-id-file', idFile], rank1of4, 2, /backend: the cpu backend runs every rank of a plan in one process; .*--backend cuda/],
    [['--backend', 'cuda', '--out', 'r.json', '--nccl-id-file', idFile], rank1of4, 2, /--out: rank 1 of 4 \(openmpi\) writes its own file: give a path with \{rank\}/],
    [['--backend', 'cuda', '--out', 'r-{rank}.json', '--trace', 't.json', '--nccl-id-file', idFile], rank1of4, 2, /--trace: .*kvr-exec merge/],
    [['--backend', 'cuda', '--out', 'r-{rank}.json', '--transport', 'peer', '--nccl-id-file', idFile], rank1of4, 2, /--transport: one process per GPU moves K,V over NCCL/],
    [['--backend', 'cuda', '--out', 'r-{rank}.json', '--sm-partitions', '2', '--nccl-id-file', idFile], rank1of4, 2, /--sm-partitions: .*expected 0/],
    // This build has no CUDA: every rank stops at once, none waits for an id that will not come.
    [['--backend', 'cuda', '--out', 'r-{rank}.json', '--nccl-id-file', idFile], rank1of4, 3, /^kvr-exec: built-without-cuda: /],
  ] as [string[], Record<string, string>, number, RegExp][])('run %o %o: one line, exit %d', (args, env, status, message) => {
    const started = Date.now();
    const run = exec(['run', kvrPlan, ...args], env);
    expect(run.status).toBe(status);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(message);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
