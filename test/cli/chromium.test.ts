import { describe, expect, test } from 'vitest';
import { chromiumPlan, findChromium, INSTALL_COMMAND } from '../../cli/chromium.js';

/** A fake file system: only these paths are executable. */
const only = (...paths: string[]) => (path: string) => paths.includes(path);

describe('finding Chromium for the HTML report test (npm test pretest step)', () => {
  test('KVR_CHROMIUM wins when it names an executable', () => {
    expect(findChromium({ KVR_CHROMIUM: '/opt/c/chrome', PATH: '/usr/bin' }, only('/opt/c/chrome', '/usr/bin/chromium'))).toEqual({ found: true, path: '/opt/c/chrome' });
  });
  test('a KVR_CHROMIUM that does not exist is an error, not a silent fallback', () => {
    const lookup = findChromium({ KVR_CHROMIUM: '/nowhere/chromium', PATH: '/usr/bin' }, only('/usr/bin/chromium'));
    expect(lookup).toEqual({ found: false, reason: 'KVR_CHROMIUM=/nowhere/chromium is not an executable file', override: true });
    expect(chromiumPlan(lookup, true, true).action).toBe('fail');
  });
  test('chromium, then chromium-browser, then google-chrome on PATH, first directory first', () => {
    expect(findChromium({ PATH: '/a:/b' }, only('/b/chromium', '/a/google-chrome'))).toEqual({ found: true, path: '/a/google-chrome' });
    expect(findChromium({ PATH: '/a:/b' }, only('/b/chromium'))).toEqual({ found: true, path: '/b/chromium' });
  });
  test('absent: root with apt installs Debian\'s chromium', () => {
    const lookup = findChromium({ PATH: '/empty' }, only());
    expect(lookup.found).toBe(false);
    const plan = chromiumPlan(lookup, true, true);
    expect(plan.action).toBe('install');
    expect(plan.message).toContain(INSTALL_COMMAND);
  });
  test('absent: a non-root user is told the one command to run, and the step fails', () => {
    const plan = chromiumPlan(findChromium({ PATH: '/empty' }, only()), false, true);
    expect(plan).toEqual({
      action: 'fail',
      message: "the HTML report's test needs Chromium (no chromium, chromium-browser, google-chrome, google-chrome-stable on PATH); run: sudo sh -c 'apt-get update && apt-get install -y chromium'  (or set KVR_CHROMIUM=/path/to/chromium)",
    });
  });
  test('on this machine the real lookup agrees with the pretest step', () => {
    const lookup = findChromium(process.env);
    expect(chromiumPlan(lookup, false, true).action).toBe(lookup.found ? 'ok' : 'fail');
  });
});
