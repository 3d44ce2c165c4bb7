import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { runCli } from '../../cli/main.js';
import { GPU_PRESETS } from '../../sim/hardware/gpu-presets.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';
import { MemoryIo } from '../support/memory-io.js';
import { propertyOptions } from '../support/property.js';

/** Flags that take a value, with values that are mostly plausible and sometimes not. */
const VALUE_FLAGS: Record<string, fc.Arbitrary<string>> = {
  '--model': fc.constantFrom(...Object.keys(MODEL_PRESETS), 'a.json', 'b.json', 'missing.json', 'llama9'),
  '--gpu': fc.constantFrom(...Object.keys(GPU_PRESETS), 'a.json', 'b.json', 'c.json', 'x100'),
  '--gpus': fc.oneof(fc.integer({ min: -2, max: 12 }).map(String), fc.constantFrom('1.5', 'eight', '', '4096')),
  '--topology': fc.constantFrom('switch', 'ring', 'pcie', 'multi-node', 'c.json', 'a.json', 'torus'),
  '--bandwidth': fc.constantFrom('300 GB/s', '10 GB/s', '0', '0 GB/s', '300', '-1 GB/s', '5 s', 'fast'),
  '--latency': fc.constantFrom('2 us', '0', '1 ms', '2', '-1 us', '3 GB'),
  '--context': fc.oneof(fc.integer({ min: -5, max: 20000 }).map(String), fc.constantFrom('16k', '1e4', '')),
  '--strategy': fc.constantFrom('single', 'tsp', 'tsp-causal', 'kvr', 'kvr-e', 'kvr-s', 'kvr-p', 'ring'),
  // grid and exhaustive are left out: a valid one may rightly take a minute.
  '--search': fc.constantFrom('fast', 'random', ''),
  '--granularity': fc.constantFrom('64', '1', '0', '-3', 'x', '100000'),
  '--table': fc.constantFrom('a.json', 'b.json', 'missing.json'),
  '--predictor': fc.constantFrom('model', 'interpolate', 'oracle'),
  '--partition': fc.oneof(
    fc.array(fc.integer({ min: -5, max: 5000 }), { minLength: 1, maxLength: 5 }).map((a) => a.join(',')),
    fc.constantFrom('', ',', 'a,b', '1,,2'),
  ),
  '--gpus-per-node': fc.integer({ min: -1, max: 9 }).map(String),
  '--nic-bandwidth': fc.constantFrom('50 GB/s', '0', 'x'),
  '--nic-latency': fc.constantFrom('5 us', '0', 'y'),
  '--gpus-per-switch': fc.integer({ min: -1, max: 5 }).map(String),
  '--trace': fc.constantFrom('t.json', '/nonexistent/t.json'),
};

const token = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...Object.keys(VALUE_FLAGS)).chain((flag) => VALUE_FLAGS[flag]!.map((value) => [flag, value])) },
  { weight: 1, arbitrary: fc.constantFrom('--json', '--help', '--version').map((flag) => [flag]) },
  { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...Object.keys(VALUE_FLAGS))).map((stray) => [stray]) },
);

const argvArb = fc
  .tuple(
    fc.constantFrom('simulate', 'simulate', 'simulate', 'simulate', 'partition', 'demo', 'nope'),
    fc.array(token, { maxLength: 8 }),
  )
  .map(([command, rest]) => [command, ...rest.flat()]);

const validModel = { ...MODEL_PRESETS['llama2-7b']!, layers: 2 };
const validGpu = {
  name: 'g',
  peak_flops: '100 TFLOP/s',
  hbm_bandwidth: '1 TB/s',
  memory: '40 GiB',
  launch_overhead: '2 us',
  efficiency: { gemm: 0.8, attention: 0.6, memory: 0.9 },
};
const validTopology = {
  nodes: [{ id: 'a', kind: 'gpu' }, { id: 's', kind: 'switch' }, { id: 'b', kind: 'gpu' }],
  links: [{ a: 'a', b: 's', bandwidth: '10 GB/s' }, { a: 's', b: 'b', bandwidth: '20 GB/s' }],
};

/** A valid object with one field dropped or replaced by arbitrary JSON. */
function mutated(object: Record<string, unknown>): fc.Arbitrary<string> {
  const keys = Object.keys(object);
  return fc.oneof(
    fc.constant(JSON.stringify(object)),
    fc.constantFrom(...keys).map((key) => {
      const { [key]: _dropped, ...rest } = object;
      return JSON.stringify(rest);
    }),
    fc.tuple(fc.constantFrom(...keys, 'extra'), fc.jsonValue()).map(([key, value]) => JSON.stringify({ ...object, [key]: value })),
  );
}

const fileContents = fc.oneof(
  mutated(validModel),
  mutated(validGpu),
  mutated(validTopology),
  fc.json(),
  fc.string(),
);

const PROGRESS_LINE = /^[a-z][\w -]*: \d+\/\d+ +\d+\.\d%/;

describe('CLI under random input', () => {
  test('random argument vectors and files: exit 0, or exit 2 with one line naming the problem; never a crash', async () => {
    await fc.assert(
      fc.asyncProperty(argvArb, fileContents, fileContents, fileContents, async (argv, a, b, c) => {
        const io = new MemoryIo({ 'a.json': a, 'b.json': b, 'c.json': c });
        const code = await runCli(argv, io);
        expect([0, 2]).toContain(code);
        if (code === 2) {
          expect(io.out).toBe('');
          const lines = io.err.trimEnd().split('\n');
          expect(lines).toHaveLength(1);
          expect(lines[0]).toMatch(/^kvr: \S/);
          expect(io.err).not.toMatch(/\n\s+at /);
        } else {
          // Only progress may go to stderr on success (a search past PROGRESS_AFTER_MS on the
          // MemoryIo clock prints its bar, e.g. "kvr-s search: 200/200 100.0%  100.0/s  ETA 0s").
          const other = io.err.split('\n').filter((line) => line !== '' && !PROGRESS_LINE.test(line));
          expect(other).toEqual([]);
        }
      }),
      propertyOptions(400),
    );
  });
});
