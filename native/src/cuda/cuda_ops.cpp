// CudaBackend::issue: the compute ops of a layer (MODEL.md) as kernel and cuBLAS launches on the
// rank's stream, between the op's start and end events.
//
//   qkv      norm_attn(h) -> x;  x . Wqkv -> qkv;  RoPE q in place, K and V into the cache
//   attn     flash (or simple) attention of the chunk over cache rows [0, keys) -> attn
//   o        attn . Wo: sequential h += (the add is the GEMM's beta = 1), parallel -> a
//   mlp      sequential: norm_mlp(h) -> x; x . Wgate_up -> mid; act(mid); . Wdown, h += (beta = 1)
//            parallel: x (from qkv) . Wup -> mid; act(mid); . Wdown -> m; h += a + m
//   lm_head  norm_final(h[c - 1]) -> lm_x;  lm_x . W_lm^T -> logits (fp32)
#include <cmath>
#include <string>

#include "check.hpp"
#include "cuda_backend.hpp"
#include "elementwise.hpp"
#include "gemm.hpp"
#include "library_check.hpp"

namespace kvr::cuda {
namespace {

void norm(const __half* in, __half* out, int64_t rows, int dim, const float* scale, const float* bias,
          bool layernorm, cudaStream_t stream) {
  NormParams p;
  p.in = in;
  p.in_stride = dim;
  p.out = out;
  p.out_stride = dim;
  p.scale = scale;
  p.bias = layernorm ? bias : nullptr;
  p.rows = rows;
  p.dim = dim;
  p.layernorm = layernorm;
  p.eps = 1e-5f;
  launch_norm(p, stream);
}

// Row-major, contiguous: C[m][n] (+)= A[m][k] . B[k][n].
void matmul(cublasHandle_t handle, int64_t m, int64_t n, int64_t k, const __half* a, const __half* b, __half* c,
            bool accumulate) {
  GemmParams g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.lda = k;
  g.b = b;
  g.ldb = n;
  g.c = c;
  g.ldc = n;
  g.accumulate = accumulate;
  gemm(handle, g);
}

}  // namespace

void CudaBackend::wait_for_dependencies(const PlanOp& op, cudaStream_t stream) const {
  for (const int dep : op.deps) {
    // No event: another process ran it (one process per GPU); its data arrives by a receive.
    const cudaEvent_t end = events_[static_cast<size_t>(dep)].end;
    if (end != nullptr) KVR_CUDA_CHECK(cudaStreamWaitEvent(stream, end, 0));
  }
}

void CudaBackend::issue(const PlanOp& op) {
  KVR_CHECK(prepared_, ErrorCode::Internal, "cuda backend: issue before prepare");
  if (op.kind == OpKind::Compute) {
    issue_compute(op);
  } else {
    issue_transfer(op);
  }
}

void CudaBackend::issue_compute(const PlanOp& op) {
  RankState& r = state_of(op.rank);
  const DeviceWeights& w = *r.weights;
  const ModelConfig& m = plan_.model;
  const OpEvents& events = events_[static_cast<size_t>(op.id)];
  const int64_t c = r.tokens;
  const int d = m.hidden;
  const int64_t f = m.ffn;
  const int64_t qkv_cols = static_cast<int64_t>(m.heads + 2 * m.kv_heads) * m.head_dim;
  const int64_t attn_cols = static_cast<int64_t>(m.heads) * m.head_dim;
  cudaStream_t stream = r.stream;

  KVR_CUDA_CHECK(cudaSetDevice(r.device));
  // With SM partitions the rank's green context is current for every launch and cuBLAS call of
  // the op (set per call: ops of ranks sharing a partition may come from different threads).
  PartitionScope scope(r.partition);
  wait_for_dependencies(op, stream);
  KVR_CUDA_CHECK(cudaEventRecord(events.start, stream));

  switch (op.name) {
    case ComputeName::Qkv: {
      const DeviceWeights::Layer& layer = w.layers[static_cast<size_t>(op.layer)];
      norm(r.h, r.x, c, d, layer.attn_norm_scale, layer.attn_norm_bias, m.layernorm, stream);
      matmul(r.cublas, c, qkv_cols, d, r.x, layer.wqkv, r.qkv, false);
      RopeParams rope;
      rope.qkv = r.qkv;
      rope.cache = r.cache_layer(op.layer, row_elements_);
      rope.tokens = c;
      rope.first_position = r.prefix;
      rope.heads = m.heads;
      rope.kv_heads = m.kv_heads;
      rope.head_dim = m.head_dim;
      launch_rope(rope, stream);
      break;
    }
    case ComputeName::Attn: {
      AttentionParams a;
      a.q = r.qkv;
      a.q_stride = qkv_cols;
      a.cache = r.cache_layer(op.layer, row_elements_);
      a.out = r.attn;
      a.out_stride = attn_cols;
      a.tokens = c;
      a.prefix = r.prefix;
      a.keys = op.keys;
      a.heads = m.heads;
      a.kv_heads = m.kv_heads;
      a.head_dim = m.head_dim;
      a.causal = op.causal;
      a.softmax_scale = 1.0f / std::sqrt(static_cast<float>(m.head_dim));
      KVR_CHECK(op.keys <= r.kv_tokens, ErrorCode::Internal,
                "attn op " + std::to_string(op.id) + " reads " + std::to_string(op.keys) + " keys, rank " +
                    std::to_string(op.rank) + " holds " + std::to_string(r.kv_tokens));
      launch_attention(attention_kernel_, a, stream);
      break;
    }
    case ComputeName::O: {
      const DeviceWeights::Layer& layer = w.layers[static_cast<size_t>(op.layer)];
      if (m.parallel_block) {
        matmul(r.cublas, c, d, attn_cols, r.attn, layer.wo, r.a, false);
      } else {
        matmul(r.cublas, c, d, attn_cols, r.attn, layer.wo, r.h, true);  // h += attn . Wo
      }
      break;
    }
    case ComputeName::Mlp: {
      const DeviceWeights::Layer& layer = w.layers[static_cast<size_t>(op.layer)];
      if (!m.parallel_block) norm(r.h, r.x, c, d, layer.mlp_norm_scale, layer.mlp_norm_bias, m.layernorm, stream);
      matmul(r.cublas, c, m.swiglu ? 2 * f : f, d, r.x, layer.w_gate_up, r.mid, false);
      __half* act = r.mid;
      if (m.swiglu) {
        SwigluParams s;
        s.in = r.mid;
        s.out = r.act;
        s.rows = c;
        s.ffn = static_cast<int>(f);
        launch_swiglu(s, stream);
        act = r.act;
      } else {
        GeluParams g;
        g.x = r.mid;
        g.count = c * f;
        launch_gelu(g, stream);
      }
      if (m.parallel_block) {
        matmul(r.cublas, c, d, f, act, layer.w_down, r.m, false);
        ResidualParams res;
        res.h = r.h;
        res.a = r.a;
        res.m = r.m;
        res.count = c * d;
        launch_residual(res, stream);
      } else {
        matmul(r.cublas, c, d, f, act, layer.w_down, r.h, true);  // h += act . Wdown
      }
      break;
    }
    case ComputeName::LmHead: {
      const int64_t row = op.prefix - r.prefix;  // the op's prefix is the last position, C - 1
      KVR_CHECK(row >= 0 && row < c, ErrorCode::Internal,
                "lm_head op " + std::to_string(op.id) + ": position " + std::to_string(op.prefix) +
                    " is not in rank " + std::to_string(op.rank) + "'s chunk");
      norm(r.h + row * d, r.lm_x, 1, d, w.final_norm_scale, w.final_norm_bias, m.layernorm, stream);
      GemmParams g;
      g.m = 1;
      g.n = m.vocab;
      g.k = d;
      g.a = r.lm_x;
      g.lda = d;
      g.b = w.lm_head;  // [V][d]: B^T
      g.ldb = d;
      g.b_transposed = true;
      g.c = r.logits;
      g.ldc = m.vocab;
      g.c_fp32 = true;
      gemm(r.cublas, g);
      break;
    }
  }
  KVR_CUDA_CHECK(cudaEventRecord(events.end, stream));
}

}  // namespace kvr::cuda
