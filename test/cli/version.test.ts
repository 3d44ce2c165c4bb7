import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { MemoryIo } from '../support/memory-io.js';

test("kvr --version prints package.json's version, exit 0", async () => {
  const io = new MemoryIo({});
  expect(await runCli(['--version'], io)).toBe(0);
  expect(io.out).toBe(`${(JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version}\n`);
});
