import { join } from 'node:path';

/**
 * Where commands write when --out is not given: a folder in the working directory, never kvr's
 * install folder and never next to an input (so running the README's tour in a clone changes no
 * tracked file; /kvr-out/ is git-ignored). `kvr plan` keeps its kvr-plan.* files in the working
 * directory.
 */
export const DEFAULT_OUT_DIR = 'kvr-out';

export function defaultOutput(...parts: string[]): string {
  return join(DEFAULT_OUT_DIR, ...parts);
}
