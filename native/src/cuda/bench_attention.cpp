// bench_attention (kvr/cuda_api.hpp): times the attention kernel on one shape with CUDA events
// (median of repeats) on device 0, and checks a sample of query rows against an fp32 host
// reference computed from the same fp16 inputs (kvr/attention_check.hpp: Q scaled so the softmax
// is peaked, rows on both sides of the tile boundaries). Every flash tiling compiled in is timed too
// ("variants"; one whose shared memory exceeds the device's limit is listed as skipped), so one GPU
// session shows which tiling suits the card; "fastest_passing" names the fastest variant whose
// output passed the check (null without --check or when none passed): what KVR_CUDA_ATTENTION
// should be set to on that card (native/scripts/lib/gpu-run-steps.sh picks it the same way).
// An added tiling that fails (a launch error, or a fault) is listed with its "error" and does not
// stop the bench; after a fault the context is unusable, so the remaining ones are not run
// ("context_lost_after") and what was measured before is still returned. Only the default
// kernel's failure fails the command.
//
// FLOPs are the simulator's: causal 4 h hd c (P + (c + 1) / 2) (each query attends to its prefix
// and the causal part of its own chunk), dense 4 h hd c (P + c). TFLOP/s = FLOPs / median time.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "attention.hpp"
#include "check.hpp"
#include "cuda_backend.hpp"
#include "elementwise.hpp"
#include "kvr/attention_check.hpp"
#include "kvr/cuda_api.hpp"

