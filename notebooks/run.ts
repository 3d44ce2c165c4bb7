/**
 * Runs the notebooks: all of them, or those named, each writing into <out>/<notebook>/ (default
 * notebooks/out/<notebook>/), and prints what each found and how long it took.
 *
 *   npm run notebooks                      # all
 *   npm run notebooks -- timeline speedup  # some
 *   node dist/notebooks/run.js --out /tmp/figures
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { NOTEBOOKS } from './index.js';
import { defaultOutDir } from './lib/notebook.js';

export async function runNotebooks(names: string[], outRoot?: string): Promise<number> {
  const unknown = names.filter((name) => !NOTEBOOKS.some((n) => n.name === name));
  if (unknown.length > 0) {
    console.error(`notebooks: unknown notebook ${unknown.join(', ')} (notebooks: ${NOTEBOOKS.map((n) => n.name).join(', ')})`);
    return 2;
  }
  const selected = names.length === 0 ? NOTEBOOKS : NOTEBOOKS.filter((n) => names.includes(n.name));
  const started = performance.now();
  for (const notebook of selected) {
    const t0 = performance.now();
    console.log(`${notebook.name}: ${notebook.title}`);
    await notebook.run(outRoot === undefined ? defaultOutDir(notebook.name) : join(outRoot, notebook.name));
    console.log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  console.log(`${selected.length} notebook(s) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

function parseArgs(argv: string[]): { names: string[]; out?: string } {
  const names: string[] = [];
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--out') out = argv[++i];
    else if (arg.startsWith('--out=')) out = arg.slice('--out='.length);
    else names.push(arg);
  }
  return out === undefined ? { names } : { names, out };
}

const { names, out } = parseArgs(process.argv.slice(2));
process.exitCode = await runNotebooks(names, out);
