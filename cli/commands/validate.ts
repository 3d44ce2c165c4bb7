import { join } from 'node:path';
import { validateProfile, type ValidationCase } from '../../calibration/validate.js';
import { commandProgress, PROGRESS_AFTER_MS } from '../sweep/progress.js';
import { validationMarkdown, validationSvg } from '../../calibration/validation-report.js';
import { KvrInputError } from '../../sim/errors.js';
import { parseIntegerText } from '../../sim/input/fields.js';
import type { StrategyName } from '../../sim/plan/plan.js';
import { BACKENDS, CUDA_STRATEGIES, type BackendName } from '../../native/js/executor.js';
import { planPaperGrid, simulatorPredictor } from '../../calibration/paper-grid.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';
import { STRATEGY_NAMES } from '../../sim/plan/plan.js';
import { parseQuantity } from '../../sim/units/quantity.js';
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
  strategies?: string;
  links?: string;
  paperGrid?: boolean;
  hostGpus?: string;
  budgetS?: string;
}

/** Which cases to run: single-rank contexts, rank counts and contexts of the multi-rank runs. */
export interface MatrixChoice {
  single: number[];
  ranks: number[];
  contexts: number[];
  strategies: StrategyName[];
  /** The links of the multi-rank cases: paced to `bandwidth`, or the host's own (predicted at `bandwidth`). */
  links: LinkChoice[];
}

export interface LinkChoice {
  bandwidth: number;
  paced: boolean;
}

/**
 * The validation matrix: single-rank prefill at several contexts, and emulated multi-rank runs of
 * tsp, kvr-e and kvr-s over a fast and a slow link. Contexts and chunk sizes differ from the
 * calibration grid, so nothing is predicted that was fitted.
 */
export function validationMatrix(backend: BackendName, models: ValidationCase['model'][], choice: Partial<MatrixChoice> = {}): ValidationCase[] {
  const cases: ValidationCase[] = [];
  const defaults = VALIDATION_DEFAULTS[backend];
  const plan = { ...defaults, strategies: VALIDATION_STRATEGIES, links: defaults.links.map((bandwidth) => ({ bandwidth, paced: true })), ...choice };
  for (const model of models) {
    for (const context of plan.single) cases.push({ model, strategy: 'single', gpus: 1, context, bandwidth: defaults.links[0]!, latency_s: plan.latency });
    for (const gpus of plan.ranks) {
      for (const link of plan.links) {
        for (const context of plan.contexts) {
          for (const strategy of plan.strategies) {
            cases.push({ model, strategy, gpus, context, bandwidth: link.bandwidth, latency_s: plan.latency, ...(link.paced ? {} : { paced: false }) });
          }
        }
      }
    }
  }
  return cases;
}

/** The multi-rank strategies validated by default (--strategies). */
export const VALIDATION_STRATEGIES: StrategyName[] = ['tsp', 'kvr-e', 'kvr-s'];

/** The default matrix per backend (links per GPU in bytes/s, latency in seconds). */
export const VALIDATION_DEFAULTS: Record<BackendName, Omit<MatrixChoice, 'strategies' | 'links'> & { links: number[]; latency: number }> = {
  cpu: { single: [384, 1536], ranks: [2], contexts: [768, 3072], links: [1e9, 1e8], latency: 100e-6 },
  cuda: { single: [1024, 2048, 4096, 8192, 16384, 32768], ranks: [2, 4, 8], contexts: [4096, 8192, 16384], links: [300e9, 10e9], latency: 5e-6 },
};

