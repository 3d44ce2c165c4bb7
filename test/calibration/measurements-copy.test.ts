import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { projectRoot } from '../../cli/project-root.js';
import { committedMeasurementsPath } from '../../notebooks/lib/setting.js';

/**
 * calibration/measurements/ holds copies of the shared measurement files, so the profile fitted
 * from them reproduces (and its tests run) on a machine without ../shared. A copy must be the
 * shared file byte for byte wherever the shared folder is present (CI has it beside the clone).
 */
const sharedDir = join(projectRoot(), '..', 'shared', 'measurements');
const copies = readdirSync(join(projectRoot(), 'calibration', 'measurements')).filter((f) => f.endsWith('.json'));

describe('calibration/measurements: copies of ../shared/measurements', () => {
  test('the H200 microbench file is among the copies', () => {
    expect(copies).toContain('h200-pytorch-microbench.json');
  });

  test.skipIf(!existsSync(sharedDir)).each(copies)('%s is the shared file, byte for byte', (file) => {
    expect(readFileSync(committedMeasurementsPath(file), 'utf8')).toBe(readFileSync(join(sharedDir, file), 'utf8'));
  });
});
