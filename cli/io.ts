import { appendFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

/** The CLI's only window on the world, so tests can run it in-process on virtual files. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readFile(path: string): string;
  writeFile(path: string, text: string): void;
  /** Appends to a file, creating it (sweeps write rows as they go). */
  appendFile?(path: string, text: string): void;
  /** Deletes a file if it is there. */
  removeFile?(path: string): void;
  /** Names of the entries of a folder ([] when it does not exist). */
  listDir?(path: string): string[];
  /** Whether stderr is a terminal (a progress bar redrawn in place, else plain lines). */
  stderrIsTTY?: boolean;
  /** Environment variables (Slurm / Kubernetes shard indices). */
  env?: Record<string, string | undefined>;
  /** Milliseconds from a monotonic clock (progress rates and ETA). */
  now?(): number;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readFile: (path) => readFileSync(path, 'utf8'),
  writeFile: (path, text) => writeFileSync(path, text),
  appendFile: (path, text) => appendFileSync(path, text),
  removeFile: (path) => rmSync(path, { force: true }),
  listDir: (path) => {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  },
  stderrIsTTY: process.stderr.isTTY === true,
  env: process.env,
  now: () => performance.now(),
};

/** Appends through the io, or by rewriting the file where the io cannot append. */
export function appendText(io: CliIo, path: string, text: string): void {
  if (io.appendFile !== undefined) {
    io.appendFile(path, text);
    return;
  }
  let old = '';
  try {
    old = io.readFile(path);
  } catch {
    old = '';
  }
  io.writeFile(path, old + text);
}

/** The file's text, or undefined when it cannot be read (absent). */
export function readTextOrUndefined(io: CliIo, path: string): string | undefined {
  try {
    return io.readFile(path);
  } catch {
    return undefined;
  }
}
