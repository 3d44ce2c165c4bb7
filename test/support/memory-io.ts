import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { CliIo } from '../../cli/io.js';

/**
 * A CliIo over in-memory files that records what the CLI prints. Absolute paths that are not in
 * memory are read from disk (the package's own data: tiny models, tables); writes stay in memory.
 */
export class MemoryIo implements CliIo {
  out = '';
  err = '';
  readonly files: Map<string, string>;
  env: Record<string, string | undefined> = {};
  stderrIsTTY = false;
  /** A fake clock (ms) that advances by `tick` on every read, so rates and ETAs are deterministic. */
  clock = 0;
  tick = 10;

  constructor(files: Record<string, string> = {}) {
    this.files = new Map(Object.entries(files));
  }

  stdout(text: string): void {
    this.out += text;
  }

  stderr(text: string): void {
    this.err += text;
  }

  readFile(path: string): string {
    const text = this.files.get(path);
    if (text !== undefined) return text;
    if (isAbsolute(path) && existsSync(path)) return readFileSync(path, 'utf8');
    throw new Error(`ENOENT: no such file or directory, open '${path}'`);
  }

  writeFile(path: string, text: string): void {
    if (path.startsWith('/nonexistent/')) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    this.files.set(path, text);
  }

  appendFile(path: string, text: string): void {
    if (path.startsWith('/nonexistent/')) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    this.files.set(path, (this.files.get(path) ?? '') + text);
  }

  removeFile(path: string): void {
    this.files.delete(path);
  }

  listDir(path: string): string[] {
    const prefix = path === '.' || path === '' ? '' : path.endsWith('/') ? path : `${path}/`;
    const names = new Set<string>();
    for (const file of this.files.keys()) {
      if (file.startsWith(prefix) && !file.slice(prefix.length).includes('/')) names.add(file.slice(prefix.length));
    }
    return [...names].sort();
  }

  now(): number {
    this.clock += this.tick;
    return this.clock;
  }
}
