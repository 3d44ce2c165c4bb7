// Node binding of the native executor (node-addon-api). Every call returns a Promise and runs on
// libuv's thread pool (AsyncWorker), so a long run never blocks the event loop. Native errors
// become rejected JavaScript Errors whose `code` is kvr::error_code_name and whose `where` is the
// file:line that raised them; nothing native escapes as a crash.
#include <napi.h>

#include <cmath>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include "kvr/cuda_api.hpp"
#include "kvr/devices.hpp"
#include "kvr/error.hpp"
#include "kvr/executor.hpp"
#include "kvr/json.hpp"
#include "kvr/link_emulation.hpp"
#include "kvr/op_timing.hpp"
#include "kvr/plan.hpp"

namespace {

// Runs `work` off the main thread and settles a promise with what `resolve` builds from it.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> resolve)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)),
        resolve_(std::move(resolve)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const kvr::Error& error) {
      fail(kvr::error_code_name(error.code()), error.what(), error.where());
    } catch (const std::bad_alloc&) {
      fail("out-of-memory", "out of memory: a host allocation failed", "addon/addon.cpp");
    } catch (const std::exception& error) {
      fail("internal", error.what(), "addon/addon.cpp");
    }
  }

  void OnOK() override { deferred_.Resolve(resolve_(Env())); }

  void OnError(const Napi::Error& error) override {
    Napi::Error rejection = Napi::Error::New(Env(), error.Message());
    rejection.Set("code", Napi::String::New(Env(), code_));
    rejection.Set("where", Napi::String::New(Env(), where_));
    deferred_.Reject(rejection.Value());
  }

 private:
  void fail(const char* code, const std::string& message, const std::string& where) {
    code_ = code;
    where_ = where;
    SetError(message);
  }

  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> resolve_;
  std::string code_ = "internal";
  std::string where_;
};

Napi::Float32Array to_float32(Napi::Env env, const std::vector<float>& values) {
  Napi::Float32Array array = Napi::Float32Array::New(env, values.size());
  std::copy(values.begin(), values.end(), array.Data());
  return array;
}

// Reads an optional field of the options object with a type check naming the field.
template <typename Read>
void read_option(const Napi::Object& options, const char* key, Read read) {
  if (!options.Has(key)) return;
  Napi::Value value = options.Get(key);
  if (!value.IsUndefined()) read(value);
}

int64_t integer_option(const Napi::Value& value, const char* key) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), std::string("options.") + key + ": expected a number");
  return value.As<Napi::Number>().Int64Value();
}

std::string string_option(const Napi::Value& value, const char* key) {
  if (!value.IsString()) throw Napi::TypeError::New(value.Env(), std::string("options.") + key + ": expected a string");
  return value.As<Napi::String>().Utf8Value();
}

// The options execute and timeOps share. `links` is kept as JSON text: it is parsed in the
// worker, so a bad emulation rejects the promise with a coded error like any other.
struct CallOptions {
  kvr::ExecOptions exec;
  std::string links;  // empty: no emulated links
};

CallOptions read_call_options(const Napi::CallbackInfo& info, size_t index, const char* call) {
  CallOptions options;
  if (info.Length() <= index || info[index].IsUndefined()) return options;
  if (!info[index].IsObject()) throw Napi::TypeError::New(info.Env(), std::string(call) + ": options must be an object");
  Napi::Object object = info[index].As<Napi::Object>();
  kvr::ExecOptions& exec = options.exec;
  read_option(object, "backend", [&](const Napi::Value& v) { exec.backend = string_option(v, "backend"); });
  read_option(object, "transport", [&](const Napi::Value& v) { exec.backend_options.transport = string_option(v, "transport"); });
  read_option(object, "warmup", [&](const Napi::Value& v) { exec.warmup = static_cast<int>(integer_option(v, "warmup")); });
  read_option(object, "repeats", [&](const Napi::Value& v) { exec.repeats = static_cast<int>(integer_option(v, "repeats")); });
  read_option(object, "seed", [&](const Napi::Value& v) { exec.backend_options.seed = static_cast<uint64_t>(integer_option(v, "seed")); });
  read_option(object, "deviceOffset", [&](const Napi::Value& v) { exec.backend_options.device_offset = static_cast<int>(integer_option(v, "deviceOffset")); });
  read_option(object, "smPartitions", [&](const Napi::Value& v) {
    const int64_t partitions = integer_option(v, "smPartitions");
    // Range-checked here so a huge value cannot wrap into a valid int; the backend checks the rest.
    if (partitions < 0 || partitions > 4096) throw Napi::TypeError::New(v.Env(), "options.smPartitions: expected an integer in 0..4096");
    exec.backend_options.sm_partitions = static_cast<int>(partitions);
  });
  read_option(object, "links", [&](const Napi::Value& v) { options.links = string_option(v, "links"); });
  return options;
}

// Completes the options in the worker thread: parses the links text.
kvr::ExecOptions resolve_call_options(const CallOptions& options) {
  kvr::ExecOptions exec = options.exec;
  if (!options.links.empty()) exec.backend_options.links = kvr::parse_link_emulation_text(options.links);
  return exec;
}

