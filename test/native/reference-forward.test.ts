import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { executePlan } from '../../native/js/executor.js';
import { modelFromJson, type ModelSpec } from '../../sim/model/model-spec.js';
import { buildPlan, type PlanRequest } from '../../sim/plan/build-plan.js';
import { erf, mix64, referenceForward, tokenId, type ReferenceOutput } from '../support/reference-forward.js';
import { relativeError } from '../support/relative-error.js';

/**
 * The executor against an independent oracle: test/support/reference-forward.ts recomputes the
 * model of native/MODEL.md in float64 from the same seeded weights, sharing no code with native/.
 * executor.test.ts only compares strategies with one another, so a mistake made alike on every
 * rank (say the attention scaled by 1/hd instead of 1/sqrt(hd)) passes there and fails here.
 *
 * Tolerance 1e-5 of the largest magnitude (max |a - b| / max |b|): the executor computes in fp32
 * (unit roundoff 6e-8) with dot products of up to f = 1024 terms over two layers; measured errors
 * are 2e-7 (logits) and 7e-7 (K,V). A planted 1/hd softmax scale moves the logits by far more
 * (3e-2 for tiny-llama, 8e-3 for tiny-falcon), so the bar separates rounding from a wrong model.
 */

const model = (name: string): ModelSpec =>
  modelFromJson(JSON.parse(readFileSync(new URL(`../../native/scripts/models/${name}.json`, import.meta.url), 'utf8')));

const TOLERANCE = 1e-5;
/** Odd, and not a multiple of the CPU attention's query block (64 / g positions). */
const CONTEXT = 77;
const once = { backend: 'cpu' as const, warmup: 0, repeats: 1, captureKv: true };


describe('the float64 reference itself', () => {
  test('mix64 is splitmix64 (first outputs of the sequence seeded with 0, as in Steele et al.)', () => {
    // splitmix64 with state 0: next() returns mix64(0), mix64(0x9E3779B97F4A7C15), ...
    expect(mix64(0n).toString(16)).toBe('e220a8397b1dcdaf');
    expect(mix64(0x9e3779b97f4a7c15n).toString(16)).toBe('6e789e6aa1b965f4');
  });

  test('erf matches tabulated values to 1e-13', () => {
    expect(erf(0)).toBe(0);
    expect(Math.abs(erf(0.5) - 0.5204998778130465)).toBeLessThan(1e-13);
    expect(Math.abs(erf(-1) + 0.8427007929497149)).toBeLessThan(1e-13);
    expect(Math.abs(erf(2.5) - 0.9995930479825550)).toBeLessThan(1e-13);
    expect(Math.abs(erf(3.5) - 0.9999992569016276)).toBeLessThan(1e-13);
  });

  test('token ids are in range and depend on the seed', () => {
    const ids = Array.from({ length: 50 }, (_, t) => tokenId(1234n, t, 1000));
    ids.forEach((id) => expect(id >= 0 && id < 1000).toBe(true));
    expect(new Set(ids).size).toBeGreaterThan(40);
    expect(Array.from({ length: 50 }, (_, t) => tokenId(1235n, t, 1000))).not.toEqual(ids);
  });
});

describe('CPU executor vs the float64 reference forward pass', () => {
  const references = new Map<string, ReferenceOutput>();
  const reference = (name: string): ReferenceOutput => {
    if (!references.has(name)) references.set(name, referenceForward(model(name), CONTEXT));
    return references.get(name)!;
  };

  const cases: [string, string, Omit<PlanRequest, 'model' | 'context'>][] = [];
  for (const name of ['tiny-llama', 'tiny-falcon']) {
    cases.push([name, name, { strategy: 'single', gpus: 1 }]);
    // Uneven KVR chunks (contiguous ranks, native/src/cpu/cpu_attention.cpp) and tensor parallel
    // (native/src/cpu/cpu_general_ops.cpp): the other attention code path.
    cases.push([`${name} kvr 50,27`, name, { strategy: 'kvr', gpus: 2, partition: [50, 27] }]);
    cases.push([`${name} tp p=2`, name, { strategy: 'tp', gpus: 2 }]);
  }

  test.each(cases)(`%s: last-token logits and the K,V cache within ${TOLERANCE} of the reference`, async (_label, name, request) => {
    const ref = reference(name);
    const run = await executePlan(buildPlan({ ...request, model: model(name), context: CONTEXT }), once);
    expect(relativeError(run.logits, ref.logits)).toBeLessThanOrEqual(TOLERANCE);
    expect(relativeError(run.kv!, ref.kv)).toBeLessThanOrEqual(TOLERANCE);
  }, 120_000);

  test('the comparison is not vacuous: another seed is far from the reference', async () => {
    const run = await executePlan(buildPlan({ strategy: 'single', model: model('tiny-llama'), context: CONTEXT, gpus: 1 }), { ...once, seed: 1235 });
    expect(relativeError(run.logits, reference('tiny-llama').logits)).toBeGreaterThan(0.1);
  }, 120_000);
});
