import type { CliIo } from '../../cli/io.js';

/** A CliIo over in-memory files that records what the CLI prints. */
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
    if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return text;
  }

  writeFile(path: string, text: string): void {
    if (path.startsWith('/nonexistent/')) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    this.files.set(path, text);
  }
}
