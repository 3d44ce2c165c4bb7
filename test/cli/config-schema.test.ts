import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { loadCatalogue, loadSchema, loadSweepSpec } from '../../cli/config/load-config.js';
import { checkAgainstSchema } from '../../cli/config/schema-check.js';
import { generateSchemas, SCHEMA_TARGETS } from '../../cli/config/schema-gen.js';
import { projectRoot } from '../../cli/project-root.js';
import { expandSpec, SCENARIO_KEYS } from '../../cli/sweep/spec.js';
import type { SweepSpec } from '../../cli/config/types.js';
import { KvrInputError } from '../../sim/errors.js';
import { STRATEGY_NAMES } from '../../sim/plan/plan.js';
import { MemoryIo } from '../support/memory-io.js';
import { propertyOptions } from '../support/property.js';

const root = projectRoot();

function specError(text: string, path = '/cfg/spec.yaml'): string {
  try {
    loadSweepSpec(new MemoryIo({ [path]: text }), path);
  } catch (error) {
    if (error instanceof KvrInputError) return error.message;
    throw error;
  }
  return 'accepted';
}

describe('generated JSON Schemas', () => {
  test('the committed schemas/ files are what npm run schemas writes from cli/config/types.ts', () => {
    const generated = generateSchemas(join(root, 'cli', 'config', 'types.ts'));
    expect([...generated.keys()].sort()).toEqual(SCHEMA_TARGETS.map((t) => t.file).sort());
    for (const [file, text] of generated) {
      const committed = readFileSync(join(root, 'schemas', file), 'utf8');
      // A failure here means the types changed: run `npm run schemas` and commit schemas/.
      expect(committed, `schemas/${file} is out of date: run npm run schemas`).toBe(text);
    }
  }, 60_000);

  test('the sweep schema follows the code: every scenario key, every strategy', () => {
    const schema = loadSchema('sweep-spec.schema.json');
    expect(Object.keys(schema.definitions!.SweepAxes!.properties!)).toEqual([...SCENARIO_KEYS]);
    expect(Object.keys(schema.definitions!.SweepScenario!.properties!).sort()).toEqual([...SCENARIO_KEYS].sort());
    expect(schema.definitions!.SweepScenario!.properties!.strategy!.enum).toEqual([...STRATEGY_NAMES]);
    expect(schema.additionalProperties).toBe(false);
  });
});

