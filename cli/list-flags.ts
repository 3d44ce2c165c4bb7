import { KvrInputError } from '../sim/errors.js';

/** Splits a comma-separated flag value ("2,4,8", "300 GB/s,10 GB/s") into non-empty items. */
export function splitList(value: string, flag: string): string[] {
  const items = value.split(',').map((item) => item.trim());
  if (items.some((item) => item.length === 0)) {
    throw new KvrInputError(flag, `expected a comma-separated list without empty items (got ${JSON.stringify(value)})`);
  }
  return items;
}