namespace kvr {
namespace {

using cuda::AttentionKernel;
using cuda::AttentionParams;

std::vector<float> to_floats(const std::vector<__half>& values) {
  std::vector<float> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = __half2float(values[i]);
  return out;
}

std::vector<__half> copy_back(const __half* device, size_t count) {
  std::vector<__half> host(count);
  KVR_CUDA_CHECK(cudaMemcpy(host.data(), device, count * sizeof(__half), cudaMemcpyDeviceToHost));
  return host;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

}  // namespace

json::Value bench_attention(const AttentionBenchOptions& o) {
  KVR_CHECK(o.heads > 0 && o.kv_heads > 0 && o.heads % o.kv_heads == 0, ErrorCode::InvalidArgument,
            "bench-attention: heads must be a positive multiple of kv_heads");
  KVR_CHECK(o.head_dim > 0 && o.head_dim % 2 == 0 && o.head_dim <= 256, ErrorCode::InvalidArgument,
            "bench-attention: head_dim must be even and at most 256");
  KVR_CHECK(o.chunk > 0 && o.prefix >= 0, ErrorCode::InvalidArgument,
            "bench-attention: chunk must be positive and prefix non-negative");
  KVR_CHECK(o.warmup >= 0 && o.repeats >= 1, ErrorCode::InvalidArgument,
            "bench-attention: warmup must be >= 0 and repeats >= 1");
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    KVR_FAIL(ErrorCode::NoCudaDevice, std::string("no CUDA device: ") +
                                          (status != cudaSuccess ? cudaGetErrorString(status) : "cudaGetDeviceCount found none"));
  }
  const int device = 0;
  KVR_CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop{};
  KVR_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));

  const int hd = o.head_dim;
  const int64_t keys = o.prefix + o.chunk;
  const int64_t q_count = o.chunk * o.heads * hd;
  const int64_t cache_count = keys * 2 * o.kv_heads * hd;
  const size_t needed = static_cast<size_t>(2 * q_count + cache_count) * sizeof(__half);
  size_t free_bytes = 0;
  size_t total_bytes = 0;
  KVR_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (needed + (size_t{256} << 20) > free_bytes) {
    char text[96];
    std::snprintf(text, sizeof text, "%.1f GB on ", static_cast<double>(needed) / 1e9);
    std::string message = std::string("out of memory: the benchmark needs ") + text + prop.name;
    std::snprintf(text, sizeof text, ", it has %.1f GB free", static_cast<double>(free_bytes) / 1e9);
    KVR_FAIL(ErrorCode::OutOfMemory, message + text);
  }
  cuda::DeviceAllocation q_memory(device, static_cast<size_t>(q_count) * sizeof(__half), "queries");
  cuda::DeviceAllocation cache_memory(device, static_cast<size_t>(cache_count) * sizeof(__half), "K,V");
  cuda::DeviceAllocation out_memory(device, static_cast<size_t>(q_count) * sizeof(__half), "outputs");
  cudaStream_t stream = nullptr;
  KVR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaEvent_t before = nullptr;
  cudaEvent_t after = nullptr;
  KVR_CUDA_CHECK(cudaEventCreate(&before));
  KVR_CUDA_CHECK(cudaEventCreate(&after));

  json::Value result;
  std::string context_lost;  // the tiling whose fault left the CUDA context unusable, if any
  try {
    cuda::WeightInitParams fill;
    fill.seed = o.seed;
    // Sharp scores: Q in +-kAttentionCheckQScale, K and V in +-1 (attention_check.hpp).
    fill.scale = kAttentionCheckQScale;
    fill.out = q_memory.data();
    fill.count = q_count;
    fill.tensor = kAttentionCheckQTensor;
    cuda::launch_weight_init(fill, stream);
    fill.scale = 1.0f;
    fill.out = cache_memory.data();
    fill.count = cache_count;
    fill.tensor = kAttentionCheckCacheTensor;
    cuda::launch_weight_init(fill, stream);

    AttentionParams p;
    p.q = reinterpret_cast<const __half*>(q_memory.data());
    p.q_stride = static_cast<int64_t>(o.heads) * hd;
    p.cache = reinterpret_cast<const __half*>(cache_memory.data());
    p.out = reinterpret_cast<__half*>(out_memory.data());
    p.out_stride = static_cast<int64_t>(o.heads) * hd;
    p.tokens = o.chunk;
    p.prefix = o.prefix;
    p.keys = keys;
    p.heads = o.heads;
    p.kv_heads = o.kv_heads;
    p.head_dim = hd;
    p.causal = o.causal;
    p.softmax_scale = 1.0f / std::sqrt(static_cast<float>(hd));

    const double c = static_cast<double>(o.chunk);
    const double prefix = static_cast<double>(o.prefix);
    const double flops = 4.0 * o.heads * hd * c * (o.causal ? prefix + (c + 1.0) / 2.0 : prefix + c);

    AttentionShape shape;
    shape.heads = o.heads;
    shape.kv_heads = o.kv_heads;
    shape.head_dim = hd;
    shape.chunk = o.chunk;
    shape.prefix = o.prefix;
    const std::vector<int64_t> rows = attention_check_rows(o.chunk);
    AttentionReference expected;

    std::vector<AttentionKernel> kernels = {cuda::choose_attention_kernel(hd)};
    if (cuda::flash_attention_supports(hd)) {
      for (const AttentionKernel k : cuda::flash_attention_kernels()) {
        if (k != kernels.front()) kernels.push_back(k);
      }
    }

    int shared_limit = 0;
    KVR_CUDA_CHECK(cudaDeviceGetAttribute(&shared_limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    json::Value variants;
    variants.array();
    std::string fastest_passing;
    double fastest_passing_s = 0.0;
    for (size_t index = 0; index < kernels.size(); ++index) {
      const AttentionKernel kernel = kernels[index];
      const int shared_bytes = cuda::flash_attention_shared_bytes(kernel, hd);
      if (index > 0 && shared_bytes > shared_limit) {
        json::Value skipped;
        skipped.set("kernel", cuda::attention_kernel_name(kernel));
        skipped.set("skipped", "needs " + std::to_string(shared_bytes) + " bytes of shared memory per block, the device allows " +
                                   std::to_string(shared_limit));
        variants.push(skipped);
        continue;
      }
      json::Value variant;
      variant.set("kernel", cuda::attention_kernel_name(kernel));
      double median_s = 0.0;
      double max_rel_error = -1.0;
      json::Value times_json;
      times_json.array();
      try {
        KVR_CUDA_CHECK(cudaMemsetAsync(out_memory.data(), 0, static_cast<size_t>(q_count) * sizeof(__half), stream));
        for (int i = 0; i < o.warmup; ++i) cuda::launch_attention(kernel, p, stream);
        KVR_CUDA_CHECK(cudaStreamSynchronize(stream));
        std::vector<double> times;
        for (int i = 0; i < o.repeats; ++i) {
          KVR_CUDA_CHECK(cudaEventRecord(before, stream));
          cuda::launch_attention(kernel, p, stream);
          KVR_CUDA_CHECK(cudaEventRecord(after, stream));
          KVR_CUDA_CHECK(cudaEventSynchronize(after));
          float ms = 0.f;
          KVR_CUDA_CHECK(cudaEventElapsedTime(&ms, before, after));
          times.push_back(static_cast<double>(ms) * 1e-3);
          times_json.push(static_cast<double>(ms) * 1e-3);
        }
        median_s = median(times);
        variant.set("median_s", median_s);
        variant.set("tflops", flops / median_s / 1e12);
        if (o.check) {
          if (expected.out.empty()) {
            const std::vector<float> q_host = to_floats(copy_back(p.q, static_cast<size_t>(q_count)));
            const std::vector<float> cache_host = to_floats(copy_back(p.cache, static_cast<size_t>(cache_count)));
            expected = attention_reference(shape, q_host, cache_host, rows);
          }
          max_rel_error = attention_max_rel_error(shape, expected.out,
                                                  to_floats(copy_back(p.out, static_cast<size_t>(q_count))), rows);
          variant.set("max_rel_error", max_rel_error);
          variant.set("pass", max_rel_error <= kAttentionCheckTolerance);
          if (max_rel_error <= kAttentionCheckTolerance && (fastest_passing.empty() || median_s < fastest_passing_s)) {
            fastest_passing = cuda::attention_kernel_name(kernel);
            fastest_passing_s = median_s;
          }
        }
      } catch (const Error& e) {
        // The default (first) kernel's failure fails the bench; an added tiling's is recorded, and
        // the rest still run unless the failure left the context unusable (a kernel fault).
        if (index == 0) throw;
        json::Value failed;
        failed.set("kernel", cuda::attention_kernel_name(kernel));
        failed.set("error", std::string(e.what()));
        variants.push(failed);
        if (cudaDeviceSynchronize() != cudaSuccess || cudaGetLastError() != cudaSuccess) {
          context_lost = cuda::attention_kernel_name(kernel);
          break;
        }
        continue;
      }
      variants.push(variant);
      if (index == 0) {
        result.set("kernel", cuda::attention_kernel_name(kernel));
        result.set("description", cuda::attention_kernel_description(kernel));
        result.set("device", std::string(prop.name));
        result.set("heads", o.heads);
        result.set("kv_heads", o.kv_heads);
        result.set("head_dim", hd);
        result.set("chunk", o.chunk);
        result.set("prefix", o.prefix);
        result.set("causal", o.causal);
        result.set("flops", flops);
        result.set("median_s", median_s);
        result.set("times_s", times_json);
        result.set("tflops", flops / median_s / 1e12);
        if (o.check) {
          result.set("max_rel_error", max_rel_error);
          result.set("checked_rows", static_cast<int64_t>(rows.size()));
          result.set("score_std", expected.score_std);
          result.set("q_scale", static_cast<double>(kAttentionCheckQScale));
        }
      }
    }
    result.set("variants", variants);
    if (!context_lost.empty()) result.set("context_lost_after", context_lost);
    if (fastest_passing.empty()) {
      result.set("fastest_passing", json::Value());
    } else {
      result.set("fastest_passing", fastest_passing);
      result.set("fastest_passing_tflops", flops / fastest_passing_s / 1e12);
    }
  } catch (...) {
    (void)cudaStreamSynchronize(stream);
    (void)cudaEventDestroy(before);
    (void)cudaEventDestroy(after);
    (void)cudaStreamDestroy(stream);
    throw;
  }
  if (!context_lost.empty()) {
    // Nothing more can run in this process; what was measured before the fault is still reported.
    (void)cudaEventDestroy(before);
    (void)cudaEventDestroy(after);
    (void)cudaStreamDestroy(stream);
    return result;
  }
  KVR_CUDA_CHECK(cudaEventDestroy(before));
  KVR_CUDA_CHECK(cudaEventDestroy(after));
  KVR_CUDA_CHECK(cudaStreamDestroy(stream));
  return result;
}

}  // namespace kvr