// execute(planJson: string, options?: object): Promise<{ measurement, trace, logits, kv? }>
Napi::Value Execute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "execute(plan, options): plan must be a JSON string");
  std::string plan_text = info[0].As<Napi::String>().Utf8Value();
  CallOptions options = read_call_options(info, 1, "execute(plan, options)");
  if (info.Length() > 1 && info[1].IsObject()) {
    read_option(info[1].As<Napi::Object>(), "captureKv", [&](const Napi::Value& v) {
      if (!v.IsBoolean()) throw Napi::TypeError::New(env, "options.captureKv: expected a boolean");
      options.exec.capture_kv = v.As<Napi::Boolean>().Value();
    });
  }
  struct Result {
    std::string measurement;
    std::string trace;
    std::vector<float> logits;
    std::vector<float> kv;
  };
  auto result = std::make_shared<Result>();
  auto* worker = new PromiseWorker(
      env,
      [plan_text, options, result]() {
        const kvr::ExecOptions exec = resolve_call_options(options);
        kvr::Plan plan = kvr::parse_plan_text(plan_text);
        kvr::Measurement measurement = kvr::execute(plan, exec);
        result->measurement = kvr::json::stringify(kvr::measurement_json(plan, measurement));
        result->trace = kvr::json::stringify(kvr::measurement_trace(plan, measurement));
        result->logits = std::move(measurement.logits);
        result->kv = std::move(measurement.prefill_kv);
      },
      [result, capture = options.exec.capture_kv](Napi::Env env) -> Napi::Value {
        Napi::Object object = Napi::Object::New(env);
        object.Set("measurement", Napi::String::New(env, result->measurement));
        object.Set("trace", Napi::String::New(env, result->trace));
        object.Set("logits", to_float32(env, result->logits));
        if (capture) object.Set("kv", to_float32(env, result->kv));
        return object;
      });
  worker->Queue();
  return worker->promise();
}

// A promise of a JSON string computed off the main thread.
Napi::Value JsonPromise(Napi::Env env, std::function<kvr::json::Value()> compute) {
  auto text = std::make_shared<std::string>();
  auto* worker = new PromiseWorker(
      env, [compute, text]() { *text = kvr::json::stringify(compute()); },
      [text](Napi::Env env) -> Napi::Value { return Napi::String::New(env, *text); });
  worker->Queue();
  return worker->promise();
}

// timeOps(planJson: string, opIds: number[], options?: object): Promise<string> (JSON of kvr::time_ops)
Napi::Value TimeOps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* call = "timeOps(plan, opIds, options)";
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, std::string(call) + ": plan must be a JSON string");
  if (info.Length() < 2 || !info[1].IsArray()) throw Napi::TypeError::New(env, std::string(call) + ": opIds must be an array of op ids");
  std::string plan_text = info[0].As<Napi::String>().Utf8Value();
  Napi::Array ids = info[1].As<Napi::Array>();
  std::vector<int> op_ids;
  for (uint32_t i = 0; i < ids.Length(); ++i) {
    Napi::Value id = ids.Get(i);
    const bool is_int = id.IsNumber() && std::trunc(id.As<Napi::Number>().DoubleValue()) == id.As<Napi::Number>().DoubleValue();
    // Integers beyond the plan are left to time_ops, which names the plan's id range.
    const double value = is_int ? id.As<Napi::Number>().DoubleValue() : 0.0;
    if (!is_int || std::fabs(value) > 1e9) {
      throw Napi::TypeError::New(env, "opIds[" + std::to_string(i) + "]: expected an integer op id");
    }
    op_ids.push_back(static_cast<int>(value));
  }
  CallOptions options = read_call_options(info, 2, call);
  return JsonPromise(env, [plan_text, op_ids, options] {
    const kvr::ExecOptions exec = resolve_call_options(options);
    return kvr::time_ops(kvr::parse_plan_text(plan_text), op_ids, exec);
  });
}

// devices(): Promise<string> (JSON of kvr::describe_devices)
Napi::Value Devices(const Napi::CallbackInfo& info) { return JsonPromise(info.Env(), [] { return kvr::describe_devices(); }); }

// benchAttention(options): Promise<string> (JSON of kvr::bench_attention)
Napi::Value BenchAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  kvr::AttentionBenchOptions options;
  if (info.Length() > 0 && info[0].IsObject()) {
    Napi::Object object = info[0].As<Napi::Object>();
    read_option(object, "heads", [&](const Napi::Value& v) { options.heads = static_cast<int>(integer_option(v, "heads")); });
    read_option(object, "kvHeads", [&](const Napi::Value& v) { options.kv_heads = static_cast<int>(integer_option(v, "kvHeads")); });
    read_option(object, "headDim", [&](const Napi::Value& v) { options.head_dim = static_cast<int>(integer_option(v, "headDim")); });
    read_option(object, "chunk", [&](const Napi::Value& v) { options.chunk = integer_option(v, "chunk"); });
    read_option(object, "prefix", [&](const Napi::Value& v) { options.prefix = integer_option(v, "prefix"); });
    read_option(object, "repeats", [&](const Napi::Value& v) { options.repeats = static_cast<int>(integer_option(v, "repeats")); });
    read_option(object, "causal", [&](const Napi::Value& v) { options.causal = v.ToBoolean().Value(); });
  }
  return JsonPromise(env, [options] { return kvr::bench_attention(options); });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("execute", Napi::Function::New(env, Execute));
  exports.Set("timeOps", Napi::Function::New(env, TimeOps));
  exports.Set("devices", Napi::Function::New(env, Devices));
  exports.Set("benchAttention", Napi::Function::New(env, BenchAttention));
  Napi::Object build = Napi::Object::New(env);
  build.Set("cuda", Napi::Boolean::New(env, kvr::built_with_cuda()));
  build.Set("nccl", Napi::Boolean::New(env, kvr::built_with_nccl()));
  exports.Set("build", build);
  return exports;
}

}  // namespace

NODE_API_MODULE(kvr, Init)
