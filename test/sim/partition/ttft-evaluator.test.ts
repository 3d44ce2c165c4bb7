import { describe, expect, test } from 'vitest';
import { TtftEvaluator } from '../../../sim/partition/ttft-evaluator.js';
import { simulate, type Scenario } from '../../../sim/simulate.js';
import { ideal, llama7b, topology } from '../../support/scenarios.js';

/** The issue's front-loaded case: rank 0's last o/mlp end after the last rank's lm_head. */
const kvrS: Scenario = { model: llama7b, gpu: ideal, topology: topology('switch', 2, 300e9, 0), gpus: 2, context: 4096, strategy: 'kvr-s' };

describe('TtftEvaluator: the TTFT searches minimise is the end of the logits, not the makespan', () => {
  test('kvr partition 2432,1664: the end of the last rank\'s lm_head (0.3287094 s), as simulate reports it', () => {
    const evaluator = new TtftEvaluator(kvrS);
    const ttft = evaluator.ttft([2432, 1664]);
    const { result } = simulate({ ...kvrS, strategy: 'kvr', partition: [2432, 1664] });
    expect(ttft).toBe(result.ttft_s);
    expect(ttft.toFixed(7)).toBe('0.3287094');
    expect(result.makespan_s).toBeGreaterThan(ttft);
    // A reshaped template gives the same answer as a fresh one.
    evaluator.ttft([2048, 2048]);
    expect(new TtftEvaluator(kvrS).ttft([2048, 2048])).toBe(evaluator.ttft([2048, 2048]));
  });

  test('kvr-tp group partitions: the end of the last group\'s last rank\'s lm_head, as simulate reports it', () => {
    const s: Scenario = { ...kvrS, strategy: 'kvr-tp', gpus: 4, tp: 2, topology: topology('multi-node', 4, 300e9, 0, { gpus_per_node: 2, nic_bandwidth: 25e9 }) };
    const evaluator = new TtftEvaluator(s);
    for (const partition of [[2432, 1664], [3072, 1024], [2048, 2048]]) {
      const { result } = simulate({ ...s, partition });
      expect(evaluator.ttft(partition)).toBe(result.ttft_s);
      expect(result.ttft_s).toBeLessThanOrEqual(result.makespan_s);
    }
    // Front-loaded groups: the first group is still busy when the logits are out.
    const { result } = simulate({ ...s, partition: [3072, 1024] });
    expect(result.makespan_s).toBeGreaterThan(result.ttft_s);
  });
});
