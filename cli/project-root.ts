import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_OUT_DIR } from './output-paths.js';

let root: string | undefined;

/**
 * The kvr package's root folder (where package.json and calibration/ live), found by walking up
 * from this module, so it is the same whether the CLI runs from dist/ or from the TypeScript source.
 */
export function projectRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'kvr') {
      root = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the kvr package root');
    dir = parent;
  }
}

/** Where the partition table for a model, GPU and topology kind is kept by default. */
export function defaultTablePath(model: string, gpu: string, topology: string, attention: string): string {
  return join(projectRoot(), 'calibration', 'partition-tables', `${model}.${gpu}.${topology}.${attention}.json`);
}

/** Where `kvr partition build-table` writes a table by default: kvr-out/ in the working directory. */
export function builtTablePath(model: string, gpu: string, topology: string, attention: string): string {
  return join(DEFAULT_OUT_DIR, 'partition-tables', `${model}.${gpu}.${topology}.${attention}.json`);
}

/**
 * The table kvr-p --predictor interpolate reads without --table: one built here (kvr-out/) wins
 * over the committed one in calibration/partition-tables/.
 */
export function findDefaultTable(model: string, gpu: string, topology: string, attention: string, readable: (path: string) => boolean): string {
  const built = builtTablePath(model, gpu, topology, attention);
  return readable(built) ? built : defaultTablePath(model, gpu, topology, attention);
}

/** A profile shipped with kvr (calibration/profiles/<gpu>.json in the install folder). */
export function defaultProfilePath(gpu: string): string {
  return join(projectRoot(), 'calibration', 'profiles', `${gpu}.json`);
}

/** Where `kvr calibrate` writes a profile by default: kvr-out/profiles/ in the working directory. */
export function builtProfilePath(gpu: string): string {
  return join(DEFAULT_OUT_DIR, 'profiles', `${gpu}.json`);
}

/**
 * The profile files --gpu NAME is looked up in, in order: one calibrated here (kvr-out/profiles/,
 * what `kvr calibrate` writes) wins over the one shipped in calibration/profiles/.
 */
export function profileCandidates(gpu: string): string[] {
  return [builtProfilePath(gpu), defaultProfilePath(gpu)];
}

/** Models small enough for the CPU backend, kept with the native executor's scripts (CI runs them). */
export const TINY_MODELS = ['tiny-llama', 'tiny-falcon'];

export function tinyModelPath(name: string): string {
  return join(projectRoot(), 'native', 'scripts', 'models', `${name}.json`);
}

/** The version in kvr's package.json (`kvr --version`). */
export function kvrVersion(): string {
  return (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
