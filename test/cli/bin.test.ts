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

  test('bad input exits 2 with one line and no stack trace', () => {
    const run = kvr('simulate', '--model', 'nope.json');
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^kvr: --model: cannot read "nope.json": ENOENT[^\n]*\n$/);
  });
});
