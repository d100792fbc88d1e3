// matmulPeak(): the matrix-product throughput oneDNN reaches on this machine, in fp32 or with
// bf16 inputs (fp32 accumulation and output), the yardstick bench/ reports training-step
// efficiency against; isaProbe(): what the vector units give without memory traffic. Timed in
// C++ so no JS overhead is counted.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "binding_util.h"
#include "../kernels/cpu/dnnl_context.h"
#include "../kernels/cpu/isa_probe.h"
#include "../kernels/cpu/matmul_peak.h"
#include "../precision/precision.h"

namespace rm {


// matmulPeak({ m, k, n, threads, seconds, bf16? }) → Promise<number> GFLOP/s
static Napi::Value matmul_peak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&] {
    auto o = require_object(info[0], "options");
    size_t m = require_count(o.Get("m"), "m"), k = require_count(o.Get("k"), "k"), n = require_count(o.Get("n"), "n");
    size_t threads = require_count(o.Get("threads"), "threads");
    double seconds = require_number(o.Get("seconds"), "seconds");
    bool bf16 = o.Has("bf16") && o.Get("bf16").ToBoolean();
    RM_CHECK(m > 0 && k > 0 && n > 0 && seconds > 0, "INVALID_ARGUMENT", "m, k, n and seconds must be > 0");
    auto result = std::make_shared<double>(0.0);
    auto* task = new Task(Napi::Object::New(env), threads == 0 ? omp_get_num_procs() : int(threads),
                          [=] { *result = matmul_gflops(m, k, n, bf16, seconds); },
                          [result](Napi::Env e) { return Napi::Value(Napi::Number::New(e, *result)); }, [] {});
    task->Queue();
    return Napi::Value(task->promise());
  });
}

// isaProbe({ seconds }) → Promise<{ fp32FmaGflops, bf16DotGflops, amx }>, on one thread.
static Napi::Value isa_probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&] {
    double seconds = require_number(require_object(info[0], "options").Get("seconds"), "seconds");
    RM_CHECK(seconds > 0, "INVALID_ARGUMENT", "seconds must be > 0");
    auto result = std::make_shared<IsaProbe>();
    auto* task = new Task(Napi::Object::New(env), 1, [=] { *result = probe_isa(seconds); },
                          [result](Napi::Env e) {
                            auto o = Napi::Object::New(e);
                            o.Set("fp32FmaGflops", result->fp32_fma_gflops);
                            o.Set("bf16DotGflops", result->bf16_dot_gflops);
                            o.Set("amx", result->amx);
                            return Napi::Value(o);
                          }, [] {});
    task->Queue();
    return Napi::Value(task->promise());
  });
}

void register_bench(Napi::Env env, Napi::Object exports) {
  exports.Set("matmulPeak", Napi::Function::New(env, matmul_peak, "matmulPeak"));
  exports.Set("isaProbe", Napi::Function::New(env, isa_probe, "isaProbe"));
}

}  // namespace rm
