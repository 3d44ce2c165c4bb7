/**
 * The files the CLI's scenario code may read, as the browser sees them: kvr's calibrated
 * profiles, partition tables and tiny test models under /kvr (embedded at bundle time), plus
 * whatever the user pasted (a model or GPU JSON), registered by the worker before each run.
 */
import embedded from 'kvr-embedded-files';

/** Where the bundle's kvr package root appears to be (cli/project-root.ts walks up to it). */
export const VIRTUAL_ROOT = '/kvr';

const files = new Map<string, string>(Object.entries(embedded as Record<string, string>).map(([path, text]) => [`${VIRTUAL_ROOT}/${path}`, text]));

export function setVirtualFile(path: string, text: string): void {
  files.set(path, text);
}

export function virtualFile(path: string): string | undefined {
  return files.get(path);
}

export function virtualDir(path: string): string[] {
  const prefix = path.endsWith('/') ? path : `${path}/`;
  const names = new Set<string>();
  for (const key of files.keys()) if (key.startsWith(prefix)) names.add(key.slice(prefix.length).split('/')[0]!);
  return [...names];
}

/** Every virtual path under a folder, at any depth. */
export function virtualPaths(path: string): string[] {
  const prefix = path.endsWith('/') ? path : `${path}/`;
  return [...files.keys()].filter((key) => key.startsWith(prefix)).sort();
}
