import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, test } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('npm test type-checks test/ before running it (tsconfig.test.json, in pretest)', () => {
  const scripts = (JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts;
  expect(scripts.pretest).toContain('tsc -p tsconfig.test.json');
  const parsed = ts.getParsedCommandLineOfConfigFile(`${root}/tsconfig.test.json`, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    },
  })!;
  expect(parsed.errors).toEqual([]);
  expect(parsed.options.noEmit).toBe(true);
  expect(parsed.options.strict).toBe(true);
  // This very file is one of the checked ones.
  expect(parsed.fileNames).toContain(fileURLToPath(import.meta.url));
});
