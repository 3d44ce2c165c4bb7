import { Command, CommanderError } from 'commander';
import { KvrInputError } from '../sim/errors.js';
import { demoCommand } from './commands/demo.js';
import { simulateCommand, type SimulateFlags } from './commands/simulate.js';
import { addScenarioOptions } from './scenario-flags.js';
import type { CliIo } from './io.js';
import { oneLine } from './load-json.js';

export const EXIT_OK = 0;
export const EXIT_INTERNAL = 1;
export const EXIT_USAGE = 2;

/** Field names the simulator library uses, spelled as the CLI flags that set them. */
const FLAG_OF_FIELD: Record<string, string> = {
  gpus: '--gpus',
  context: '--context',
  partition: '--partition',
  strategy: '--strategy',
  topology: '--topology',
};

/**
 * Runs the kvr command line and returns the exit code: 0 on success, 2 on bad input (one line on
 * stderr naming the field and what is allowed), 1 on an internal error. Never throws.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const program = new Command('kvr')
    .description('Predict and measure time-to-first-token of long-context prefill spread over many GPUs')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      outputError: () => undefined,
    })
    .showSuggestionAfterError(true);

  addScenarioOptions(
    program
      .command('simulate')
      .description('simulate one prefill and print its TTFT, per-rank times, traffic and memory')
      .option('--json', 'print the kvr-sim/result@1 JSON')
      .option('--trace <file>', 'write a Perfetto trace (open in ui.perfetto.dev)'),
  ).action((flags: SimulateFlags) => simulateCommand(flags, io));

  program
    .command('demo')
    .description("the KV-Runahead paper's setting on built-in defaults: TTFT of single, TSP and KVR")
    .option('--json', 'print the rows as JSON')
    .action((flags: { json?: boolean }) => demoCommand(flags, io));

  if (argv.length === 0) {
    io.stdout(program.helpInformation());
    return EXIT_OK;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    return reportError(error, io);
  }
}

function reportError(error: unknown, io: CliIo): number {
  if (error instanceof CommanderError) {
    if (error.exitCode === 0) return EXIT_OK; // --help, --version
    io.stderr(`kvr: ${oneLine(error.message.replace(/^error: /, ''))}\n`);
    return EXIT_USAGE;
  }
  if (error instanceof KvrInputError) {
    const field = FLAG_OF_FIELD[error.field] ?? error.field;
    io.stderr(`kvr: ${field}: ${oneLine(error.detail)}\n`);
    return EXIT_USAGE;
  }
  const detail = process.env.KVR_DEBUG && error instanceof Error ? ` ${error.stack}` : '';
  io.stderr(`kvr: internal error: ${oneLine(error)}${detail ? ' (KVR_DEBUG)' : ''}\n`);
  if (detail) io.stderr(`${detail}\n`);
  return EXIT_INTERNAL;
}
