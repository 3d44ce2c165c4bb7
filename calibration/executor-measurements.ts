import type { ModelSpec } from '../sim/model/model-spec.js';
import type { OpSample } from './fit-profile.js';

/**
 * The native executor's measurements in the probe's format (kvr-measurements/torch-probe@1), so
 * they go through the same fit as PyTorch's (`kvr calibrate --from`):
 * - attention: every timed `attn` op is one attention point (its chunk, prefix, the model's heads,
 *   KV heads and head dim; causal). The executor's attention is its own flash-style kernel, so the
 *   fitted profile describes the executor's stack, not PyTorch's.
 * - gemm: every timed `o` op is the o projection, m = chunk, k = heads x head dim, n = hidden. The
 *   executor's o op also adds the residual (one fused elementwise pass), so these points slightly
 *   overstate the GEMM; qkv and mlp ops fuse norms, RoPE and activations and are left out.
 */
export function executorMeasurements(samples: OpSample[], models: ModelSpec[], device: string, command: string): Record<string, unknown> {
  const byName = new Map(models.map((m) => [m.name, m]));
  const attention: Record<string, unknown>[] = [];
  const gemm: Record<string, unknown>[] = [];
  for (const s of samples) {
    const model = byName.get(s.model);
    if (model === undefined) continue;
    if (s.op === 'attn') {
      attention.push({ c: s.tokens, P: s.prefix, mask: 'causal', heads: model.heads, kv_heads: model.kv_heads, head_dim: model.head_dim, ms: s.median_s * 1e3, model: model.name });
    } else if (s.op === 'o') {
      gemm.push({ op: 'o', m: s.tokens, k: model.heads * model.head_dim, n: model.hidden, dtype: 'fp16', ms: s.median_s * 1e3, model: model.name });
    }
  }
  return {
    schema: 'kvr-measurements/torch-probe@1',
    what: 'Native executor (kvr-exec) timings in the probe format: attn ops as attention points, o ops (o projection + residual add) as GEMMs; written by kvr calibrate',
    gpu: device,
    torch: null,
    dtype: 'fp16',
    command,
    gemm,
    attention,
  };
}
