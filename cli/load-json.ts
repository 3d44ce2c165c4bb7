import { KvrInputError } from '../sim/errors.js';
import type { CliIo } from './io.js';

/** Reads a text file; a failure becomes a one-line error naming the flag. */
export function readInputFile(io: CliIo, path: string, field: string): string {
  try {
    return io.readFile(path);
  } catch (error) {
    throw new KvrInputError(field, `cannot read ${JSON.stringify(path)}: ${oneLine(error)}`);
  }
}

/** Reads and parses a JSON file; failures become one-line errors naming the flag. */
export function loadJsonFile(io: CliIo, path: string, field: string): unknown {
  const text = readInputFile(io, path, field);
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new KvrInputError(field, `${JSON.stringify(path)} is not valid JSON: ${oneLine(error)}`);
  }
  checkDocumentDepth(value, path, field);
  return value;
}

/**
 * Deepest nesting an input document may have. Every kind this CLI reads (models, GPUs,
 * topologies, plans, tables, specs, catalogues) is a few levels deep; the checks that walk a
 * document recurse, so a file nested 100,000 deep would overflow the stack.
 */
export const MAX_DOCUMENT_DEPTH = 64;

/** Refuses a parsed document nested deeper than MAX_DOCUMENT_DEPTH (walked without recursion). */
export function checkDocumentDepth(value: unknown, path: string, field: string): void {
  const stack: unknown[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const item = stack.pop();
    const depth = depths.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    if (depth > MAX_DOCUMENT_DEPTH) {
      throw new KvrInputError(field, `${JSON.stringify(path)} is nested more than ${MAX_DOCUMENT_DEPTH} levels deep (arrays and objects inside each other); no input of kvr needs more`);
    }
    for (const child of Object.values(item)) {
      stack.push(child);
      depths.push(depth + 1);
    }
  }
}

/** Whether a flag value names a file rather than a preset. */
export function looksLikePath(value: string): boolean {
  return value.includes('/') || value.includes('\\') || value.toLowerCase().endsWith('.json');
}

export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim();
}
