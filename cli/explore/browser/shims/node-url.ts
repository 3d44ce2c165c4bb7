/** node:url in the browser bundle: every module appears to live in /kvr/cli (see virtual-files.ts). */
import { VIRTUAL_ROOT } from './virtual-files.js';

export function fileURLToPath(_url: string): string {
  return `${VIRTUAL_ROOT}/cli/module.js`;
}

export function pathToFileURL(path: string): { href: string } {
  return { href: `file://${path}` };
}
