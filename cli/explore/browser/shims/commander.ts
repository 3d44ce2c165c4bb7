/** commander in the browser bundle: the scenario code only builds options with it on the CLI path. */
export class Command {}
export class Option {}
export class CommanderError extends Error {}
