// The ops of ring-kv and tensor-parallel plans on the CPU (native/MODEL.md): ranks whose rows are
// not one contiguous chunk (ring-kv's zig-zag chunks) or that compute a shard of the model (tp,
// tp-sp, kvr-tp). The strategies of contiguous whole-model chunks keep cpu_backend.cpp's paths.
#pragma once

#include <vector>

#include "cpu_rank_state.hpp"
#include "cpu_weights.hpp"
#include "kvr/plan.hpp"

namespace kvr::cpu {

struct GeneralOps {
  const ModelConfig& model;
  const ModelWeights& weights;
  std::vector<RankState>& ranks;
  bool ring_kv = false;  // attn steps read the K,V block of ring position i - step
  int ring_tp = 1;       // ring-kv --tp: ranks a ring position (rank r is position r / ring_tp, shard r mod ring_tp)
  bool ring_q = false;   // ring-q: steps s > 0 score the visiting queries of position i - s against the own K,V

  void qkv(const PlanOp& op);
  void attn(const PlanOp& op);
  void o(const PlanOp& op);
  void mlp(const PlanOp& op);
  void lm_head(const PlanOp& op, std::vector<float>& logits);
  void transfer(const PlanOp& op);
  // ring-q: a step s > 0, the queries' transfers, and the merge of the returned partial outputs.
  void attn_visiting(const PlanOp& op);
  void transfer_ring_q(const PlanOp& op);
  void merge_returned(const PlanOp& op);

 private:
  RankState& rank(int r);
  const LayerWeights& layer(const PlanOp& op) const;
  void norm(const float* x, float* y, const std::vector<float>& scale, const std::vector<float>& bias, int64_t rows) const;
};

}  // namespace kvr::cpu
