import type { ModelSpec } from '../../sim/model/model-spec.js';

/**
 * An independent float64 reference of what the native executor computes (native/MODEL.md): the
 * seeded weights of native/include/kvr/weights.hpp, re-derived here from the generator's
 * definition, and a plain forward pass over the whole context on one "rank". It shares no code
 * with native/: the executor's strategies are checked against each other in executor.test.ts, and
 * against this in reference-forward.test.ts, so a mistake made on every rank alike (a wrong
 * softmax scale, RoPE convention, norm epsilon, ...) is caught too.
 *
 * Weights are drawn in fp32 by the executor, and exactly reproduced here (Math.fround at each fp32
 * rounding of random_uniform); everything after that is float64.
 */

const MASK64 = (1n << 64n) - 1n;

/** splitmix64 finaliser, as kvr::mix64. */
export function mix64(value: bigint): bigint {
  let z = (value + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** Tensor ids (kvr::TensorId, kvr::LayerTensor). */
const EMBEDDING = 0n;
const FINAL_NORM_SCALE = 1n;
const FINAL_NORM_BIAS = 2n;
const LM_HEAD = 3n;
const LAYER_BASE = 16n;
const TENSORS_PER_LAYER = 16n;
const ATTN_NORM_SCALE = 0n;
const ATTN_NORM_BIAS = 1n;
const WQKV = 2n;
const WO = 3n;
const MLP_NORM_SCALE = 4n;
const MLP_NORM_BIAS = 5n;
const WGATE_UP = 6n;
const WDOWN = 7n;

const layerTensor = (layer: number, kind: bigint): bigint => LAYER_BASE + BigInt(layer) * TENSORS_PER_LAYER + kind;

/**
 * `count` elements `offset + random_uniform(seed, tensor, i, scale)` as the executor's fp32 values:
 * the top 24 bits of mix64(mix64(seed ^ tensor * K) ^ i) give unit = bits / 2^24 (exact), then
 * (2 unit - 1) * scale and + offset are each rounded to fp32.
 */
function uniformTensor(count: number, seed: bigint, tensor: bigint, scale: number, offset: number): Float64Array {
  const base = mix64((seed ^ ((tensor * 0xd1b54a32d192ed03n) & MASK64)) & MASK64);
  const scale32 = Math.fround(scale);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const bits = Number(mix64(base ^ BigInt(i)) >> 40n);
    const value = Math.fround((2 * (bits / 16777216) - 1) * scale32);
    out[i] = offset === 0 ? value : Math.fround(offset + value);
  }
  return out;
}

/** kvr::token_id: the prompt's token at a position. */
export function tokenId(seed: bigint, position: number, vocab: number): number {
  const base = mix64(seed ^ 0x7f4a7c159e3779b9n);
  return Number(mix64(base ^ BigInt(position)) % BigInt(vocab));
}

interface LayerWeights {
  attnNormScale: Float64Array;
  attnNormBias: Float64Array | undefined;
  wqkv: Float64Array; // [d, (h + 2 h_kv) hd]
  wo: Float64Array; // [h hd, d]
  mlpNormScale: Float64Array | undefined;
  mlpNormBias: Float64Array | undefined;
  wGateUp: Float64Array; // swiglu [d, 2f]; gelu [d, f]
  wDown: Float64Array; // [f, d]
}

export interface ReferenceWeights {
  embedding: Float64Array; // [V, d]
  finalNormScale: Float64Array;
  finalNormBias: Float64Array | undefined;
  lmHead: Float64Array; // [V, d] (the embedding when tied)
  layers: LayerWeights[];
}

const invSqrt = (n: number): number => 1 / Math.sqrt(n);

export function referenceWeights(model: ModelSpec, seed: number): ReferenceWeights {
  const s = BigInt(seed);
  const d = model.hidden;
  const layernorm = model.norm === 'layernorm';
  const qkvWidth = (model.heads + 2 * model.kv_heads) * model.head_dim;
  const attentionWidth = model.heads * model.head_dim;
  const mlpWidth = (model.mlp === 'swiglu' ? 2 : 1) * model.ffn;
  const embedding = uniformTensor(model.vocab * d, s, EMBEDDING, 1, 0);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < model.layers; l++) {
    const id = (kind: bigint) => layerTensor(l, kind);
    const sequential = model.block === 'sequential';
    layers.push({
      attnNormScale: uniformTensor(d, s, id(ATTN_NORM_SCALE), 0.1, 1),
      attnNormBias: layernorm ? uniformTensor(d, s, id(ATTN_NORM_BIAS), 0.1, 0) : undefined,
      wqkv: uniformTensor(d * qkvWidth, s, id(WQKV), invSqrt(d), 0),
      wo: uniformTensor(attentionWidth * d, s, id(WO), invSqrt(attentionWidth), 0),
      mlpNormScale: sequential ? uniformTensor(d, s, id(MLP_NORM_SCALE), 0.1, 1) : undefined,
      mlpNormBias: sequential && layernorm ? uniformTensor(d, s, id(MLP_NORM_BIAS), 0.1, 0) : undefined,
      wGateUp: uniformTensor(d * mlpWidth, s, id(WGATE_UP), invSqrt(d), 0),
      wDown: uniformTensor(model.ffn * d, s, id(WDOWN), invSqrt(model.ffn), 0),
    });
  }
  return {
    embedding,
    finalNormScale: uniformTensor(d, s, FINAL_NORM_SCALE, 0.1, 1),
    finalNormBias: layernorm ? uniformTensor(d, s, FINAL_NORM_BIAS, 0.1, 0) : undefined,
    lmHead: model.tied_embeddings ? embedding : uniformTensor(model.vocab * d, s, LM_HEAD, invSqrt(d), 0),
    layers,
  };
}

