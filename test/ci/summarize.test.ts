import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const summarize = join(root, '.ci/summarize.mjs');
const vitest = join(root, 'node_modules/vitest/vitest.mjs');
const dir = mkdtempSync(join(tmpdir(), 'kvr-ci-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Summary {
  status: number | null;
  lines: string[];
  /** The last line: the one CI reads. */
  line: string;
}

function run(args: string[]): Summary {
  const result = spawnSync(process.execPath, [summarize, ...args], { encoding: 'utf8' });
  const lines = result.stdout.trim().split('\n');
  return { status: result.status, lines, line: lines.at(-1)! };
}

/** Runs vitest on one fixture of test/ci/fixtures and summarizes its report as .ci/run does. */
function summarizeFixture(fixture: string, allowedSkips: Record<string, string> = {}): Summary {
  const report = join(dir, `${fixture}.json`);
  const vitestRun = spawnSync(
    process.execPath,
    [vitest, 'run', '--root', 'test/ci/fixtures', `${fixture}.fixture.ts`, '--reporter=json', `--outputFile.json=${report}`],
    { cwd: root, encoding: 'utf8', env: { ...process.env, CI: 'true' } },
  );
  return run([report, '--vitest-status', String(vitestRun.status), '--allowed-skips', writeJson(`${fixture}-skips.json`, allowedSkips)]);
}

function writeJson(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

/** A vitest JSON report with one file holding tests of the given statuses. */
function report(statuses: string[], extra: Record<string, unknown> = {}) {
  return {
    numTotalTests: statuses.length,
    numPassedTests: statuses.filter((s) => s === 'passed').length,
    numFailedTests: statuses.filter((s) => s === 'failed').length,
    success: !statuses.includes('failed'),
    testResults: [
      {
        name: join(root, 'test/x.test.ts'),
        status: statuses.includes('failed') ? 'failed' : 'passed',
        message: '',
        assertionResults: statuses.map((status, i) => ({ ancestorTitles: ['group'], title: `t${i}`, status })),
      },
    ],
    ...extra,
  };
}

describe('.ci/summarize.mjs on real vitest runs', () => {
  test('a passing suite: "1 passed, 0 failed", exit 0', () => {
    expect(summarizeFixture('passes')).toMatchObject({ status: 0, line: '1 passed, 0 failed' });
  });

  test('an afterAll hook that throws is a failure, though every test passed', () => {
    const summary = summarizeFixture('afterall-throws');
    expect(summary).toMatchObject({ status: 1, line: '1 passed, 1 failed' });
    expect(summary.lines).toContain('ci: test/ci/fixtures/afterall-throws.fixture.ts failed outside its tests (a hook threw?): cleanup failed');
  });

  test('an unhandled rejection is a failure, though the report says success', () => {
    const summary = summarizeFixture('unhandled-rejection');
    expect(summary).toMatchObject({ status: 1, line: '1 passed, 1 failed' });
    expect(summary.lines[0]).toMatch(/^ci: vitest exited 1 with no failed test/);
  });

  test('a run whose every test is skipped fails: each unlisted skip, and no test passed', () => {
    const summary = summarizeFixture('all-skipped');
    expect(summary).toMatchObject({ status: 1, line: '0 passed, 3 failed' });
    expect(summary.lines.slice(0, -1)).toEqual([
      'ci: skipped without a reason in the allowed skips: test/ci/fixtures/all-skipped.fixture.ts > skipped',
      'ci: skipped without a reason in the allowed skips: test/ci/fixtures/all-skipped.fixture.ts > skipped too',
      'ci: no test passed',
    ]);
  });
});

describe('.ci/summarize.mjs on crafted reports', () => {
  test('failed tests are counted and the exit is 1', () => {
    expect(run([writeJson('f.json', report(['passed', 'failed', 'failed'])), '--vitest-status', '1'])).toMatchObject({ status: 1, line: '1 passed, 2 failed' });
  });

  test('a file that failed to load counts as one failure', () => {
    const broken = report(['passed']);
    broken.testResults.push({ name: join(root, 'test/y.test.ts'), status: 'failed', message: 'SyntaxError: nope\n  at ...', assertionResults: [] });
    const summary = run([writeJson('load.json', broken), '--vitest-status', '1']);
    expect(summary).toMatchObject({ status: 1, line: '1 passed, 1 failed' });
    expect(summary.lines[0]).toBe('ci: test/y.test.ts failed to load: SyntaxError: nope');
  });

  test('success: false with no failed test or file is a failure', () => {
    expect(run([writeJson('s.json', report(['passed'], { success: false }))])).toMatchObject({ status: 1, line: '1 passed, 1 failed' });
  });

  test('a skip listed with a reason is allowed and shown; it does not count as passed', () => {
    const skips = writeJson('allowed.json', { 'test/x.test.ts > group > t1': 'needs a GPU' });
    const summary = run([writeJson('k.json', report(['passed', 'skipped'])), '--allowed-skips', skips]);
    expect(summary).toMatchObject({ status: 0, line: '1 passed, 0 failed' });
    expect(summary.lines[0]).toBe('ci: skipped (allowed): test/x.test.ts > group > t1: needs a GPU');
  });

  test('todo and unlisted skips fail, one failure each', () => {
    const skips = writeJson('other.json', { 'test/x.test.ts > group > t9': 'another test' });
    expect(run([writeJson('t.json', report(['passed', 'todo', 'skipped'])), '--allowed-skips', skips])).toMatchObject({ status: 1, line: '1 passed, 2 failed' });
  });

  test('an allowed-skips entry without a reason is refused', () => {
    const skips = writeJson('empty.json', { 'test/x.test.ts > group > t1': ' ' });
    const summary = run([writeJson('e.json', report(['passed', 'skipped'])), '--allowed-skips', skips]);
    expect(summary.status).toBe(1);
    expect(summary.lines).toContain(`ci: ${skips}: "test/x.test.ts > group > t1" has no reason`);
  });

  test('an empty run fails', () => {
    expect(run([writeJson('z.json', report([]))])).toMatchObject({ status: 1, line: '0 passed, 1 failed' });
  });

  test('no report (vitest never ran) fails, keeping the extra checks', () => {
    const summary = run([join(dir, 'missing.json'), '--vitest-status', '2', '--extra-passed', '1']);
    expect(summary).toMatchObject({ status: 1, line: '1 passed, 1 failed' });
    expect(summary.lines[0]).toMatch(/^ci: no vitest report at .*missing\.json \(vitest exited 2; see the log above\)$/);
  });

  test('checks run outside vitest add to the counts', () => {
    const path = writeJson('x.json', report(['passed']));
    expect(run([path, '--extra-passed', '1'])).toMatchObject({ status: 0, line: '2 passed, 0 failed' });
    expect(run([path, '--extra-failed', '1'])).toMatchObject({ status: 1, line: '1 passed, 1 failed' });
  });

  test('the committed allowed-skips file is accepted, and each entry names a test that exists', () => {
    expect(() => execFileSync(process.execPath, [summarize, writeJson('ok.json', report(['passed']))], { encoding: 'utf8' })).not.toThrow();
    const allowed = JSON.parse(readFileSync(join(root, '.ci/allowed-skips.json'), 'utf8')) as Record<string, string>;
    for (const [key, reason] of Object.entries(allowed)) {
      const [file, ...titles] = key.split(' > ');
      const source = readFileSync(join(root, file!), 'utf8');
      for (const title of titles) expect(source, key).toContain(`'${title}'`);
      expect(reason.length).toBeGreaterThan(20);
    }
  });
});
