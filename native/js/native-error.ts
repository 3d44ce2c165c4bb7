/**
 * An error raised by the native executor, with its stable code (see native/include/kvr/error.hpp)
 * and the file:line that raised it.
 */
export class NativeError extends Error {
  readonly code: string;
  readonly where: string;

  constructor(code: string, message: string, where = '') {
    super(message);
    this.name = 'NativeError';
    this.code = code;
    this.where = where;
  }
}

/** Codes meaning the request itself was wrong (exit 2), as opposed to the machine (3, 4) or a bug (1). */
export const INPUT_ERROR_CODES = ['invalid-argument', 'invalid-plan'];
export const UNAVAILABLE_ERROR_CODES = ['built-without-cuda', 'no-cuda-device', 'nccl-unavailable', 'addon-missing'];

/** Re-raises what the addon rejected with as a NativeError (its `code` and `where` survive). */
export function asNativeError(error: unknown): NativeError {
  if (error instanceof NativeError) return error;
  if (error instanceof Error) {
    const coded = error as Error & { code?: unknown; where?: unknown };
    if (typeof coded.code === 'string') return new NativeError(coded.code, error.message, typeof coded.where === 'string' ? coded.where : '');
    if (error instanceof TypeError) return new NativeError('invalid-argument', error.message);
    return new NativeError('internal', error.message);
  }
  return new NativeError('internal', String(error));
}
