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
}
