// Turns vitest's JSON report into the plain "N passed, N failed" line CI reads. A test file that
// failed to load has no tests in the report, so it counts as one failure. Optional arguments add
// checks run outside vitest (passed, failed).
import { existsSync, readFileSync } from 'node:fs';

const [path, extraPassed = '0', extraFailed = '0'] = process.argv.slice(2);
if (!path || !existsSync(path)) {
  console.log(`${Number(extraPassed)} passed, ${1 + Number(extraFailed)} failed`);
  process.exit(1);
}
const report = JSON.parse(readFileSync(path, 'utf8'));
const brokenFiles = report.testResults.filter((file) => file.status === 'failed' && file.assertionResults.length === 0).length;
const passed = report.numPassedTests + Number(extraPassed);
const failed = report.numFailedTests + brokenFiles + Number(extraFailed);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
