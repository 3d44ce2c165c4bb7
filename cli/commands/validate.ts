import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { validateProfile, type ValidationCase } from '../../calibration/validate.js';
import { validationMarkdown, validationSvg } from '../../calibration/validation-report.js';
import { KvrInputError } from '../../sim/errors.js';
import { parseIntegerText } from '../../sim/input/fields.js';
import type { StrategyName } from '../../sim/plan/plan.js';
import { BACKENDS, type BackendName } from '../../native/js/executor.js';
import type { CliIo } from '../io.js';
import { oneLine } from '../load-json.js';
import { projectRoot } from '../project-root.js';
import { resolveScenario } from '../scenario-flags.js';
import { resolveModels } from '../tiny-models.js';

export interface ValidateFlags {
  gpu?: string;
  backend?: string;
  model?: string;
  repeats?: string;
  out?: string;
}

/**
 * The validation matrix: single-rank prefill at several contexts, and emulated multi-rank runs of
 * tsp, kvr-e and kvr-s over a fast and a slow link. Contexts and chunk sizes differ from the
 * calibration grid, so nothing is predicted that was fitted.
 */
export function validationMatrix(backend: BackendName, models: ValidationCase['model'][]): ValidationCase[] {
  const cases: ValidationCase[] = [];
  const strategies: StrategyName[] = ['tsp', 'kvr-e', 'kvr-s'];
  const plan =
    backend === 'cpu'
      ? { single: [384, 1536], ranks: [2], contexts: [768, 3072], links: [1e9, 1e8], latency: 100e-6 }
      : { single: [1024, 2048, 4096, 8192, 16384, 32768], ranks: [2, 4, 8], contexts: [4096, 8192, 16384], links: [300e9, 10e9], latency: 5e-6 };
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

/** `kvr validate`: executor runs vs simulator predictions under a calibrated profile; writes the report. */
export async function validateCommand(flags: ValidateFlags, io: CliIo): Promise<void> {
  const backend = (flags.backend ?? 'cpu') as BackendName;
  if (!BACKENDS.includes(backend)) throw new KvrInputError('--backend', `expected one of ${BACKENDS.join(', ')} (got ${JSON.stringify(flags.backend)})`);
  const gpuName = flags.gpu ?? (backend === 'cpu' ? 'cpu' : undefined);
  if (gpuName === undefined) throw new KvrInputError('--gpu', 'is required with --backend cuda: the calibrated profile to validate (e.g. h200)');
  const gpu = resolveScenario({ gpu: gpuName, bandwidth: '1 GB/s', gpus: '1', strategy: 'single', context: '1' }, io).gpu;
  if (gpu.profile !== 'calibrated') {
    throw new KvrInputError('--gpu', `${gpuName} has no calibrated profile (calibration/profiles/${gpuName}.json); run kvr calibrate first`);
  }
  const models = resolveModels(flags.model ?? (backend === 'cpu' ? 'tiny-llama' : 'llama2-7b'), io);
  const repeats = parseIntegerText(flags.repeats ?? '3', '--repeats', { min: 1, max: 100 });
  const report = await validateProfile(gpu, validationMatrix(backend, models), { backend, warmup: 1, repeats }, (line) => io.stderr(`${line}\n`));
  const out = flags.out ?? join(projectRoot(), 'calibration', 'validation', gpuName);
  const provenance = { profile: gpu.source, date: new Date().toISOString(), backend };
  try {
    mkdirSync(out, { recursive: true });
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
