import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { MemoryIo } from '../support/memory-io.js';

/** MemoryIo's clock advances `tick` ms on every read: a long search is one with a slow clock. */
function io(tick: number, tty: boolean): MemoryIo {
  const m = new MemoryIo({});
  m.tick = tick;
  m.stderrIsTTY = tty;
  return m;
}

const PARTITION = ['partition', '--model', 'llama2-7b', '--gpus', '4', '--context', '4096', '--search', 'grid', '--json'];

describe('progress of kvr-s searches, calibrate and validate', () => {
  test('a search that runs over 2 s shows a bar with ETA on a terminal, ending at the simulations it ran', async () => {
    const m = io(10, true);
    expect(await runCli(PARTITION, m)).toBe(0);
    const { simulations } = JSON.parse(m.out) as { simulations: number };
    expect(m.err).toMatch(/^\rkvr-s search \[#*\.*\] \d+\/\d+ [\d.]+%  [\d.]+\/s  ETA \S+\u001b\[K/);
    expect(m.err).toMatch(new RegExp(`\\rkvr-s search \\[#{30}\\] ${simulations}/${simulations} 100\\.0%  [\\d.]+/s  ETA 0s\u001b\\[K\n$`));
  });

  test('a log gets plain lines every 10 s; --quiet and short searches print nothing', async () => {
    const log = io(10, false);
    expect(await runCli(PARTITION, log)).toBe(0);
    const lines = log.err.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((line) => /^kvr-s search: \d+\/\d+ [\d.]+%  [\d.]+\/s  ETA \S+$/.test(line))).toBe(true);
    const quiet = io(10, true);
    expect(await runCli([...PARTITION, '--quiet'], quiet)).toBe(0);
    expect(quiet.err).toBe('');
    const short = io(0.1, true);
    expect(await runCli(PARTITION, short)).toBe(0);
    expect(short.err).toBe('');
  });

  test('simulate --strategy kvr-s and compare show the search; an exhaustive search knows its total', async () => {
    const m = io(10, true);
    const argv = ['--model', 'llama2-7b', '--gpus', '3', '--context', '2048', '--search', 'exhaustive', '--granularity', '32'];
    expect(await runCli(['simulate', ...argv, '--strategy', 'kvr-s', '--json'], m)).toBe(0);
    // C(63, 2) partitions on the 32-token lattice of 2048 tokens over 3 ranks.
    expect(m.err).toMatch(/\d+\/1953 /);
    expect(m.err).toMatch(/\rkvr-s search \[#{30}\] 1953\/1953 100\.0%  [\d.]+\/s  ETA 0s\u001b\[K\n$/);
    const c = io(10, true);
    expect(await runCli(['compare', ...argv, '--json'], c)).toBe(0);
    expect(c.err).toMatch(/\rkvr-s search \[#{30}\] 1953\/1953 100\.0%/);
  });

  test('a big simulate (its stages past 2 s: plan, costs, routes, engine, result) shows a simulate bar on a terminal and a line in a log; --quiet and short runs print nothing', async () => {
    const argv = ['simulate', '--model', 'llama2-7b', '--gpus', '4', '--context', '4096', '--strategy', 'kvr-e', '--json'];
    const tty = io(1000, true);
    expect(await runCli(argv, tty)).toBe(0);
    expect(JSON.parse(tty.out).ttft_s).toBeGreaterThan(0);
    expect(tty.err).toMatch(/^\rsimulate \[#*\.*\] [1-5]\/5 /);
    expect(tty.err).toMatch(/\rsimulate \[#{30}\] 5\/5 100\.0%  [\d.]+\/s  ETA 0s\u001b\[K\n$/);
    // A log: the first line once 2 s have passed (then every 10 s), never a carriage return.
    const log = io(1000, false);
    expect(await runCli(argv, log)).toBe(0);
    const lines = log.err.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((line) => /^simulate: [1-5]\/5 [\d.]+%  [\d.]+\/s  ETA \S+$/.test(line))).toBe(true);
    const quiet = io(1000, true);
    expect(await runCli([...argv, '--quiet'], quiet)).toBe(0);
    expect(quiet.err).toBe('');
    const short = io(0.1, true);
    expect(await runCli(argv, short)).toBe(0);
    expect(short.err).toBe('');
    // The bar only observes: the result is the same bits.
    expect(tty.out).toBe(short.out);
  });

  test('calibrate: a bar over its executor runs with the log lines above it', async () => {
    const m = io(1000, true);
    expect(await runCli(['calibrate', '--model', 'tiny-llama', '--tokens', '16,32', '--prefixes', '0,32', '--link-tokens', '16', '--repeats', '1', '--warmup', '0', '--out', 'p.json'], m)).toBe(0);
    expect(m.err).toMatch(/\r\u001b\[Ktimed tiny-llama on 2 chunk sizes x 2 prefixes\n/);
    expect(m.err).toMatch(/\rcalibrate \[#{30}\] (\d+)\/\1 100\.0%  [\d.]+\/s  ETA 0s\u001b\[K\n$/);
    const v = io(1000, true);
    v.files.set('p.json', m.files.get('p.json')!);
    expect(await runCli(['validate', '--gpu', 'p.json', '--single', '64', '--ranks', '2', '--contexts', '128', '--strategies', 'kvr-e', '--repeats', '1', '--out', 'val'], v)).toBe(0);
    expect(v.err).toMatch(/\rvalidate \[#{30}\] 3\/3 100\.0%  [\d.]+\/s  ETA 0s\u001b\[K\n$/);
  }, 60_000);
});
