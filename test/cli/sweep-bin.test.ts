import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';

// The real executable (compiled by `npm test`'s pretest build), killed half way as a user would.
const bin = fileURLToPath(new URL('../../bin/kvr.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kvr-sweep-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** A sweep run in `dir` writes kvr-out/<spec name><ext> there. */
const outputOf = (spec: string, ext: string): string => join(dir, 'kvr-out', basename(spec).replace(/\.yaml$/, ext));

// 32 partition searches on 16 GPUs: a few seconds on one worker.
const SPEC = `axes:
  model: [llama2-7b, falcon-7b]
  gpus: [16]
  bandwidth: ["300 GB/s", "10 GB/s"]
  context: [4096, 6144, 8192, 12288, 16384, 20480, 24576, 32768]
  strategy: [kvr-s]
`;

function rows(path: string): number {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).length : 0;
}

/**
 * Starts a sweep whose worker holds after `after` rows (KVR_TEST_SWEEP_HOLD, cli/sweep/worker.ts)
 * and sends `signal` once a row is on disk: the signal always lands mid-run, with rows done and
 * rows left, however fast or loaded the machine. For SIGINT the hold is released once the sweep
 * says it is finishing the rows in flight. Resolves with its exit and output.
 */
function killMidRun(spec: string, signal: NodeJS.Signals, after: number): Promise<{ code: number | null; killedBy: NodeJS.Signals | null; out: string; err: string }> {
  const holdFile = `${spec}.hold`;
  writeFileSync(holdFile, '');
  return new Promise((resolve) => {
    const env = { ...process.env, KVR_TEST_SWEEP_HOLD: `${after}:${holdFile}` };
    const child = spawn(process.execPath, [bin, 'sweep', spec, '--jobs', '1'], { stdio: ['ignore', 'pipe', 'pipe'], env, cwd: dir });
    let out = '';
    let err = '';
    let sent = false;
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setInterval(() => {
      if (!sent && rows(outputOf(spec, '.jsonl')) > 0) {
        sent = true;
        child.kill(signal);
      }
      if (sent && signal === 'SIGINT' && err.includes('finishing the rows in flight')) rmSync(holdFile, { force: true });
    }, 20);
    child.on('exit', (code, killedBy) => {
      clearInterval(timer);
      rmSync(holdFile, { force: true });
      resolve({ code, killedBy, out, err });
    });
  });
}

describe('kvr sweep as a process', () => {
  const reference = join(dir, 'ref.yaml');
  writeFileSync(reference, SPEC);

  test('an uninterrupted run, for reference', () => {
    const run = spawnSync(process.execPath, [bin, 'sweep', reference, '--jobs', '2'], { encoding: 'utf8', cwd: dir });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^sweep .*ref.yaml: 32 scenarios; computed 32, reused 0/);
    expect(rows(join(dir, 'kvr-out', 'ref.csv'))).toBe(33);
  }, 120_000);

  test.each([['SIGKILL'], ['SIGINT']] as const)('killed mid-run (%s), with rows done and rows left; run again: only the rest is computed, the files equal the reference', async (signal) => {
    const spec = join(dir, `${signal}.yaml`);
    writeFileSync(spec, SPEC);
    const killed = await killMidRun(spec, signal, 4);
    const done = rows(outputOf(spec, '.jsonl'));
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(32);
    if (signal === 'SIGKILL') {
      expect([killed.code, killed.killedBy]).toEqual([null, 'SIGKILL']);
    } else {
      // Ctrl-C: the rows in flight (the held batch and the one queued behind it) are finished and written.
      expect(killed.code).toBe(0);
      expect(killed.err).toContain('interrupted; finishing the rows in flight');
      expect(killed.out).toContain(`computed ${done}, reused 0`);
      expect(done).toBeGreaterThan(4);
    }
    const again = spawnSync(process.execPath, [bin, 'sweep', spec, '--jobs', '2'], { encoding: 'utf8', cwd: dir });
    expect(again.status).toBe(0);
    // The kill came between rows, so no row is torn: every row on disk is reused, the rest computed.
    expect(again.stdout).toContain(`computed ${32 - done}, reused ${done}`);
    expect(readFileSync(outputOf(spec, '.csv'), 'utf8')).toBe(readFileSync(join(dir, 'kvr-out', 'ref.csv'), 'utf8'));
    expect(readFileSync(outputOf(spec, '.jsonl'), 'utf8')).toBe(readFileSync(join(dir, 'kvr-out', 'ref.jsonl'), 'utf8'));
  }, 120_000);
});
