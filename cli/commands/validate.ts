import { join } from 'node:path';
import { validateProfile, type ValidationCase } from '../../calibration/validate.js';
import { validationMarkdown, validationSvg } from '../../calibration/validation-report.js';
import { KvrInputError } from '../../sim/errors.js';
import { parseIntegerText } from '../../sim/input/fields.js';
import type { StrategyName } from '../../sim/plan/plan.js';
import { BACKENDS, type BackendName } from '../../native/js/executor.js';
import { checkOutput, type CliIo } from '../io.js';
import { oneLine } from '../load-json.js';
import { defaultOutput } from '../output-paths.js';
import { resolveScenario } from '../scenario-flags.js';
import { resolveModels } from '../tiny-models.js';
import { splitList } from '../list-flags.js';
import { parseSmPartitionsFlag } from './calibrate.js';
import type { GpuSpec } from '../../sim/hardware/gpu-spec.js';

export interface ValidateFlags {
  quiet?: boolean;
  gpu?: string;
  backend?: string;
  model?: string;
  repeats?: string;
  out?: string;
  smPartitions?: string;
  gpuWhole?: string;
  single?: string;
  ranks?: string;
  contexts?: string;
}

/** Which cases to run: single-rank contexts, rank counts and contexts of the multi-rank runs. */
export interface MatrixChoice {
  single: number[];
  ranks: number[];
  contexts: number[];
}

/**
 * The validation matrix: single-rank prefill at several contexts, and emulated multi-rank runs of
 * tsp, kvr-e and kvr-s over a fast and a slow link. Contexts and chunk sizes differ from the
 * calibration grid, so nothing is predicted that was fitted.
 */
export function validationMatrix(backend: BackendName, models: ValidationCase['model'][], choice: Partial<MatrixChoice> = {}): ValidationCase[] {
  const cases: ValidationCase[] = [];
  const strategies: StrategyName[] = ['tsp', 'kvr-e', 'kvr-s'];
  const plan = { ...VALIDATION_DEFAULTS[backend], ...choice };
  for (const model of models) {
    for (const context of plan.single) cases.push({ model, strategy: 'single', gpus: 1, context, bandwidth: plan.links[0]!, latency_s: plan.latency });
    for (const gpus of plan.ranks) {
      for (const bandwidth of plan.links) {
        for (const context of plan.contexts) {
          for (const strategy of strategies) cases.push({ model, strategy, gpus, context, bandwidth, latency_s: plan.latency });
        }
      }
    }
  }
  return cases;
}

/** The default matrix per backend (links per GPU in bytes/s, latency in seconds). */
export const VALIDATION_DEFAULTS: Record<BackendName, MatrixChoice & { links: number[]; latency: number }> = {
  cpu: { single: [384, 1536], ranks: [2], contexts: [768, 3072], links: [1e9, 1e8], latency: 100e-6 },
  cuda: { single: [1024, 2048, 4096, 8192, 16384, 32768], ranks: [2, 4, 8], contexts: [4096, 8192, 16384], links: [300e9, 10e9], latency: 5e-6 },
};

/** A calibrated profile by name (or file), or an input error naming the flag. */
function calibratedProfile(name: string, flag: string, io: CliIo): GpuSpec {
  const gpu = resolveScenario({ gpu: name, bandwidth: '1 GB/s', gpus: '1', strategy: 'single', context: '1' }, io).gpu;
  if (gpu.profile !== 'calibrated') {
    throw new KvrInputError(flag, `${name} has no calibrated profile (calibration/profiles/${name}.json); run kvr calibrate first`);
  }
  return gpu;
}

/** A comma-separated list of integers, or "none" for an empty one. */
function integerList(value: string | undefined, flag: string, min: number): number[] | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === 'none') return [];
  return splitList(value, flag).map((v) => parseIntegerText(v, flag, { min, max: 1 << 24 }));
}

/**
 * `kvr validate`: executor runs vs simulator predictions under a calibrated profile; writes the report.
 * With --sm-partitions N (cuda), the multi-rank cases run one rank per SM partition of one GPU
 * (cases with more ranks than partitions are skipped) and are predicted with --gpu, a slice
 * profile from `kvr calibrate --sm-partitions N` (e.g. h200/16sm); the single-rank cases run on
 * the whole GPU, predicted with --gpu-whole, and are skipped without it.
 */
