import { accessSync, appendFileSync, closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { freemem } from 'node:os';
import { dirname, join } from 'node:path';
import { KvrInputError } from '../sim/errors.js';
import { oneLine } from './load-json.js';

/** What an output path names: a file the command writes, or a folder it fills. */
export type OutputKind = 'file' | 'folder';

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
  /**
   * Makes sure an output can be written, before the work starts: a folder is created (with its
   * parents) and must take new files; a file must not be a folder and its folder must exist and
   * take it. Throws an Error saying why not. Absent: outputs are not checked ahead (in-memory ios).
   */
  prepareOutput?(path: string, kind: OutputKind): void;
  /**
   * Takes the lock file `path` for this process (created atomically, holding the pid; a lock
   * whose owner is dead is taken over) and returns its release. Throws a LockHeldError when a
   * live process holds it. Absent: no locking (in-memory ios).
   */
  lock?(path: string): () => void;
  /** Bytes of memory that can be allocated now (MemAvailable); absent: unknown, nothing is capped. */
  availableMemory?(): number;
}

/** A lock file held by another live process. */
export class LockHeldError extends Error {
  readonly owner: number;
  constructor(path: string, owner: number) {
    super(`${JSON.stringify(path)} is held by process ${owner}`);
    this.owner = owner;
  }
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
  prepareOutput: (path, kind) => {
    if (kind === 'folder') {
      makeFolders(path);
      if (!statSync(path).isDirectory()) throw new Error('exists and is not a folder');
      probeWrite(join(path, `.kvr-write-check-${process.pid}`));
      return;
    }
    let stats;
    try {
      stats = statSync(path);
    } catch {
      stats = undefined;
    }
    if (stats?.isDirectory()) throw new Error('is a folder; name a file');
    if (stats === undefined) {
      const folder = dirname(path);
      let folderStats;
      try {
        folderStats = statSync(folder);
      } catch {
        throw new Error(`its folder ${JSON.stringify(folder)} does not exist`);
      }
      if (!folderStats.isDirectory()) throw new Error(`${JSON.stringify(folder)} is not a folder`);
      probeWrite(path);
    } else {
      accessSync(path, constants.W_OK);
    }
  },
  lock: (path) => lockFile(path),
  availableMemory: () => availableMemoryBytes(),
};

/**
 * Memory that can be allocated without swapping: /proc/meminfo's MemAvailable (free memory plus
 * reclaimable caches), else os.freemem(). Never the machine's total.
 */
export function availableMemoryBytes(): number {
  try {
    const match = /^MemAvailable:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (match !== null) return Number(match[1]) * 1024;
  } catch {
    // not Linux
  }
  return freemem();
}

/**
 * Creates a folder and its missing parents, one level at a time. (Node's mkdirSync with
 * `recursive` loops forever where a parent exists but refuses children with ENOENT, as /proc does.)
 */
export function makeFolders(path: string): void {
  try {
    mkdirSync(path);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw error;
    makeFolders(parent);
  }
  mkdirSync(path); // once more, now that the parent exists; a second ENOENT is final
}

/** Creates and deletes a file: the only sure test that a folder takes new files (root ignores modes). */
function probeWrite(path: string): void {
  closeSync(openSync(path, 'wx'));
  unlinkSync(path);
}

/** Whether a process with this pid is alive (EPERM: alive, another user's). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockFile(path: string): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx'); // O_CREAT | O_EXCL: exactly one process creates it
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        continue; // released meanwhile: try again
      }
      const owner = Number.parseInt(text, 10);
      // An empty file is a lock being written by its (live) owner this instant.
      if (text.trim() === '' || (Number.isInteger(owner) && owner > 0 && processAlive(owner))) throw new LockHeldError(path, Number.isInteger(owner) ? owner : 0);
      // The owner died without releasing it: take it over, unless it changed hands meanwhile.
      try {
        if (readFileSync(path, 'utf8') === text) unlinkSync(path);
      } catch {
        // gone already
      }
      continue;
    }
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      process.removeListener('exit', release);
      try {
        if (readFileSync(path, 'utf8') === `${process.pid}\n`) unlinkSync(path);
      } catch {
        // removed by hand
      }
    };
    process.once('exit', release);
    return release;
  }
  throw new Error(`${JSON.stringify(path)}: could not take the lock (it keeps changing hands)`);
}

/**
 * Checks an output path (--out, --trace, ...) before the work starts: one line naming the flag
 * when it cannot be written. Folders are created.
 */
export function checkOutput(io: CliIo, path: string, flag: string, kind: OutputKind = 'file'): void {
  if (io.prepareOutput === undefined) return;
  try {
    io.prepareOutput(path, kind);
  } catch (error) {
    throw new KvrInputError(flag, `cannot write ${JSON.stringify(path)}: ${oneLine(error)}`);
  }
}

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

/**
 * Takes `${prefix}.lock` for this process while it writes outputs under `prefix` (a sweep's
 * PREFIX.csv and PREFIX.jsonl), so two runs never append to one output; returns its release.
 * Another live run's lock is one line naming the flag; a dead run's lock is taken over.
 */
export function lockOutput(io: CliIo, prefix: string, flag: string): () => void {
  if (io.lock === undefined) return () => undefined;
  const path = `${prefix}.lock`;
  try {
    return io.lock(path);
  } catch (error) {
    if (error instanceof LockHeldError) {
      throw new KvrInputError(
        flag,
        `${JSON.stringify(prefix)} is being written by another kvr run (pid ${error.owner}, lock file ${JSON.stringify(path)}); wait for it to finish, or delete the lock file if that process is not kvr`,
      );
    }
    throw new KvrInputError(flag, `cannot write ${JSON.stringify(path)}: ${oneLine(error)}`);
  }
}
