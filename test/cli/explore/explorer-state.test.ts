import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { cliCommand, defaultState, shellQuote, shellWords, stateFromQuery, stateToQuery, type ExplorerState } from '../../../cli/explore/explorer-state.js';
import { propertyOptions } from '../../support/property.js';

describe('the explorer state', () => {
  test('the URL query holds every given flag, the pasted JSON, the mode and the sweep, and reads back equal', () => {
    const state: ExplorerState = {
      mode: 'sweep',
      flags: { model: 'model.json', gpus: '8', context: '16k', bandwidth: '300 GB/s', strategy: 'kvr-s', granularity: '128', ffnDtype: 'fp8' },
      pasted: { model: '{"hidden_size": 4096, "name": "a & b"}' },
      sweep: { axis: 'bandwidth', values: '10 GB/s, 300 GB/s', strategies: ['tsp', 'kvr-s'] },
    };
    const query = stateToQuery(state);
    expect(query).toContain('ffn-dtype=fp8');
    expect(query).toContain('context=16k');
    expect(stateFromQuery(`?${query}`)).toEqual(state);
  });

  test('defaults leave the query empty; empty controls are not flags', () => {
    expect(stateToQuery(defaultState())).toBe('');
    expect(stateToQuery({ ...defaultState(), flags: { gpus: ' ', context: '' } })).toBe('');
    expect(stateFromQuery('mode=nonsense&sweep-axis=colour&gpus=4')).toEqual({ ...defaultState(), flags: { gpus: '4' } });
  });

  test('the CLI command names every given flag once, quoted for the shell; compare drops --strategy and --partition', () => {
    const flags = { model: 'llama2-7b', gpus: '8', bandwidth: '300 GB/s', context: '16k', strategy: 'kvr', partition: '8192,8192', kvDtype: 'fp8' };
    expect(cliCommand({ ...defaultState(), flags })).toBe("npx kvr simulate --model llama2-7b --gpus 8 --bandwidth '300 GB/s' --context 16k --strategy kvr --partition 8192,8192 --kv-dtype fp8");
    expect(cliCommand({ ...defaultState(), flags: { gpus: '2' }, pasted: { model: '{}', gpu: ' ' } })).toBe('npx kvr simulate --model model.json --gpus 2');
    expect(cliCommand({ ...defaultState(), mode: 'compare', flags })).toBe("npx kvr compare --model llama2-7b --gpus 8 --bandwidth '300 GB/s' --context 16k --kv-dtype fp8");
  });

  test('shellWords splits what shellQuote quoted back into the same words', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 }), (words) => {
        expect(shellWords(words.map(shellQuote).join(' '))).toEqual(words.map((w) => w));
      }),
      propertyOptions(300),
    );
  });
});
