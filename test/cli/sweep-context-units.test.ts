import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { pointId } from '../../cli/sweep/spec.js';
import { MemoryIo } from '../support/memory-io.js';

const jsonl = (io: MemoryIo, path: string) =>
  io.files.get(path)!.trim().split('\n').map((line) => JSON.parse(line) as { context: unknown; context_tokens: number | null; error: string | null });

describe('sweep specs take contexts as figures label them (k = 1024)', () => {
  test('YAML axes and CSV rows accept 4k, 128k, 1M; context_tokens holds the count', async () => {
    const io = new MemoryIo({
      '/w/s.yaml': 'axes:\n  model: [llama2-7b]\n  gpus: [8]\n  strategy: [kvr-e]\n  context: [4k, 128k, 16384]\n',
      '/w/r.csv': 'model,gpus,context,strategy\nllama2-7b,8,1M,kvr-e\nllama2-7b,8,1.5k,tsp\n',
    });
    expect(await runCli(['sweep', '/w/s.yaml', '--jobs', '0', '--quiet'], io), io.err).toBe(0);
    expect(jsonl(io, 'kvr-out/s.jsonl').map((r) => [r.context, r.context_tokens, r.error])).toEqual([
      ['4k', 4096, null],
      ['128k', 131072, null],
      [16384, 16384, null],
    ]);
    expect(await runCli(['sweep', '/w/r.csv', '--jobs', '0', '--quiet'], io)).toBe(0);
    expect(jsonl(io, 'kvr-out/r.results.jsonl').map((r) => [r.context, r.context_tokens, r.error])).toEqual([
      ['1M', 1048576, null],
      ['1.5k', 1536, null],
    ]);
  });

  test('a row id does not depend on how the context is spelled', () => {
    expect(pointId({ model: 'llama2-7b', context: '4k' })).toBe(pointId({ model: 'llama2-7b', context: 4096 }));
    expect(pointId({ model: 'llama2-7b', context: '1M' })).toBe(pointId({ model: 'llama2-7b', context: 1048576 }));
  });

  test('anything else is refused in one line that names the field and both forms', async () => {
    const io = new MemoryIo({ '/w/bad.yaml': 'axes:\n  context: [4x]\n' });
    expect(await runCli(['sweep', '/w/bad.yaml', '--jobs', '0'], io)).toBe(2);
    expect(io.err).toBe(
      'kvr: spec.axes.context[0]: expected an integer in 1..16777216 or a string matching ^\\d+(\\.\\d+)?[kKmM]$ (k = 1024: "128k" = 131072, "1M" = 1048576) (got "4x")\n',
    );
  });
});
