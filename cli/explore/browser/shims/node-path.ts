/** node:path in the browser bundle: the POSIX subset the CLI's scenario code uses. */
export const sep = '/';
export const delimiter = ':';

export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== '').join('/');
  const absolute = joined.startsWith('/');
  const out: string[] = [];
  for (const part of joined.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return (absolute ? '/' : '') + (out.join('/') || (absolute ? '' : '.'));
}

export function dirname(path: string): string {
  const i = path.replace(/\/+$/, '').lastIndexOf('/');
  if (i < 0) return '.';
  return i === 0 ? '/' : path.slice(0, i);
}

export function basename(path: string, ext?: string): string {
  const base = path.replace(/\/+$/, '').split('/').pop() ?? '';
  return ext !== undefined && base.endsWith(ext) ? base.slice(0, -ext.length) : base;
}

export function resolve(...parts: string[]): string {
  return join('/', ...parts);
}

export default { sep, delimiter, join, dirname, basename, resolve };
