import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { processIo, type CliIo } from '../../cli/io.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const lines = readFileSync(`${root}native/scripts/plans.txt`, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.trim().startsWith('#'))
  .map((line) => line.split('|').map((part) => part.trim()) as [string, string]);

describe('plans committed for the GPU host (native/scripts/plans)', () => {
  test.each(lines)('%s matches what kvr export-plan produces now', async (name, args) => {
    let out = '';
    const io: CliIo = { ...processIo, stdout: (text) => (out += text), stderr: () => undefined };
    const cwd = process.cwd();
    process.chdir(root);
    try {
      expect(await runCli(['export-plan', ...args.split(/\s+/)], io)).toBe(0);
    } finally {
      process.chdir(cwd);
    }
    expect(out).toBe(readFileSync(`${root}native/scripts/plans/${name}.json`, 'utf8'));
  });
});
