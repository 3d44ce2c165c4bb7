/**
 * An input the user can fix. The message names the field and says what is allowed, so the CLI
 * can print it as one line and exit 2 without a stack trace.
 */
export class KvrInputError extends Error {
  readonly field: string;
  /** The message without the field, for front ends that name fields their own way. */
  readonly detail: string;

  constructor(field: string, detail: string) {
    super(`${field}: ${detail}`);
    this.name = 'KvrInputError';
    this.field = field;
    this.detail = detail;
  }
}

/**
 * A plan too big to simulate in memory (checkPlanSize). Its own class so that a command trying
 * several strategies can skip the one that is too big instead of failing.
 */
export class PlanSizeError extends KvrInputError {
  constructor(field: string, detail: string) {
    super(field, detail);
    this.name = 'PlanSizeError';
  }
}

/** Short, quoted rendering of a user-supplied value for error messages. */
export function describeValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value);
  else if (value === undefined) text = 'nothing';
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
