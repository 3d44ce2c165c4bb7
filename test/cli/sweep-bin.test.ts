import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';

// The real executable (compiled by `npm test`'s pretest build), killed half way as a user would.
const bin = fileURLToPath(new URL('../../bin/kvr.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kvr-sweep-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// 32 partition searches on 16 GPUs: a few seconds on one worker, so the signal lands mid-run.
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

/** Starts a sweep and sends `signal` once some rows are on disk; resolves with its output. */
function killHalfWay(spec: string, signal: NodeJS.Signals): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, 'sweep', spec, '--jobs', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setInterval(() => {
      if (rows(spec.replace(/\.yaml$/, '.jsonl')) > 0) {
        clearInterval(timer);
        child.kill(signal);
      }
    }, 20);
    child.on('exit', (code) => {
      clearInterval(timer);
      resolve({ code, out, err });
    });
  });
}

describe('kvr sweep as a process', () => {
  const reference = join(dir, 'ref.yaml');
  writeFileSync(reference, SPEC);

  test('an uninterrupted run, for reference', () => {
    const run = spawnSync(process.execPath, [bin, 'sweep', reference, '--jobs', '2'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^sweep .*ref.yaml: 32 scenarios; computed 32, reused 0/);
    expect(rows(join(dir, 'ref.csv'))).toBe(33);
  }, 120_000);

  test.each([['SIGKILL'], ['SIGINT']] as const)('killed half way (%s), run again: only the rest is computed, the files equal the reference', async (signal) => {
    const spec = join(dir, `${signal}.yaml`);
    writeFileSync(spec, SPEC);
    const killed = await killHalfWay(spec, signal);
    const done = rows(spec.replace(/\.yaml$/, '.jsonl'));
    const finishedFirst = /computed 32, reused 0/.test(killed.out); // the signal came too late (a loaded machine)
    // A signal after the last row, once the sweep has let go of SIGINT, ends the process at once.
    const lateSignal = killed.code === null && done === 32;
    if (finishedFirst) {
      expect(killed.code === 0 || lateSignal).toBe(true);
    } else if (signal === 'SIGINT' && !lateSignal) {
      expect(killed.code).toBe(0);
      expect(killed.err).toContain('interrupted; finishing the rows in flight');
    } else {
      expect(killed.code).toBe(null);
    }
    const again = spawnSync(process.execPath, [bin, 'sweep', spec, '--jobs', '2'], { encoding: 'utf8' });
    expect(again.status).toBe(0);
    const match = /computed (\d+), reused (\d+)/.exec(again.stdout)!;
    const [computed, reused] = [Number(match[1]), Number(match[2])];
    expect(computed + reused).toBe(32);
    expect(reused).toBeGreaterThanOrEqual(done - 1); // a torn last row is redone
    if (done < 32) expect(computed).toBeGreaterThan(0);
    expect(readFileSync(spec.replace(/\.yaml$/, '.csv'), 'utf8')).toBe(readFileSync(join(dir, 'ref.csv'), 'utf8'));
    expect(readFileSync(spec.replace(/\.yaml$/, '.jsonl'), 'utf8')).toBe(readFileSync(join(dir, 'ref.jsonl'), 'utf8'));
  }, 120_000);
});
