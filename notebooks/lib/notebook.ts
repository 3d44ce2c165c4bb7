/**
 * What every notebook does when run: write its figures into notebooks/out/<notebook>/ (or the
 * folder given as the first argument) and print what it found.
 */
import { resolve, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../../cli/project-root.js';
import { writeFigure, type Figure, type WrittenFigure } from './figure.js';

/** True when the module at `moduleUrl` is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && resolve(script) === fileURLToPath(moduleUrl);
}

/** notebooks/out/<name> under the kvr package root. */
export function defaultOutDir(name: string): string {
  return join(projectRoot(), 'notebooks', 'out', name);
}

/** Writes figures and prints each one's summary and findings. */
export async function writeFigures(
  outDir: string,
  figures: Figure[],
  log: (line: string) => void = (line) => console.log(line),
): Promise<WrittenFigure[]> {
  const written: WrittenFigure[] = [];
  for (const figure of figures) {
    const result = await writeFigure(outDir, figure.name, figure);
    written.push(result);
    log(`  ${result.summary}`);
    for (const finding of figure.findings) log(`    ${finding}`);
  }
  return written;
}

export interface Notebook {
  name: string;
  /** One line: what the notebook shows. */
  title: string;
  run(outDir?: string, log?: (line: string) => void): Promise<WrittenFigure[]>;
}