/** erf to ~1e-14: Maclaurin series for |x| < 3, Laplace's continued fraction for erfc beyond. */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let t = a;
  for (let n = 80; n >= 1; n--) t = a + n / 2 / t;
  const erfc = Math.exp(-a * a) / (Math.sqrt(Math.PI) * t);
  return Math.sign(x) * (1 - erfc);
}

const EPSILON = 1e-5;

/** y = norm(x) per row of width d: RMSNorm, or LayerNorm with biased variance. */
function norm(model: ModelSpec, x: Float64Array, rows: number, scale: Float64Array, bias: Float64Array | undefined): Float64Array {
  const d = model.hidden;
  const y = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * d, (r + 1) * d);
    if (model.norm === 'layernorm') {
      let mean = 0;
      for (let i = 0; i < d; i++) mean += row[i]!;
      mean /= d;
      let variance = 0;
      for (let i = 0; i < d; i++) variance += (row[i]! - mean) ** 2;
      const inv = 1 / Math.sqrt(variance / d + EPSILON);
      for (let i = 0; i < d; i++) y[r * d + i] = (row[i]! - mean) * inv * scale[i]! + bias![i]!;
    } else {
      let squares = 0;
      for (let i = 0; i < d; i++) squares += row[i]! ** 2;
      const inv = 1 / Math.sqrt(squares / d + EPSILON);
      for (let i = 0; i < d; i++) y[r * d + i] = row[i]! * inv * scale[i]!;
    }
  }
  return y;
}

/** x [rows, k] times columns [col0, col0 + n) of W [k, width] (row-major). */
function matmul(x: Float64Array, rows: number, k: number, w: Float64Array, width: number, col0: number, n: number): Float64Array {
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < k; i++) {
      const xi = x[r * k + i]!;
      if (xi === 0) continue;
      const wRow = i * width + col0;
      for (let j = 0; j < n; j++) y[r * n + j] = y[r * n + j]! + xi * w[wRow + j]!;
    }
  }
  return y;
}

/** RoPE, rotate-half: pairs (i, i + hd/2), angle t * 10000^(-2i/hd). */
function rope(vec: Float64Array, offset: number, hd: number, t: number): void {
  const half = hd / 2;
  for (let i = 0; i < half; i++) {
    const angle = t * Math.pow(10000, (-2 * i) / hd);
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    const a = vec[offset + i]!;
    const b = vec[offset + i + half]!;
    vec[offset + i] = a * c - b * s;
    vec[offset + i + half] = b * c + a * s;
  }
}

export interface ReferenceOutput {
  /** Logits of the last position, [V]. */
  logits: Float64Array;
  /** K (after RoPE) and V of every position: [layer][position][k|v][kv_head][hd]. */
  kv: Float64Array;
}

