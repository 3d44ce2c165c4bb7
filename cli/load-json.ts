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
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new KvrInputError(field, `${JSON.stringify(path)} is not valid JSON: ${oneLine(error)}`);
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
