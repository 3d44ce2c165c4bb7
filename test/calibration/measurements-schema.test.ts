import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, describe, expect, test } from 'vitest';
import { projectRoot } from '../../cli/project-root.js';
import { sharedMeasurementsPath } from '../../notebooks/lib/setting.js';

/**
 * schemas/kvr-measurements.schema.json (draft 2020-12) describes both measurement tags: the shared
 * H200 file (kvr-measurements/h200-pytorch-microbench@1) and what calibration/probe/torch_probe.py
 * writes (kvr-measurements/torch-probe@1). Checked with ajv against the real shared file, the
 * probe's synthetic output, the probe's measuring path run on a fake torch, and broken variants.
 */
const root = projectRoot();
const schema = JSON.parse(readFileSync(join(root, 'schemas', 'kvr-measurements.schema.json'), 'utf8')) as Record<string, unknown>;
const validate = new Ajv2020({ allErrors: true }).compile(schema);
const sharedPath = sharedMeasurementsPath('h200-pytorch-microbench.json');
const dir = mkdtempSync(join(tmpdir(), 'kvr-measurements-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Doc = Record<string, unknown> & { gemm: Record<string, unknown>[]; attention: Record<string, unknown>[] };

function python(args: string[], env: Record<string, string> = {}) {
  const run = spawnSync('python3', args, { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  expect(run.status, run.stderr).toBe(0);
  return run.stdout;
}

function errors(doc: unknown): string {
  return validate(doc) ? '' : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`).join('; ');
}

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

function synthetic(): Doc {
  const out = join(dir, 'synthetic.json');
  python([join('calibration', 'probe', 'torch_probe.py'), '--synthetic', '--ranks', '8', '--out', out]);
  return JSON.parse(readFileSync(out, 'utf8')) as Doc;
}

describe('kvr-measurements schema', () => {
  const shared = JSON.parse(readFileSync(sharedPath, 'utf8')) as Doc;
  const probe = synthetic();

  test('the shared H200 file (h200-pytorch-microbench@1) validates', () => {
    expect(shared.schema).toBe('kvr-measurements/h200-pytorch-microbench@1');
    expect(errors(shared)).toBe('');
  });

  test('the probe\'s synthetic output (torch-probe@1, every section, 8 ranks) validates', () => {
    expect(probe.schema).toBe('kvr-measurements/torch-probe@1');
    for (const key of ['gemm', 'attention', 'elementwise', 'p2p', 'collectives']) expect((probe[key] as unknown[]).length).toBeGreaterThan(0);
    expect(errors(probe)).toBe('');
  });

  test('the probe\'s measuring path (on a fake torch) writes a file that validates', () => {
    const out = join(dir, 'fake.json');
    python(['-m', 'unittest', 'test_torch_probe.FakeTorchRun.test_every_section_is_measured_and_written'], { KVR_PROBE_FAKE_OUT: out, PYTHONPATH: join(root, 'calibration', 'probe') });
    const doc = JSON.parse(readFileSync(out, 'utf8')) as Doc;
    expect(doc.gpu).toBe('Fake GPU');
    expect(errors(doc)).toBe('');
  }, 120_000);

  test('a probe file is a superset: its GEMM and attention entries read like the shared file\'s', () => {
    const sharedKeys = (entries: Record<string, unknown>[]) => new Set(entries.flatMap((e) => Object.keys(e)));
    for (const key of sharedKeys(shared.gemm)) expect(Object.keys(probe.gemm[0]!)).toContain(key);
    for (const key of sharedKeys(shared.attention)) expect(Object.keys(probe.attention[0]!)).toContain(key);
    for (const key of ['schema', 'what', 'gpu', 'compute_capability', 'torch', 'dtype', 'timing', 'model_shape', 'reference_layer']) {
      expect(Object.keys(probe)).toContain(key);
    }
  });

  test('the schema\'s enums follow the probe (sections, kernels, collectives, dtypes)', () => {
    const consts = JSON.parse(
      python(['-c', 'import json, torch_probe as t; print(json.dumps(dict(kernels=list(t.ELEMENTWISE_KERNELS), ops=list(t.COLLECTIVE_OPS), dtypes=list(t.DTYPE_BYTES), tag=t.SCHEMA_TAG)))'], {
        PYTHONPATH: join(root, 'calibration', 'probe'),
      }),
    ) as { kernels: string[]; ops: string[]; dtypes: string[]; tag: string };
    const defs = schema.$defs as Record<string, { properties: Record<string, { enum: string[] }>; enum?: string[] }>;
    expect(defs.elementwise!.properties.kernel!.enum).toEqual(consts.kernels);
    expect(defs.collective!.properties.op!.enum).toEqual(consts.ops);
    expect(defs.dtype!.enum).toEqual(consts.dtypes);
    expect((schema.properties as Record<string, { enum: string[] }>).schema!.enum).toContain(consts.tag);
  });

  const mutate = (doc: Doc, change: (d: Doc & Record<string, any>) => void): Doc => {
    const copy = clone(doc);
    change(copy);
    return copy;
  };

  test.each<[string, 'shared' | 'probe', (d: Doc & Record<string, any>) => void, RegExp]>([
    ['an unknown schema tag', 'shared', (d) => (d.schema = 'kvr-measurements/other@1'), /\/schema must be equal to one of the allowed values/],
    ['no gemm list', 'shared', (d) => delete (d as Record<string, unknown>).gemm, /must have required property 'gemm'/],
    ['an empty gemm list in the microbench tag', 'shared', (d) => (d.gemm = []), /\/gemm must NOT have fewer than 1 items/],
    ['a GEMM time that is a string', 'shared', (d) => (d.gemm[0]!.ms = '0.04'), /\/gemm\/0\/ms must be number/],
    ['a zero GEMM time', 'shared', (d) => (d.gemm[0]!.ms = 0), /\/gemm\/0\/ms must be > 0/],
    ['a fractional m', 'shared', (d) => (d.gemm[0]!.m = 64.5), /\/gemm\/0\/m must be integer/],
    ['an attention entry without P', 'shared', (d) => delete d.attention[3]!.P, /\/attention\/3 must have required property 'P'/],
    ['a misspelt field', 'shared', (d) => (d.attention[0]!.prefix = 0), /\/attention\/0 must NOT have additional properties/],
    ['a compute capability of three numbers', 'shared', (d) => (d.compute_capability = [9, 0, 1]), /\/compute_capability must NOT have more than 2 items/],
    ['a probe section in the microbench tag', 'shared', (d) => (d.launch = { empty_kernel_us: 2 }), /must NOT be valid/],
    ['a probe file without probe_version', 'probe', (d) => delete d.probe_version, /must have required property 'probe_version'/],
    ['an attention mask that is neither causal nor dense', 'probe', (d) => (d.attention[0]!.mask = 'sliding'), /\/attention\/0\/mask must be equal to one of the allowed values/],
    ['a dtype outside fp16, bf16, fp8', 'probe', (d) => (d.gemm[0]!.dtype = 'fp32'), /\/gemm\/0\/dtype must be equal to one of the allowed values/],
    ['a collective over one rank', 'probe', (d) => ((d.collectives as Record<string, unknown>[])[0]!.ranks = 1), /\/collectives\/0\/ranks must be >= 2/],
    ['a collective without busbw', 'probe', (d) => delete (d.collectives as Record<string, unknown>[])[0]!.busbw_gbps, /must have required property 'busbw_gbps'/],
    ['an unknown elementwise kernel', 'probe', (d) => ((d.elementwise as Record<string, unknown>[])[0]!.kernel = 'softmax'), /\/elementwise\/0\/kernel must be equal to one of the allowed values/],
    ['launch without empty_kernel_us', 'probe', (d) => delete (d.launch as Record<string, unknown>).empty_kernel_us, /\/launch must have required property 'empty_kernel_us'/],
    ['a skipped entry without a reason', 'probe', (d) => ((d.skipped as unknown[]).push({ section: 'gemm' })), /must have required property 'reason'/],
    ['a malformed model label', 'probe', (d) => (d.gemm[0]!.models = ['llama2-7b tp2']), /\/gemm\/0\/models\/0 must match pattern/],
  ])('refused: %s', (_name, base, change, message) => {
    expect(errors(mutate(base === 'shared' ? shared : probe, change))).toMatch(message);
  });
});
