import { KvrInputError, describeValue } from '../errors.js';
import { checkInteger, type IntegerBounds } from '../input/fields.js';

/**
 * A token count: an integer, or with a binary suffix as figures label contexts: k = 1024,
 * M = 1024^2 ("128k" = 131072, "1M" = 1048576, "1.5k" = 1536). The result must be a whole number.
 */
export const TOKEN_SUFFIXES = 'k = 1024, M = 1048576';

export function parseTokens(text: string, field: string, bounds: IntegerBounds = {}): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$/.exec(text);
  const scale = match === null ? NaN : match[2] === '' ? 1 : /k/i.test(match[2]!) ? 1024 : 1024 * 1024;
  const value = match === null ? NaN : Number(match[1]) * scale;
  if (match === null || (match[2] === '' && match[1]!.includes('.')) || (match[2] === '' && /^0\d/.test(match[1]!)) || !Number.isInteger(value)) {
    const range = bounds.max === undefined ? `>= ${bounds.min ?? 0}` : `in ${bounds.min ?? 0}..${bounds.max}`;
    throw new KvrInputError(field, `expected a token count ${range} such as 16384, 128k or 1M (${TOKEN_SUFFIXES}) (got ${describeValue(text)})`);
  }
  return checkInteger(value, field, bounds);
}
