// Turns vitest's JSON report into the plain "N passed, N failed" line CI reads (the last line
// printed), with one "ci: ..." line above it for each reason the run is not a pass. Exit 0 only
// when it says 0 failed.
//
//   node .ci/summarize.mjs REPORT [--vitest-status N] [--extra-passed N] [--extra-failed N]
//                                 [--allowed-skips FILE]
//
// A run is not a pass when, besides failed tests:
// - the report is missing or unreadable (vitest never ran: e.g. the type check before it failed);
// - a test file failed with no failed test in it (it failed to load, or a beforeAll/afterAll
//   hook threw): one failure per file;
// - the report says success: false and nothing above explains it;
// - vitest exited non-zero and nothing above explains it (an unhandled error or rejection, which
//   the JSON report does not list): one failure;
// - no test passed (an empty run, or every test skipped);
// - a test was skipped (skip, skipIf, todo, ctx.skip) without an entry in the allowed-skips file,
//   a JSON object {"<file> > <describe> > <test>": "why it may skip"}: one failure per test.
// --extra-passed/--extra-failed add checks run outside vitest (the CUDA kernel compile check).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'vitest-status': { type: 'string', default: '0' },
    'extra-passed': { type: 'string', default: '0' },
    'extra-failed': { type: 'string', default: '0' },
    'allowed-skips': { type: 'string', default: resolve(root, '.ci/allowed-skips.json') },
  },
});

const count = (name) => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 0) {
    console.log(`ci: --${name} must be a whole number, got ${JSON.stringify(values[name])}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  return value;
};
const vitestStatus = count('vitest-status');
let passed = count('extra-passed');
let failed = count('extra-failed');
const problem = (message) => {
  console.log(`ci: ${message}`);
  failed += 1;
};

/** Prints the line and exits: 0 only when nothing failed. */
function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

const [path] = positionals;
let report;
try {
  if (!path || !existsSync(path)) throw new Error(`no vitest report at ${path ?? '(none given)'}`);
  report = JSON.parse(readFileSync(path, 'utf8'));
  if (!Array.isArray(report.testResults)) throw new Error(`${path} has no testResults`);
} catch (error) {
  problem(`${error.message} (vitest exited ${vitestStatus}; see the log above)`);
  finish();
}

let allowed = {};
if (existsSync(values['allowed-skips'])) {
  try {
    allowed = JSON.parse(readFileSync(values['allowed-skips'], 'utf8'));
    if (typeof allowed !== 'object' || allowed === null || Array.isArray(allowed)) throw new Error('expected an object {test: reason}');
    for (const [name, reason] of Object.entries(allowed)) {
      if (typeof reason !== 'string' || reason.trim() === '') throw new Error(`"${name}" has no reason`);
    }
  } catch (error) {
    problem(`${values['allowed-skips']}: ${error.message}`);
    allowed = {};
  }
}

let failedTests = 0;
let brokenFiles = 0;
let vitestPassed = 0;
for (const file of report.testResults) {
  const name = relative(root, file.name ?? '');
  const tests = file.assertionResults ?? [];
  for (const test of tests) {
    const key = [name, ...(test.ancestorTitles ?? []), test.title].join(' > ');
    if (test.status === 'passed') {
      vitestPassed += 1;
    } else if (test.status === 'failed') {
      failedTests += 1;
    } else if (typeof allowed[key] === 'string') {
      console.log(`ci: skipped (allowed): ${key}: ${allowed[key]}`);
    } else {
      problem(`${test.status} without a reason in the allowed skips: ${key}`);
    }
  }
  if (file.status === 'failed' && !tests.some((test) => test.status === 'failed')) {
    const why = tests.length === 0 ? 'failed to load' : 'failed outside its tests (a hook threw?)';
    brokenFiles += 1;
    problem(`${name} ${why}: ${String(file.message ?? '').split('\n')[0]}`);
  }
}
passed += vitestPassed;
failed += failedTests;
if (failedTests + brokenFiles === 0) {
  if (report.success === false) problem('vitest reports success: false with no failed test');
  else if (vitestStatus !== 0) problem(`vitest exited ${vitestStatus} with no failed test (an unhandled error? see the log above)`);
}
if (vitestPassed === 0) problem('no test passed');
finish();
