// matmulPeak(): the matrix-product throughput oneDNN reaches on this machine, in fp32 or with
// bf16 inputs (fp32 accumulation and output), the yardstick bench/ reports training-step
// efficiency against; isaProbe(): what the vector units give without memory traffic. Timed in
// C++ so no JS overhead is counted.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "binding_util.h"
#include "dnnl_context.h"
#include "isa_probe.h"
#include "precision.h"

namespace rm {

// dst[M, N] = src[M, K] · weights[K, N], repeated for at least `seconds`; returns GFLOP/s of the
// best of five equal blocks (the machine is shared: the best block is the least disturbed).
static double matmul_gflops(size_t M, size_t K, size_t N, bool bf16, double seconds) {
  using dnnl::memory;
  using tag = memory::format_tag;
  auto& eng = cpu_engine();
  auto in_type = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  memory::desc src_md({memory::dim(M), memory::dim(K)}, in_type, tag::ab);
  memory::desc wei_md({memory::dim(K), memory::dim(N)}, in_type, tag::any);
  auto dst_md = f32_desc({memory::dim(M), memory::dim(N)}, tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, wei_md, dst_md), eng);
  dnnl::matmul mm(pd);
  wei_md = pd.weights_desc();  // the blocked layout the kernel wants, as the layers reorder to
  FloatBuffer a(M * K), b(K * N), c(M * N);  // bf16 uses the first half of a and b: 0x3f00 = 0.5
  std::fill(a.data(), a.data() + a.size(), bf16 ? bits_float(0x3f003f00u) : 0.5f);
  std::fill(b.data(), b.data() + b.size(), bf16 ? bits_float(0x3e803e80u) : 0.25f);
  memory src(src_md, eng, a.data()), wei(wei_md, eng, b.data()), dst(dst_md, eng, c.data());
  auto& s = cpu_stream();
  auto run = [&] { mm.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}}); };
  using clock = std::chrono::steady_clock;
  auto elapsed = [](clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); };
  for (int i = 0; i < 5; ++i) run();  // warm-up: primitive caches, page faults
  // Calibrate the repeat count so five blocks fill `seconds`.
  auto t0 = clock::now();
  size_t reps = 0;
  while (elapsed(t0) < 0.05) run(), ++reps;
  size_t per_block = std::max<size_t>(1, size_t(double(reps) * seconds / 5 / elapsed(t0)));
  double best = 0;
  for (int block = 0; block < 5; ++block) {
    auto tb = clock::now();
    for (size_t i = 0; i < per_block; ++i) run();
    best = std::max(best, 2.0 * double(M) * double(K) * double(N) * double(per_block) / elapsed(tb) / 1e9);
  }
  return best;
}

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
