// The attention kernels' check (kvr/attention_check.hpp): reference, sampled rows, error, and a
// CPU self-test with deliberate mask faults.
#include "kvr/attention_check.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include "kvr/error.hpp"
#include "kvr/weights.hpp"

namespace kvr {

MaskFault parse_mask_fault(const std::string& name) {
  if (name == "none") return MaskFault::None;
  if (name == "diagonal-tile") return MaskFault::DiagonalTile;
  if (name == "prefix-tile") return MaskFault::PrefixTile;
  if (name == "off-by-one") return MaskFault::OffByOne;
  KVR_FAIL(ErrorCode::InvalidArgument,
           "--fault: expected none|diagonal-tile|prefix-tile|off-by-one (got \"" + name + "\")");
}

std::string mask_fault_name(MaskFault fault) {
  switch (fault) {
    case MaskFault::None: return "none";
    case MaskFault::DiagonalTile: return "diagonal-tile";
    case MaskFault::PrefixTile: return "prefix-tile";
    case MaskFault::OffByOne: return "off-by-one";
  }
  return "none";
}

std::vector<int64_t> attention_check_rows(int64_t chunk) {
  std::vector<int64_t> rows;
  const int64_t samples = std::min<int64_t>(64, chunk);
  for (int64_t i = 0; i < samples; ++i) rows.push_back(samples == 1 ? 0 : i * (chunk - 1) / (samples - 1));
  for (const int64_t tile : {int64_t{64}, int64_t{128}}) {
    for (const int64_t edge : {tile, 2 * tile, chunk - chunk % tile, chunk - tile}) {
      for (const int64_t row : {edge - 2, edge - 1, edge, edge + 1}) {
        if (row >= 0 && row < chunk) rows.push_back(row);
      }
    }
  }
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

namespace {

// Whether query position t sees key s under `fault`.
bool visible(int64_t s, int64_t t, int64_t prefix, MaskFault fault) {
  switch (fault) {
    case MaskFault::None: return s <= t;
    case MaskFault::DiagonalTile: return s < (t / 64 + 1) * 64;
    case MaskFault::PrefixTile: return s <= t && !(s >= prefix - 64 && s < prefix);
    case MaskFault::OffByOne: return s <= t + 1;
  }
  return s <= t;
}

}  // namespace

AttentionReference attention_reference(const AttentionShape& o, const std::vector<float>& q,
                                       const std::vector<float>& cache, const std::vector<int64_t>& rows,
                                       MaskFault fault) {
  KVR_CHECK(o.heads > 0 && o.kv_heads > 0 && o.heads % o.kv_heads == 0 && o.head_dim > 0 && o.chunk > 0 &&
                o.prefix >= 0,
            ErrorCode::InvalidArgument, "attention check: heads must be a positive multiple of kv_heads");
  const int hd = o.head_dim;
  const int64_t keys = o.prefix + o.chunk;
  const int64_t q_stride = static_cast<int64_t>(o.heads) * hd;
  const int64_t cache_stride = 2LL * o.kv_heads * hd;
  KVR_CHECK(static_cast<int64_t>(q.size()) == o.chunk * q_stride && static_cast<int64_t>(cache.size()) == keys * cache_stride,
            ErrorCode::Internal, "attention check: q or cache has the wrong size");
  const int group = o.heads / o.kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  AttentionReference ref;
  ref.out.assign(rows.size() * static_cast<size_t>(o.heads) * static_cast<size_t>(hd), 0.f);
  const size_t tasks = rows.size() * static_cast<size_t>(o.heads);
  const size_t threads = std::max<size_t>(1, std::min<size_t>(std::thread::hardware_concurrency(), 64));
  // Per thread: sum and sum of squares of the scores, and their count, for score_std.
  std::vector<double> sums(threads, 0.0), squares(threads, 0.0), counts(threads, 0.0);
  const auto work = [&](size_t first, size_t step) {
    std::vector<double> scores(static_cast<size_t>(keys));
    std::vector<double> acc(static_cast<size_t>(hd));
    for (size_t task = first; task < tasks; task += step) {
      const size_t sample = task / static_cast<size_t>(o.heads);
      const int head = static_cast<int>(task % static_cast<size_t>(o.heads));
      const int64_t row = rows[sample];
      const int64_t t = o.prefix + row;
      const float* qv = q.data() + row * q_stride + static_cast<int64_t>(head) * hd;
      const int64_t kv_offset = static_cast<int64_t>(head / group) * hd;
      double max_score = -1e300;
      for (int64_t s = 0; s < keys; ++s) {
        if (!visible(s, t, o.prefix, fault)) continue;
        const float* k = cache.data() + s * cache_stride + kv_offset;
        float dot = 0.f;
        for (int i = 0; i < hd; ++i) dot += qv[i] * k[i];
        const double score = static_cast<double>(dot * scale);
        scores[static_cast<size_t>(s)] = score;
        max_score = std::max(max_score, score);
        sums[first] += score;
        squares[first] += score * score;
        counts[first] += 1.0;
      }
      std::fill(acc.begin(), acc.end(), 0.0);
      double sum = 0.0;
      for (int64_t s = 0; s < keys; ++s) {
        if (!visible(s, t, o.prefix, fault)) continue;
        const double pr = std::exp(scores[static_cast<size_t>(s)] - max_score);
        sum += pr;
        const float* v = cache.data() + s * cache_stride + static_cast<int64_t>(o.kv_heads) * hd + kv_offset;
        for (int i = 0; i < hd; ++i) acc[static_cast<size_t>(i)] += pr * v[i];
      }
      float* dst = ref.out.data() + task * static_cast<size_t>(hd);
      for (int i = 0; i < hd; ++i) dst[i] = static_cast<float>(acc[static_cast<size_t>(i)] / sum);
    }
  };
  std::vector<std::thread> pool;
  for (size_t i = 0; i < threads; ++i) pool.emplace_back(work, i, threads);
  for (std::thread& thread : pool) thread.join();
  double n = 0.0, total = 0.0, total_sq = 0.0;
  for (size_t i = 0; i < threads; ++i) {
    n += counts[i];
    total += sums[i];
    total_sq += squares[i];
  }
  if (n > 0) ref.score_std = std::sqrt(std::max(0.0, total_sq / n - (total / n) * (total / n)));
  return ref;
}

double attention_max_rel_error(const AttentionShape& o, const std::vector<float>& expected,
                               const std::vector<float>& got, const std::vector<int64_t>& rows) {
  const int64_t width = static_cast<int64_t>(o.heads) * o.head_dim;
  KVR_CHECK(static_cast<int64_t>(expected.size()) == static_cast<int64_t>(rows.size()) * width &&
                static_cast<int64_t>(got.size()) == o.chunk * width,
            ErrorCode::Internal, "attention check: expected or got has the wrong size");
  double max_diff = 0.0;
  double max_ref = 0.0;
  for (size_t sample = 0; sample < rows.size(); ++sample) {
    for (int64_t j = 0; j < width; ++j) {
      const double g = got[static_cast<size_t>(rows[sample] * width + j)];
      const double want = expected[sample * static_cast<size_t>(width) + static_cast<size_t>(j)];
      max_diff = std::max(max_diff, std::isfinite(g) ? std::fabs(g - want) : 1e30);
      max_ref = std::max(max_ref, std::fabs(want));
    }
  }
  return max_diff / std::max(max_ref, 1e-30);
}

std::vector<float> attention_check_q(const AttentionShape& o, float q_scale, uint64_t seed) {
  std::vector<float> q(static_cast<size_t>(o.chunk * o.heads * o.head_dim));
  for (size_t i = 0; i < q.size(); ++i) q[i] = random_uniform(seed, kAttentionCheckQTensor, i, q_scale);
  return q;
}

std::vector<float> attention_check_cache(const AttentionShape& o, uint64_t seed) {
  std::vector<float> cache(static_cast<size_t>((o.prefix + o.chunk) * 2 * o.kv_heads * o.head_dim));
  for (size_t i = 0; i < cache.size(); ++i) cache[i] = random_uniform(seed, kAttentionCheckCacheTensor, i, 1.0f);
  return cache;
}

json::Value attention_shape_json(const AttentionShape& o) {
  json::Value shape;
  shape.set("heads", o.heads);
  shape.set("kv_heads", o.kv_heads);
  shape.set("head_dim", o.head_dim);
  shape.set("chunk", o.chunk);
  shape.set("prefix", o.prefix);
  return shape;
}

json::Value attention_check_self_test(const AttentionShape& o, float q_scale, MaskFault fault, uint64_t seed) {
  const std::vector<float> q = attention_check_q(o, q_scale, seed);
  const std::vector<float> cache = attention_check_cache(o, seed);
  const std::vector<int64_t> rows = attention_check_rows(o.chunk);
  const AttentionReference want = attention_reference(o, q, cache, rows);
  // What a kernel with this fault would output: the faulty reference on every sampled row, the
  // other rows left at zero (never compared).
  const AttentionReference faulty = attention_reference(o, q, cache, rows, fault);
  const int64_t width = static_cast<int64_t>(o.heads) * o.head_dim;
  std::vector<float> got(static_cast<size_t>(o.chunk * width), 0.f);
  for (size_t sample = 0; sample < rows.size(); ++sample) {
    std::copy_n(faulty.out.begin() + static_cast<std::ptrdiff_t>(sample * static_cast<size_t>(width)), width,
                got.begin() + static_cast<std::ptrdiff_t>(rows[sample] * width));
  }
  const double error = attention_max_rel_error(o, want.out, got, rows);
  const json::Value shape = attention_shape_json(o);
  json::Value out;
  out.set("schema", "kvr-exec/attention-check@1");
  out.set("shape", shape);
  out.set("q_scale", static_cast<double>(q_scale));
  out.set("fault", mask_fault_name(fault));
  out.set("rows_checked", static_cast<int64_t>(rows.size()));
  out.set("score_std", want.score_std);
  out.set("max_rel_error", error);
  out.set("tolerance", kAttentionCheckTolerance);
  out.set("pass", error <= kAttentionCheckTolerance);
  return out;
}

}  // namespace kvr
