/** node:fs in the browser bundle: reads from the virtual files, writes nothing. */
import { virtualFile } from './virtual-files.js';

export function existsSync(path: string): boolean {
  return virtualFile(path) !== undefined;
}

export function readFileSync(path: string): string {
  const text = virtualFile(path);
  if (text === undefined) throw new Error(`ENOENT: no such file in the browser: ${path}`);
  return text;
}

export function accessSync(path: string): void {
  readFileSync(path);
}

export const constants = { X_OK: 1, R_OK: 4, W_OK: 2, F_OK: 0 };
