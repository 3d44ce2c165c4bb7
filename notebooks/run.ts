/**
 * Runs the notebooks: all of them, or those named, each writing into <out>/<notebook>/ (default
 * notebooks/out/<notebook>/), and prints what each found and how long it took.
 *
 *   npm run notebooks                      # all
 *   npm run notebooks -- timeline speedup  # some
 *   node dist/notebooks/run.js --out /tmp/figures
 *   node dist/notebooks/run.js --help
 */
import { join } from 'node:path';
import { Command } from 'commander';
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

// commander parses the arguments, so --help, --out DIR / --out=DIR and unknown options behave as in kvr.
const program = new Command('notebooks')
  .description('run the notebooks (all, or those named), each writing into <out>/<notebook>/')
  .argument('[names...]', `notebooks to run (default: all): ${NOTEBOOKS.map((n) => n.name).join(', ')}`)
  .option('--out <dir>', 'output root (default: notebooks/out)')
  // Bad input exits 2, as kvr's does (commander's default is 1); --help exits 0.
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))
  .action(async (names: string[], options: { out?: string }) => {
    process.exitCode = await runNotebooks(names, options.out);
  });
await program.parseAsync(process.argv);
