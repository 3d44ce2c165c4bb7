import { describe, test } from 'vitest';
import { a100, falcon7b, topology } from '../../support/scenarios.js';
import { compareSearchers, expectFastBeatsGrid, type Comparison } from '../../support/fast-vs-grid.js';

describe('fast vs grid search, falcon-7b on a100-80g behind a switch', () => {
  test('2/4/8 GPUs, 4k-32k tokens, 300 and 10 GB/s', () => {
    const rows: Comparison[] = [];
    for (const gpus of [2, 4, 8]) {
      for (const context of [4096, 16384, 32768]) {
        for (const bandwidth of [300e9, 10e9]) {
          const scenario = { model: falcon7b, gpu: a100, topology: topology('switch', gpus, bandwidth, 2e-6), gpus, context, strategy: 'kvr-s' as const };
          rows.push(compareSearchers(`${gpus} GPUs, ${context} tokens, ${bandwidth / 1e9} GB/s`, scenario));
        }
      }
    }
    expectFastBeatsGrid(rows);
  }, 300_000);
});