/** A calibrated profile by name (or file), or an input error naming the flag. */
function calibratedProfile(name: string, flag: string, io: CliIo): GpuSpec {
  const gpu = resolveScenario({ gpu: name, bandwidth: '1 GB/s', gpus: '1', strategy: 'single', context: '1' }, io).gpu;
  if (gpu.profile !== 'calibrated') {
    throw new KvrInputError(flag, `${name} has no calibrated profile (kvr-out/profiles/${name}.json or calibration/profiles/${name}.json); run kvr calibrate first`);
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
  if (flags.paperGrid === true) return paperGridCommand(flags, io);
  for (const [flag, value] of [['--host-gpus', flags.hostGpus], ['--budget-s', flags.budgetS]] as const) {
    if (value !== undefined) throw new KvrInputError(flag, 'only with --paper-grid');
  }
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
  if (flags.strategies !== undefined) choice.strategies = strategyList(flags.strategies, backend);
  const links = flags.links === undefined ? undefined : linkList(flags.links);
  const log = (line: string) => (flags.quiet === true ? undefined : io.stderr(`${line}\n`));
  if (links !== undefined) {
    // The host's own links are predicted at the profile's per-GPU link figure (NVLink: 300 GB/s on A100, 450 on H100).
    if (links.includes('native') && backend !== 'cuda') throw new KvrInputError('--links', "native links are the GPUs' own (NVLink through NCCL): only with --backend cuda");
    const native = links.includes('native') ? nativeBandwidth(calibratedProfile(gpuName, '--gpu', io)) : 0;
    choice.links = links.map((l) => (l === 'native' ? { bandwidth: native, paced: false } : { bandwidth: l, paced: true }));
  }
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
  const progress = commandProgress(io, cases.length, 'validate', flags.quiet, PROGRESS_AFTER_MS);
  const report = await validateProfile(gpu, cases, { backend, warmup: 1, repeats }, (line) => progress.log(line), () => progress.tick());
  progress.finish();
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

/** --strategies: multi-rank strategies this backend runs. */
function strategyList(value: string, backend: BackendName): StrategyName[] {
  const allowed: readonly StrategyName[] = backend === 'cuda' ? CUDA_STRATEGIES.filter((s) => s !== 'single') : STRATEGY_NAMES.filter((s) => s !== 'single');
  return splitList(value, '--strategies').map((name) => {
    if (!(allowed as readonly string[]).includes(name)) throw new KvrInputError('--strategies', `expected a comma-separated list of ${allowed.join(', ')} (got ${JSON.stringify(name)})`);
    return name as StrategyName;
  });
}

/** --links: "native" (the host's own links, unpaced) or a rate to pace to ("10 GB/s"), comma-separated. */
function linkList(value: string): ('native' | number)[] {
  return splitList(value, '--links').map((item) => {
    if (item === 'native') return 'native';
    const rate = parseQuantity(item, 'bandwidth', '--links');
    if (!(rate > 0)) throw new KvrInputError('--links', `expected native or a rate > 0 such as "10 GB/s" (got ${JSON.stringify(item)})`);
    return rate;
  });
}

function nativeBandwidth(gpu: GpuSpec): number {
  if (gpu.link_bandwidth === null) throw new KvrInputError('--links', `profile ${gpu.name} has no link_bandwidth to predict native links with; pace them instead (e.g. --links "300 GB/s")`);
  return gpu.link_bandwidth;
}

/**
 * `kvr validate --paper-grid --host-gpus N`: prints the plan of the paper's grid on this host
 * (calibration/paper-grid.ts) as JSON; runs nothing. native/scripts/gpu-node-validate.sh runs it.
 */
function paperGridCommand(flags: ValidateFlags, io: CliIo): void {
  const unused = (['backend', 'model', 'single', 'ranks', 'contexts', 'strategies', 'links', 'smPartitions', 'gpuWhole'] as const).filter((k) => flags[k] !== undefined);
  if (unused.length > 0) throw new KvrInputError('--paper-grid', `plans the paper's fixed grid; it takes no --${unused[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  if (flags.hostGpus === undefined) throw new KvrInputError('--host-gpus', 'is required with --paper-grid: the GPUs of the host (nvidia-smi -L | wc -l)');
  const hostGpus = parseIntegerText(flags.hostGpus, '--host-gpus', { min: 1, max: 64 });
  const budget = parseIntegerText(flags.budgetS ?? '3600', '--budget-s', { min: 1, max: 7 * 86400 });
  const repeats = parseIntegerText(flags.repeats ?? '3', '--repeats', { min: 1, max: 100 });
  const name = flags.gpu ?? 'a100-80g';
  const gpu = resolveScenario({ gpu: name, bandwidth: '1 GB/s', gpus: '1', strategy: 'single', context: '1' }, io).gpu;
  if (gpu.memory_bytes === null || gpu.link_bandwidth === null) throw new KvrInputError('--gpu', `${name} has no memory or link bandwidth to plan with; name a GPU preset such as a100-80g or h100-sxm`);
  const out = flags.out ?? 'paper-grid';
  const plan = planPaperGrid({ gpus: hostGpus, gpu: name }, { budget_s: budget, repeats, out }, simulatorPredictor(gpu, MODEL_PRESETS), gpu.memory_bytes, gpu.link_bandwidth);
  io.stdout(`${JSON.stringify(plan, null, 2)}\n`);
}
