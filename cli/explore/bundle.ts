/**
 * Builds the explorer's one script: sim/ and the CLI's scenario code (cli/scenario-flags.ts,
 * cli/commands/compare.ts) bundled by esbuild from the TypeScript sources, with d3, for the
 * browser. The same script runs the page and, started again as a Web Worker, the simulations.
 * Node-only imports on that path are swapped for browser shims (browser/shims/); the files the
 * scenario code may read (calibrated profiles, partition tables, tiny models) are embedded, so
 * the page needs no server and no network. Built in memory on first use, nothing written.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { projectRoot } from '../project-root.js';

let cached: Promise<string> | undefined;

/** The bundled script (an IIFE), built once per process. */
export function explorerScript(): Promise<string> {
  cached ??= bundle();
  return cached;
}

async function bundle(): Promise<string> {
  const root = projectRoot();
  const shims = join(root, 'cli', 'explore', 'browser', 'shims');
  const replaced: Record<string, string> = {
    'node:fs': join(shims, 'node-fs.ts'),
    'node:path': join(shims, 'node-path.ts'),
    'node:url': join(shims, 'node-url.ts'),
    'node:module': join(shims, 'node-module.ts'),
    commander: join(shims, 'commander.ts'),
  };
  const plugin: Plugin = {
    name: 'kvr-browser',
    setup(b) {
      b.onResolve({ filter: /^(node:fs|node:path|node:url|node:module|commander)$/ }, (args) => ({ path: replaced[args.path]! }));
      b.onResolve({ filter: /^kvr-embedded-files$/ }, () => ({ path: 'kvr-embedded-files', namespace: 'kvr' }));
      b.onLoad({ filter: /.*/, namespace: 'kvr' }, () => ({ contents: JSON.stringify(embeddedFiles(root)), loader: 'json' }));
    },
  };
  const result = await build({
    entryPoints: [join(root, 'cli', 'explore', 'browser', 'main.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [plugin],
  });
  // Safe inside an inline <script>: esbuild escapes "</script" in strings; "<!--" too, here.
  return result.outputFiles[0]!.text.replace(/<!--/g, '<\\!--');
}

/** The files the browser's scenario code may read, by path under the kvr root. */
function embeddedFiles(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  files['package.json'] = JSON.stringify({ name: manifest.name, version: manifest.version });
  for (const dir of ['calibration/profiles', 'calibration/partition-tables', 'native/scripts/models']) {
    for (const path of jsonFiles(join(root, dir))) files[relative(root, path).split('\\').join('/')] = readFileSync(path, 'utf8');
  }
  return files;
}

function jsonFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return jsonFiles(path);
    return name.endsWith('.json') ? [path] : [];
  });
}