/** The whole model over positions [0, context) of the seeded prompt, in float64. */
export function referenceForward(model: ModelSpec, context: number, seed = 1234, weights = referenceWeights(model, seed)): ReferenceOutput {
  const { hidden: d, heads: h, kv_heads: hkv, head_dim: hd, ffn: f, vocab: V } = model;
  const C = context;
  const g = h / hkv;
  const qkvWidth = (h + 2 * hkv) * hd;
  const kvPerPosition = 2 * hkv * hd;
  const kv = new Float64Array(model.layers * C * kvPerPosition);
  const hState = new Float64Array(C * d);
  for (let t = 0; t < C; t++) {
    const token = tokenId(BigInt(seed), t, V);
    hState.set(weights.embedding.subarray(token * d, (token + 1) * d), t * d);
  }
  const scale = 1 / Math.sqrt(hd);
  for (let l = 0; l < model.layers; l++) {
    const w = weights.layers[l]!;
    // qkv
    const x = norm(model, hState, C, w.attnNormScale, w.attnNormBias);
    const qkv = matmul(x, C, d, w.wqkv, qkvWidth, 0, qkvWidth);
    const layerKv = kv.subarray(l * C * kvPerPosition, (l + 1) * C * kvPerPosition);
    for (let t = 0; t < C; t++) {
      for (let j = 0; j < h; j++) rope(qkv, t * qkvWidth + j * hd, hd, t);
      for (let j = 0; j < hkv; j++) rope(qkv, t * qkvWidth + (h + j) * hd, hd, t);
      layerKv.set(qkv.subarray(t * qkvWidth + h * hd, (t + 1) * qkvWidth), t * kvPerPosition);
    }
    // attn: causal softmax(q . k / sqrt(hd)) over keys s <= t
    const attention = new Float64Array(C * h * hd);
    const scores = new Float64Array(C);
    for (let t = 0; t < C; t++) {
      for (let j = 0; j < h; j++) {
        const kvHead = Math.floor(j / g);
        const q = t * qkvWidth + j * hd;
        let maximum = -Infinity;
        for (let s = 0; s <= t; s++) {
          const k = s * kvPerPosition + kvHead * hd;
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += qkv[q + i]! * layerKv[k + i]!;
          scores[s] = dot * scale;
          maximum = Math.max(maximum, scores[s]!);
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) {
          scores[s] = Math.exp(scores[s]! - maximum);
          sum += scores[s]!;
        }
        const out = t * h * hd + j * hd;
        for (let s = 0; s <= t; s++) {
          const v = s * kvPerPosition + (hkv + kvHead) * hd;
          const weight = scores[s]! / sum;
          for (let i = 0; i < hd; i++) attention[out + i] = attention[out + i]! + weight * layerKv[v + i]!;
        }
      }
    }
    // o
    const a = matmul(attention, C, h * hd, w.wo, d, 0, d);
    // mlp: a sequential block adds the attention output, then norms h again; a parallel block
    // feeds the MLP the qkv op's normed x and adds both outputs at the end.
    let mlpIn: Float64Array;
    if (model.block === 'parallel') {
      mlpIn = x;
    } else {
      for (let i = 0; i < C * d; i++) hState[i] = hState[i]! + a[i]!;
      mlpIn = norm(model, hState, C, w.mlpNormScale!, w.mlpNormBias);
    }
    let activated: Float64Array;
    if (model.mlp === 'swiglu') {
      const gate = matmul(mlpIn, C, d, w.wGateUp, 2 * f, 0, f);
      const up = matmul(mlpIn, C, d, w.wGateUp, 2 * f, f, f);
      activated = gate.map((z, i) => (z / (1 + Math.exp(-z))) * up[i]!);
    } else {
      activated = matmul(mlpIn, C, d, w.wGateUp, f, 0, f).map((z) => 0.5 * z * (1 + erf(z / Math.SQRT2)));
    }
    const m = matmul(activated, C, f, w.wDown, d, 0, d);
    for (let i = 0; i < C * d; i++) hState[i] = hState[i]! + m[i]! + (model.block === 'parallel' ? a[i]! : 0);
  }
  // lm_head on the last position
  const last = norm(model, hState.subarray((C - 1) * d, C * d), 1, weights.finalNormScale, weights.finalNormBias);
  const logits = new Float64Array(V);
  for (let v = 0; v < V; v++) {
    let dot = 0;
    for (let i = 0; i < d; i++) dot += last[i]! * weights.lmHead[v * d + i]!;
    logits[v] = dot;
  }
  return { logits, kv };
}
