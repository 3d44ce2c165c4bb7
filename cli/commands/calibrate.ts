import { dirname, join } from 'node:path';
import { calibrate, type CalibrateOptions } from '../../calibration/calibrate.js';
import { calibrateFrom } from '../../calibration/fit-shape-profile.js';
import { executorMeasurements } from '../../calibration/executor-measurements.js';
import { SOFTWARE_STACKS, type SoftwareStack } from '../../sim/hardware/shape-model.js';
import { KvrInputError } from '../../sim/errors.js';
import { parseIntegerText } from '../../sim/input/fields.js';
import { parseQuantity } from '../../sim/units/quantity.js';
import { BACKENDS, type BackendName } from '../../native/js/executor.js';
import { checkOutput, type CliIo } from '../io.js';
import { commandProgress, PROGRESS_AFTER_MS } from '../sweep/progress.js';
import { oneLine } from '../load-json.js';
import { splitList } from '../list-flags.js';
import { builtProfilePath } from '../project-root.js';
import { resolveModels, TINY_MODELS } from '../tiny-models.js';

export interface CalibrateFlags {
  quiet?: boolean;
  from?: string[];
  base?: string;
  stack?: string;
  backend?: string;
  name?: string;
  model?: string;
  tokens?: string;
  prefixes?: string;
  linkBandwidth?: string;
  linkLatency?: string;
  linkTokens?: string;
  smPartitions?: string;
  warmup?: string;
  repeats?: string;
  out?: string;
}

/** Defaults per backend: tiny models and short chunks on the CPU (CI), the preset models on a GPU. */
export const CALIBRATION_DEFAULTS: Record<BackendName, { models: string; tokens: string; prefixes: string; link: [string, string]; linkTokens: number[] }> = {
  cpu: { models: TINY_MODELS.join(','), tokens: '32,128,512', prefixes: '0,512,2048', link: ['200 MB/s', '100 us'], linkTokens: [64, 256, 1024] },
  cuda: { models: 'llama2-7b,llama3-8b,mistral-7b,falcon-7b,llama2-13b', tokens: '256,1024,4096,16384', prefixes: '0,2048,8192,24576', link: ['50 GB/s', '5 us'], linkTokens: [1024, 8192, 65536] },
};

