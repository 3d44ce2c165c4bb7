#!/usr/bin/env node
// Entry point of the `kvr` command: the compiled CLI lives in dist/ (built by `npm install`).
import { runCli } from '../dist/cli/main.js';
import { processIo } from '../dist/cli/io.js';

process.exitCode = await runCli(process.argv.slice(2), processIo);
