#!/usr/bin/env node
// Entry point of the `kvr` command: the compiled CLI lives in dist/ (built by `npm install`).
import { runCli } from '../dist/cli/main.js';
import { processIo } from '../dist/cli/io.js';

// A reader that stops early (`kvr simulate | head`) closes the pipe: stop quietly, as Unix tools
// do, instead of dying on an unhandled EPIPE; any other failure to write exits 1.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => process.exit(error.code === 'EPIPE' ? 0 : 1));
}

process.exitCode = await runCli(process.argv.slice(2), processIo);