/** `kvr calibrate`: measure ops on the device, fit the simulator's tables, write the profile. */
export async function calibrateCommand(flags: CalibrateFlags, argv: string[], io: CliIo): Promise<void> {
  if (flags.from !== undefined) return calibrateFromCommand(flags, io);
  for (const [flag, value] of [['--base', flags.base], ['--stack', flags.stack]] as const) {
    if (value !== undefined) throw new KvrInputError(flag, 'only with --from FILE...');
  }
  const backend = (flags.backend ?? 'cpu') as BackendName;
  if (!BACKENDS.includes(backend)) throw new KvrInputError('--backend', `expected one of ${BACKENDS.join(', ')} (got ${JSON.stringify(flags.backend)})`);
  const defaults = CALIBRATION_DEFAULTS[backend];
  if (backend === 'cuda' && flags.name === undefined) throw new KvrInputError('--name', 'is required with --backend cuda: the GPU preset the profile calibrates (e.g. h200, h100-sxm)');
  const name = flags.name ?? 'cpu';
  const smPartitions = parseSmPartitionsFlag(flags.smPartitions, backend);
  if (smPartitions > 0 && name.includes('/')) throw new KvrInputError('--name', `with --sm-partitions, the GPU's name (e.g. h200); the profile is named <name>/<k>sm (got ${JSON.stringify(name)})`);
  checkProfileName(name);
  const list = (value: string, flag: string, min: number) => splitList(value, flag).map((v) => parseIntegerText(v, flag, { min, max: 1 << 24 }));
  const bandwidth = parseQuantity(flags.linkBandwidth ?? defaults.link[0], 'bandwidth', '--link-bandwidth');
  if (bandwidth <= 0) throw new KvrInputError('--link-bandwidth', 'must be > 0');
  const progress = commandProgress(io, 0, 'calibrate', flags.quiet, PROGRESS_AFTER_MS);
  const options: CalibrateOptions = {
    backend,
    name,
    models: resolveModels(flags.model ?? defaults.models, io),
    tokens: list(flags.tokens ?? defaults.tokens, '--tokens', 1),
    prefixes: list(flags.prefixes ?? defaults.prefixes, '--prefixes', 0),
    link: {
      bandwidth,
      latency_s: parseQuantity(flags.linkLatency ?? defaults.link[1], 'time', '--link-latency'),
      tokens: flags.linkTokens === undefined ? defaults.linkTokens : list(flags.linkTokens, '--link-tokens', 1),
    },
    ...(smPartitions > 0 ? { smPartitions } : {}),
    warmup: parseIntegerText(flags.warmup ?? '1', '--warmup', { min: 0, max: 100 }),
    repeats: parseIntegerText(flags.repeats ?? '5', '--repeats', { min: 1, max: 1000 }),
    command: `kvr ${argv.join(' ')}`,
    log: (line) => progress.log(line),
    onStep: (_done, total) => {
      progress.setTotal(total);
      progress.tick();
    },
  };
  if (!options.prefixes.includes(0)) options.prefixes.unshift(0);
  // Where the profile goes, checked before minutes of measurement (a slice profile is
  // <name>/<k>sm.json, k known once the backend has split the GPU).
  if (flags.out !== undefined) checkOutput(io, flags.out, '--out');
  else checkOutput(io, smPartitions > 0 ? join(dirname(builtProfilePath(name)), name) : dirname(builtProfilePath(name)), '--out', 'folder');
  const profile = await calibrate(options);
  progress.finish();
  // A slice profile is named after its partition size, known once the backend has split the GPU.
  const profileName = String(profile.gpu.name);
  const out = flags.out ?? builtProfilePath(profileName);
  try {
    io.writeFile(out, `${JSON.stringify(profile, null, 2)}\n`);
  } catch (error) {
    throw new KvrInputError('--out', `cannot write ${JSON.stringify(out)}: ${oneLine(error)}`);
  }
  // The same samples in the probe's format, for the shape-profile fit (kvr calibrate --from).
  const measurementsOut = `${out.replace(/\.json$/i, '')}.measurements.json`;
  const models = options.models;
  const measurements = executorMeasurements([...profile.samples.grid, ...profile.samples.checks], models, String(profile.provenance.device), options.command);
  try {
    io.writeFile(measurementsOut, `${JSON.stringify(measurements, null, 2)}\n`);
  } catch (error) {
    throw new KvrInputError('--out', `cannot write ${JSON.stringify(measurementsOut)}: ${oneLine(error)}`);
  }
  const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
  const lines = profile.fit.ops.map((f) => `  ${f.model} ${f.op}: mean ${percent(f.mean_abs_error)}, max ${percent(f.max_abs_error)} over ${f.checks} shapes between grid points`);
  io.stdout(
    `wrote ${out}: profile ${profileName} on ${String(profile.provenance.device)}, ${profile.samples.grid.length} grid samples\n` +
      `fit error (interpolated tables vs measured, shapes not fitted):\n${lines.join('\n')}\n` +
      `  transfers: overhead ${(profile.calibration.transfer_overhead_s * 1e6).toFixed(1)} us, mean error ${percent(profile.fit.transfer_mean_abs_error)}\n` +
      `wrote ${measurementsOut}: the same timings in the probe format (shape profile: kvr calibrate --from ${measurementsOut} --name <name> --stack fused)\n`,
  );
}

/**
 * A profile name becomes a file name under kvr-out/profiles/: one plain name, never a path
 * (no "/", "\\" or "..", which would write outside the folder).
 */
