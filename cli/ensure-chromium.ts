/**
 * The pretest step: finds Chromium for the HTML report's test, installs Debian's as root, or tells
 * a non-root user the one command to run and fails (exit 1) before any test runs.
 */
import { execSync } from 'node:child_process';
import { chromiumPlan, findChromium, INSTALL_COMMAND } from './chromium.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = findOnPath('apt-get');
const plan = chromiumPlan(findChromium(process.env), isRoot, hasApt);
if (plan.action === 'ok') {
  process.exitCode = 0;
} else {
  process.stderr.write(`${plan.message}\n`);
  if (plan.action === 'install') {
    try {
      execSync(INSTALL_COMMAND, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    } catch {
      process.stderr.write(`could not install chromium (${INSTALL_COMMAND} failed)\n`);
      process.exitCode = 1;
    }
    if (process.exitCode !== 1 && !findChromium(process.env).found) {
      process.stderr.write('chromium is still not on PATH after the install\n');
      process.exitCode = 1;
    }
  } else {
    process.exitCode = 1;
  }
}

function findOnPath(name: string): boolean {
  try {
    execSync(`command -v ${name}`, { stdio: 'ignore', shell: '/bin/sh' });
    return true;
  } catch {
    return false;
  }
}
