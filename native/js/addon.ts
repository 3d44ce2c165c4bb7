import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { projectRoot } from '../../cli/project-root.js';
import { NativeError } from './native-error.js';

/** The functions the compiled addon (native/addon/addon.cpp) exports. */
export interface KvrAddon {
  execute(plan: string, options?: Record<string, unknown>): Promise<{ measurement: string; trace: string; logits: Float32Array; kv?: Float32Array }>;
  timeOps(plan: string, opIds: number[], options?: Record<string, unknown>): Promise<string>;
  devices(): Promise<string>;
  benchAttention(options: Record<string, unknown>): Promise<string>;
  build: { cuda: boolean; nccl: boolean };
}

let addon: KvrAddon | undefined;

/** Where cmake-js puts the addon: build/Release/kvr.node under the package root. */
export function addonPath(): string {
  return join(projectRoot(), 'build', 'Release', 'kvr.node');
}

/** Loads the addon once; a missing build is a NativeError('addon-missing'), not a crash. */
export function loadAddon(): KvrAddon {
  if (addon !== undefined) return addon;
  const path = addonPath();
  if (!existsSync(path)) {
    throw new NativeError('addon-missing', `the native addon is not built (no ${path}): run npm install, which needs cmake and a C++17 compiler`);
  }
  addon = createRequire(import.meta.url)(path) as KvrAddon;
  return addon;
}
