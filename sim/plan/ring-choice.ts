import type { ModelSpec } from '../model/model-spec.js';
import { kvDtypeBytes } from '../model/precision.js';

/**
 * Which ring attention to run, by the rule of Yang et al., "Context Parallelism for Scalable
 * Million-Token Inference" (arXiv 2411.01783, §3: pass-KV vs pass-Q), for T new tokens over a
 * cached prefix of P tokens (kvr's full prefill: P = 0) on N ring positions:
 *   pass-KV when T >= N C NKV e / (2 NH BW)   (a ring step's attention, 4 (T/N) ((T+P)/N) NH hd
 *     FLOPs at C FLOP/s, outlasts sending its K,V block, ((T+P)/N) 2 NKV hd e bytes at BW: the
 *     K,V transfers hide behind compute)
 *   or when T / (T + P) >= 2 NKV / NH   (the K,V of all T + P tokens are no bigger than the
 *     queries of the T new ones: pass-KV moves no more bytes);
 *   pass-Q otherwise.
 * NH, NKV: query and KV heads; e: bytes per K,V element; C: the GPU's dense peak; BW: the
 * bandwidth between ring neighbours. The two thresholds are derived above from the paper's two
 * criteria (hidden communication, smaller messages); they were not checked against its text.
 */
export interface RingChoice {
  recommended: 'ring-kv' | 'ring-q';
  /** N C NKV e / (2 NH BW): from this many new tokens on, pass-KV's transfers hide behind attention. */
  overlap_threshold_tokens: number;
  /** T / (T + P): 1 for a prefill without a cached prefix. */
  miss_rate: number;
  /** 2 NKV / NH: from this miss rate on, pass-KV moves no more bytes than pass-Q. */
  miss_rate_threshold: number;
  /** Which condition decided: `overlap`, `bytes`, or `neither` (pass-Q). */
  reason: 'overlap' | 'bytes' | 'neither';
}

export function chooseRing(model: ModelSpec, newTokens: number, cachedTokens: number, positions: number, peakFlops: number, bandwidth: number): RingChoice {
  const e = kvDtypeBytes(model);
  const threshold = (positions * peakFlops * model.kv_heads * e) / (2 * model.heads * bandwidth);
  const missRate = newTokens / (newTokens + cachedTokens);
  const missThreshold = (2 * model.kv_heads) / model.heads;
  const reason = newTokens >= threshold ? 'overlap' : missRate >= missThreshold ? 'bytes' : 'neither';
  return {
    recommended: reason === 'neither' ? 'ring-q' : 'ring-kv',
    overlap_threshold_tokens: threshold,
    miss_rate: missRate,
    miss_rate_threshold: missThreshold,
    reason,
  };
}
