import type { ModelSpec } from '../sim/model/model-spec.js';
import type { CliIo } from './io.js';
import { splitList } from './list-flags.js';
import { resolveModel } from './scenario-flags.js';

export { TINY_MODELS } from './project-root.js';

/** A comma-separated list of models (presets, tiny test models or JSON files). */
export function resolveModels(value: string, io: CliIo): ModelSpec[] {
  return splitList(value, '--model').map((name) => resolveModel(name, io));
}
