#include "matmul_peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>

#include "../../core/common.h"
#include "../../precision/precision.h"
#include "dnnl_context.h"

namespace rm {

// dst[M, N] = src[M, K] · weights[K, N], repeated for at least `seconds`; returns GFLOP/s of the
// best of five equal blocks (the machine is shared: the best block is the least disturbed).
double matmul_gflops(size_t M, size_t K, size_t N, bool bf16, double seconds) {
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

const Bf16Probe& bf16_probe() {
  static const Bf16Probe probe = [] {
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    Bf16Probe p{matmul_gflops(512, 512, 512, false, 0.1), matmul_gflops(512, 512, 512, true, 0.1), false};
    omp_set_num_threads(threads);
    p.pays_off = p.bf16_gflops >= kBf16Margin * p.fp32_gflops;
    return p;
  }();
  return probe;
}

}  // namespace rm
