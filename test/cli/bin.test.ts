import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

// The real executable (compiled by `npm test`'s pretest build), as a user runs it.
const bin = fileURLToPath(new URL('../../bin/kvr.js', import.meta.url));

function kvr(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
}

describe('bin/kvr.js', () => {
  test('a successful run exits 0 and prints JSON', () => {
    const run = kvr('simulate', '--gpus', '2', '--context', '1024', '--json');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout).schema).toBe('kvr-sim/result@1');
  });

  test('a reader that stops early (| head -c 1) ends the run quietly: exit 0, nothing on stderr', () => {
    // The per-rank table of 1024 ranks (90 KB) is longer than a pipe buffer (64 KB), so kvr is still writing when head has gone.
    const run = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${bin}" simulate --gpus 1024 --topology multi-node --context 131072 2>/tmp/kvr-epipe-$$.err | head -c 1 >/dev/null; status=$?; cat /tmp/kvr-epipe-$$.err; rm -f /tmp/kvr-epipe-$$.err; exit $status`], { encoding: 'utf8' });
    expect(run.stdout).toBe('');
    expect(run.status).toBe(0);
  });

  test('bad input exits 2 with one line and no stack trace', () => {
    const run = kvr('simulate', '--model', 'nope.json');
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^kvr: --model: cannot read "nope.json": ENOENT[^\n]*\n$/);
  });
});