export async function validateCommand(flags: ValidateFlags, io: CliIo): Promise<void> {
  const backend = (flags.backend ?? 'cpu') as BackendName;
  if (!BACKENDS.includes(backend)) throw new KvrInputError('--backend', `expected one of ${BACKENDS.join(', ')} (got ${JSON.stringify(flags.backend)})`);
  const smPartitions = parseSmPartitionsFlag(flags.smPartitions, backend);
  if (flags.gpuWhole !== undefined && smPartitions === 0) throw new KvrInputError('--gpu-whole', 'only applies with --sm-partitions (without it every case runs on whole GPUs with --gpu)');
  const gpuName = flags.gpu ?? (backend === 'cpu' ? 'cpu' : undefined);
  if (gpuName === undefined) throw new KvrInputError('--gpu', 'is required with --backend cuda: the calibrated profile to validate (e.g. h200, or h200/16sm with --sm-partitions)');
  const models = resolveModels(flags.model ?? (backend === 'cpu' ? 'tiny-llama' : 'llama2-7b'), io);
  const repeats = parseIntegerText(flags.repeats ?? '3', '--repeats', { min: 1, max: 100 });
  const choice: Partial<MatrixChoice> = {};
  const single = integerList(flags.single, '--single', 1);
  const ranks = integerList(flags.ranks, '--ranks', 2);
  const contexts = integerList(flags.contexts, '--contexts', 2);
  if (single !== undefined) choice.single = single;
  if (ranks !== undefined) choice.ranks = ranks;
  if (contexts !== undefined) choice.contexts = contexts;
  const log = (line: string) => (flags.quiet === true ? undefined : io.stderr(`${line}\n`));
  let cases = validationMatrix(backend, models, choice);
  if (smPartitions > 0) {
    const fits = (c: ValidationCase) => (c.gpus === 1 ? flags.gpuWhole !== undefined : c.gpus <= smPartitions);
    const skipped = cases.filter((c) => !fits(c));
    if (skipped.some((c) => c.gpus === 1)) log(`skipping the single-rank cases: they run on the whole GPU and need --gpu-whole <profile>`);
    if (skipped.some((c) => c.gpus > 1)) log(`skipping the cases with more than ${smPartitions} ranks: one rank per SM partition`);
    cases = cases.filter(fits);
  }
  if (cases.length === 0) throw new KvrInputError('--ranks', 'no validation case is left to run (see --single, --ranks, --contexts, --sm-partitions)');
  const gpu = calibratedProfile(gpuName, '--gpu', io);
  const whole = flags.gpuWhole === undefined ? undefined : calibratedProfile(flags.gpuWhole, '--gpu-whole', io);
  if (smPartitions > 0) cases = cases.map((c) => (c.gpus === 1 ? { ...c, gpu: whole! } : { ...c, smPartitions }));
  const out = flags.out ?? defaultOutput('validation', gpuName);
  checkOutput(io, out, '--out', 'folder');
  const report = await validateProfile(gpu, cases, { backend, warmup: 1, repeats }, log);
  const provenance = {
    profile: gpu.source,
    ...(whole === undefined ? {} : { whole_gpu_profile: `${whole.name}: ${whole.source}` }),
    ...(smPartitions > 0 ? { sm_partitions: smPartitions } : {}),
    date: new Date().toISOString(),
    backend,
  };
  try {
    io.writeFile(join(out, 'report.json'), `${JSON.stringify({ ...report, provenance }, null, 2)}\n`);
    io.writeFile(join(out, 'report.md'), validationMarkdown(report, provenance));
    io.writeFile(join(out, 'figure.svg'), validationSvg(report));
  } catch (error) {
    throw new KvrInputError('--out', `cannot write the report into ${JSON.stringify(out)}: ${oneLine(error)}`);
  }
  const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
  io.stdout(
    `validated profile ${gpuName} on ${report.device}: ${report.overall.cases} cases, mean abs TTFT error ${percent(report.overall.mean_abs_error)}, max ${percent(report.overall.max_abs_error)}\n` +
      report.summary.map((s) => `  ${s.strategy}: mean ${percent(s.mean_abs_error)}, max ${percent(s.max_abs_error)} (${s.cases} cases)`).join('\n') +
      `\nreport: ${join(out, 'report.md')}\n`,
  );
}
