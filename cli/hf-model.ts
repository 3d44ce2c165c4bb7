import { basename, dirname, join } from 'node:path';
import { KvrInputError, describeValue } from '../sim/errors.js';
import { HF_CATALOGUE, hfCatalogueConfig } from '../sim/model/hf-catalogue.js';
import { isHfConfig, modelFromHfConfig } from '../sim/model/hf-config.js';
import type { ModelSpec } from '../sim/model/model-spec.js';
import type { CliIo } from './io.js';
import { loadJsonFile } from './load-json.js';

/** Notes already printed, per io: a config's ignored fields are listed once per run. */
const noted = new WeakMap<CliIo, Set<string>>();

/**
 * --model as a Hugging Face config: `hf:<repo id>` (built-in catalogue, no network), a folder
 * holding config.json, or a JSON file whose keys are a transformers config. Returns undefined
 * when the value is none of these (a preset name or a kvr model file). Fields kvr does not model
 * are listed once on stderr.
 */
export function resolveHfModel(value: string, io: CliIo): ModelSpec | undefined {
  if (value.startsWith('hf:')) {
    const repoId = value.slice(3);
    const entry = hfCatalogueConfig(repoId);
    if (entry === undefined) {
      throw new KvrInputError('--model', `${describeValue(repoId)} is not in the built-in catalogue (kvr reads no network; catalogue: ${Object.keys(HF_CATALOGUE).join(', ')}; or download its config.json and pass the file)`);
    }
    return fromConfig(entry.config, entry.id, `hf:${entry.id}`, io);
  }
  let path = value;
  if (!value.toLowerCase().endsWith('.json')) {
    const entries = io.listDir?.(value) ?? [];
    if (!entries.includes('config.json')) return undefined;
    path = join(value, 'config.json');
  }
  const document = loadJsonFile(io, path, '--model');
  if (!isHfConfig(document)) return undefined;
  const name = (document as Record<string, unknown>)._name_or_path;
  const modelName = typeof name === 'string' && name !== '' ? name : basename(path) === 'config.json' ? basename(dirname(path)) || 'config' : basename(path, '.json');
  return fromConfig(document, modelName, path, io);
}

function fromConfig(config: unknown, name: string, source: string, io: CliIo): ModelSpec {
  const { model, ignored } = modelFromHfConfig(config, name, source);
  let seen = noted.get(io);
  if (seen === undefined) noted.set(io, (seen = new Set()));
  if (ignored.length > 0 && !seen.has(source)) {
    seen.add(source);
    io.stderr(`note: ${source}: ${ignored.length} config fields not modelled by kvr, ignored: ${ignored.join(', ')}\n`);
  }
  return model;
}