describe('sweep spec validation: one line naming the path and what is allowed', () => {
  test.each([
    ['axes:\n  context: [4096, 8192, -1]\n', 'spec.axes.context[2]: expected an integer in 1..16777216 or a string matching ^\\d+(\\.\\d+)?[kKmM]$ (k = 1024: "128k" = 131072, "1M" = 1048576) (got -1)'],
    ['axes:\n  context: [4096, "8x"]\n', 'spec.axes.context[1]: expected an integer in 1..16777216 or a string matching ^\\d+(\\.\\d+)?[kKmM]$ (k = 1024: "128k" = 131072, "1M" = 1048576) (got "8x")'],
    ['axes:\n  contexts: [4096]\n', 'spec.axes.contexts: unknown field (allowed: model, gpu, topology'],
    ['axis:\n  context: [4096]\n', 'spec.axis: unknown field (allowed: $schema, axes, rows)'],
    ['axes:\n  context: []\n', 'spec.axes.context: expected a non-empty list'],
    ['axes:\n  context: 4096\n', 'spec.axes.context: expected a non-empty list of integers in 1..16777216 or strings matching ^\\d+(\\.\\d+)?[kKmM]$ (k = 1024: "128k" = 131072, "1M" = 1048576) (got 4096)'],
    ['axes:\n  strategy: [kvr-e, warp]\n', 'spec.axes.strategy[1]: expected one of single, tsp'],
    ['axes:\n  gpus: [2.5]\n', 'spec.axes.gpus[0]: expected an integer in 1..1024 (got 2.5)'],
    ['rows:\n  - {model: llama2-7b, gpus: "4"}\n', 'spec.rows[0].gpus: expected an integer in 1..1024 (got "4")'],
    ['rows: []\n', 'spec.rows: expected a non-empty list'],
    ['{}\n', 'spec: expected axes (a product) and/or rows (listed scenarios)'],
    ['', 'spec: "/cfg/spec.yaml" is empty'],
    ['- 1\n- 2\n', 'spec: expected an object with $schema, axes, rows (got [1,2])'],
    ['axes:\n  context: [4096\n', 'spec: "/cfg/spec.yaml" is not valid YAML'],
    ['axes: {context: [1]}\naxes: {context: [2]}\n', 'spec: "/cfg/spec.yaml" is not valid YAML'],
    ['axes:\n  partition: ["1,2,x"]\n', 'spec.axes.partition[0]: expected a string matching'],
    ['axes:\n  bandwidth: [""]\n', 'spec.axes.bandwidth[0]: expected a non-empty string (got "")'],
  ])('%j', (text, message) => {
    expect(specError(text)).toContain(message);
    expect(specError(text)).not.toContain('\n');
  });

  test('JSON specs are read as JSON, with the same paths', () => {
    expect(specError('{"axes": {"gpus": [0]}}', '/cfg/spec.json')).toBe('spec.axes.gpus[0]: expected an integer in 1..1024 (got 0)');
    expect(specError('{"axes": ', '/cfg/spec.json')).toMatch(/^spec: "\/cfg\/spec.json" is not valid JSON/);
  });

  test('a CSV spec is listed rows under a header of scenario keys; numbers where numbers go', () => {
    const spec = loadSweepSpec(new MemoryIo({ '/cfg/s.csv': 'model,gpus,context,bandwidth,strategy\nllama2-7b,2,4096,"300 GB/s",kvr-e\nfalcon-7b,4,8192,,tsp\n' }), '/cfg/s.csv');
    expect(spec.rows).toEqual([
      { model: 'llama2-7b', gpus: 2, context: 4096, bandwidth: '300 GB/s', strategy: 'kvr-e' },
      { model: 'falcon-7b', gpus: 4, context: 8192, strategy: 'tsp' },
    ]);
    expect(specError('model,gpus\nllama2-7b,two\n', '/cfg/s.csv')).toBe('spec.rows[0].gpus: expected an integer in 1..1024 (got "two") (CSV line 2)');
    expect(specError('model,gpu5\nllama2-7b,2\n', '/cfg/s.csv')).toMatch(/^spec.rows\[0\].gpu5: unknown field \(allowed: model, gpu, gpus/);
    expect(specError('model,gpus\nllama2-7b\n', '/cfg/s.csv')).toBe('spec.rows[0]: has 1 cells, the header 2 (CSV line 2)');
    expect(specError('model,gpus\n', '/cfg/s.csv')).toBe('spec.rows: expected a non-empty list');
  });

  test('catalogues are checked against their own schema', () => {
    const io = new MemoryIo({ '/cfg/c.yaml': 'offers:\n  - {gpu: h100-sxm, price_per_gpu_hour: 0, interconnect: nvswitch, gpus_per_node: 8}\n' });
    expect(() => loadCatalogue(io, '/cfg/c.yaml')).toThrow('catalogue.offers[0].price_per_gpu_hour: expected a number > 0 (got 0)');
    io.files.set('/cfg/c.yaml', 'offers:\n  - {gpu: h100-sxm, price_per_gpu_hour: 3, interconnect: infiniband, gpus_per_node: 8}\n');
    expect(() => loadCatalogue(io, '/cfg/c.yaml')).toThrow('catalogue.offers[0].interconnect: expected one of nvswitch, pcie, ring (got "infiniband")');
    io.files.set('/cfg/c.yaml', 'offers:\n  - {gpu: h100-sxm, interconnect: pcie, gpus_per_node: 8}\n');
    expect(() => loadCatalogue(io, '/cfg/c.yaml')).toThrow('catalogue.offers[0].price_per_gpu_hour: is required (a number > 0)');
  });
});

/** Random JSON-ish documents, biased towards the spec's own keys so the validator goes deep. */
const KEYS = ['axes', 'rows', '$schema', ...SCENARIO_KEYS, 'contexts', 'x'];
const leaf = fc.oneof(
  fc.integer({ min: -3, max: 70000 }),
  fc.double({ noNaN: false }),
  fc.string({ maxLength: 8 }),
  fc.constantFrom('llama2-7b', 'kvr-s', 'tsp', 'fast', '300 GB/s', '2 us', 'flash', 'switch', '1,2,3', ''),
  fc.boolean(),
  fc.constant(null),
);
const documentArbitrary = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('node'), { maxKeys: 4 }),
  ),
})).node;

describe('validator properties', () => {
  test('any document is accepted or refused with one KvrInputError line under spec; never a crash', () => {
    const schema = loadSchema('sweep-spec.schema.json');
    fc.assert(
      fc.property(documentArbitrary, (document) => {
        try {
          checkAgainstSchema(document, schema, 'spec');
          // Past the schema, the semantic checks (presets, units, duplicates) also fail cleanly.
          expandSpec(document as SweepSpec, '/cfg/spec.yaml', new MemoryIo());
        } catch (error) {
          expect(error).toBeInstanceOf(KvrInputError);
          const message = (error as KvrInputError).message;
          expect(message).toMatch(/^spec[.[:]/);
          expect(message).not.toContain('\n');
          expect(message).toMatch(/expected|unknown field|is required|unknown|must be|needs a unit|repeats|same scenario|already a point/);
        }
      }),
      propertyOptions(2000),
    );
  });

  test('documents built from the schema itself are accepted', () => {
    const axis = <T>(arbitrary: fc.Arbitrary<T>) => fc.uniqueArray(arbitrary, { minLength: 1, maxLength: 3 });
    const axes = fc.record(
      {
        model: axis(fc.constantFrom('llama2-7b', 'falcon-7b')),
        gpus: axis(fc.integer({ min: 1, max: 1024 })),
        context: axis(fc.integer({ min: 1, max: 1 << 24 })),
        strategy: axis(fc.constantFrom(...STRATEGY_NAMES)),
        bandwidth: axis(fc.constantFrom('300 GB/s', '10 GB/s')),
        attention: axis(fc.constantFrom('flash', 'eager')),
      },
      { requiredKeys: [] },
    );
    const schema = loadSchema('sweep-spec.schema.json');
    fc.assert(
      fc.property(axes, (a) => {
        checkAgainstSchema({ axes: a }, schema, 'spec');
        expect(expandSpec({ axes: a }, '/cfg/spec.yaml', new MemoryIo()).total).toBeGreaterThan(0);
      }),
      propertyOptions(300),
    );
  });
});