export function checkProfileName(name: string): string {
  if (name === '' || name.includes('/') || name.includes('\\') || name.includes('..') || name.includes('\0')) {
    throw new KvrInputError('--name', `expected a profile name such as h200 or h100-sxm, without "/", "\\" or ".." (got ${JSON.stringify(name)}); use --out to write elsewhere`);
  }
  return name;
}

/**
 * --sm-partitions: 0 (the whole GPU) or how many green-context partitions to split each GPU into;
 * only the cuda backend has SMs to split.
 */
export function parseSmPartitionsFlag(value: string | undefined, backend: BackendName): number {
  if (value === undefined) return 0;
  const partitions = parseIntegerText(value, '--sm-partitions', { min: 0, max: 4096 });
  if (partitions > 0 && backend !== 'cuda') {
    throw new KvrInputError('--sm-partitions', `only applies to --backend cuda: the ${backend} backend has no SMs to split (its ranks are threads)`);
  }
  return partitions;
}

/**
 * `kvr calibrate --from FILE... --name NAME`: fit a shape profile from measurement files (no
 * device needed) and write it; the same files give the same profile, bit for bit.
 */
function calibrateFromCommand(flags: CalibrateFlags, io: CliIo): void {
  if (flags.name === undefined) throw new KvrInputError('--name', 'is required with --from: the profile name, the --gpu it will be found under (e.g. h200-pytorch)');
  checkProfileName(flags.name);
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(flags.name)) throw new KvrInputError('--name', `expected letters, digits, ".", "_" or "-" (got ${JSON.stringify(flags.name)})`);
  const executorOnly = (['backend', 'model', 'tokens', 'prefixes', 'linkBandwidth', 'linkLatency', 'linkTokens', 'smPartitions', 'warmup', 'repeats'] as const).filter((k) => flags[k] !== undefined);
  if (executorOnly.length > 0) throw new KvrInputError('--from', `fits files; it takes no executor flags (got --${executorOnly[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)})`);
  if (flags.stack !== undefined && !(SOFTWARE_STACKS as readonly string[]).includes(flags.stack)) {
    throw new KvrInputError('--stack', `expected one of ${SOFTWARE_STACKS.join(', ')} (got ${JSON.stringify(flags.stack)})`);
  }
  // Where the profile goes, checked before the fit.
  if (flags.out !== undefined) checkOutput(io, flags.out, '--out');
  else checkOutput(io, dirname(builtProfilePath(flags.name)), '--out', 'folder');
  const files = flags.from!.map((path) => {
    try {
      return { path, text: io.readFile(path) };
    } catch (error) {
      throw new KvrInputError('--from', `cannot read ${JSON.stringify(path)}: ${oneLine(error)}`);
    }
  });
  const profile = calibrateFrom({
    files,
    name: flags.name,
    ...(flags.base === undefined ? {} : { base: flags.base }),
    ...(flags.stack === undefined ? {} : { stack: flags.stack as SoftwareStack }),
    // What the profile depends on (not --out): the same command gives the same bits anywhere.
    command: ['kvr calibrate --from', ...flags.from!, '--name', flags.name, ...(flags.base === undefined ? [] : ['--base', flags.base]), ...(flags.stack === undefined ? [] : ['--stack', flags.stack])].join(' '),
  });
  const out = flags.out ?? builtProfilePath(flags.name);
  try {
    io.writeFile(out, `${JSON.stringify(profile, null, 2)}\n`);
  } catch (error) {
    throw new KvrInputError('--out', `cannot write ${JSON.stringify(out)}: ${oneLine(error)}`);
  }
  const cv = (profile.fit as { cv: Record<string, { points: number; mean: number; max: number } | null> }).cv;
  const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
  const lines = Object.entries(cv).map(([op, e]) => (e === null ? `  ${op}: not measured` : `  ${op}: mean ${percent(e.mean)}, max ${percent(e.max)} over ${e.points} points`));
  io.stdout(`wrote ${out}: shape profile ${flags.name} (${String(profile.stack_description)})\nleave-one-out error per op class:\n${lines.join('\n')}\n`);
}
