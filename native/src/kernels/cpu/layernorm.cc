// LayerNorm per row, rows split across threads; the row sums are fixed_order_sum's, which
// vectorise and give a row the same bits wherever it sits. Backward's dweight and dbias are sums over
// rows: each chunk of rows sums into its own partial, and the partials are added in chunk
// order, so the result depends only on the thread count.
#include <cmath>
#include <vector>

#include "../../core/parallel.h"
#include "../layernorm_math.h"
#include "fixed_order_sum.h"
#include "activation_elements.h"
#include "cpu_kernels.h"

namespace rm {

// Rows per thread at the least: a row of C = 128 takes ~40 ns, and a second thread pays only
// from about a thousand rows (measured on the GPT step).
constexpr size_t kRowGrain = 1024;

#define RM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

template <class Out, class In>
RM_CLONES void layernorm_rows(Out* out, float* mean, float* rstd, const In* in, const float* weight, const float* bias,
                              size_t n0, size_t n1, size_t C) {
  RowWriter<Out> rows(out, C);
  for (size_t n = n0; n < n1; ++n) {
    const In* x = in + n * C;
    float m = fixed_order_sum(C, [&](size_t c) { return load(x[c]); }) / float(C);
    float var = fixed_order_sum(C, [&](size_t c) { return (load(x[c]) - m) * (load(x[c]) - m); });
    float s = 1.0f / std::sqrt(var / float(C) + kLayerNormEps);
    float* y = rows.row(n);
    if (bias) {
      for (size_t c = 0; c < C; ++c) y[c] = layernorm_out(load(x[c]), m, s, weight[c], bias[c]);
    } else {
      for (size_t c = 0; c < C; ++c) y[c] = layernorm_out(load(x[c]), m, s, weight[c], 0.0f);
    }
    rows.done();
    mean[n] = m;
    rstd[n] = s;
  }
}

// din for rows [n0, n1); dw, db (this chunk's partials, C each) += their contributions.
template <class Din, class Dout, class In>
RM_CLONES void layernorm_backward_rows(Din* din, float* dw, float* db, const Dout* dout, const In* in, const float* weight,
                                       const float* mean, const float* rstd, size_t n0, size_t n1, size_t C) {
  RowWriter<Din> rows(din, C);
  for (size_t n = n0; n < n1; ++n) {
    const In* x = in + n * C;
    const Dout* dy = dout + n * C;
    float m = mean[n], s = rstd[n];
    for (size_t c = 0; c < C; ++c) {
      float xhat = (load(x[c]) - m) * s;
      dw[c] += load(dy[c]) * xhat;
      db[c] += load(dy[c]);
    }
    float g_mean = fixed_order_sum(C, [&](size_t c) { return load(dy[c]) * weight[c]; }) / float(C);
    float gx_mean = fixed_order_sum(C, [&](size_t c) { return load(dy[c]) * weight[c] * ((load(x[c]) - m) * s); }) / float(C);
    float* dx = rows.row(n);
    for (size_t c = 0; c < C; ++c) dx[c] = layernorm_input_grad(load(dy[c]) * weight[c], (load(x[c]) - m) * s, s, g_mean, gx_mean);
    rows.done();
  }
}

#undef RM_CLONES

void CpuKernels::layernorm_forward(View out, float* mean, float* rstd, ConstView in, const float* weight,
                                   const float* bias, size_t N, size_t C) {
  typed(out, [&](auto* o) {
    typed(in, [&](auto* x) {
      parallel_for(N, kRowGrain, [&](size_t n0, size_t n1) { layernorm_rows(o, mean, rstd, x, weight, bias, n0, n1, C); });
    });
  });
}

void CpuKernels::layernorm_backward(View din, float* dweight, float* dbias, ConstView dout, ConstView in,
                                    const float* weight, const float* mean, const float* rstd, size_t N, size_t C,
                                    bool accumulate) {
  size_t chunks = chunk_count(N, kRowGrain);
  std::vector<float> partial(chunks * 2 * C, 0.0f);  // per chunk: dweight, then dbias
  for_each_chunk(N, chunks, [&](size_t k, size_t n0, size_t n1) {
    float* dw = partial.data() + k * 2 * C;
    typed(din, [&](auto* dx) {
      typed(dout, [&](auto* dy) {
        typed(in, [&](auto* x) { layernorm_backward_rows(dx, dw, dw + C, dy, x, weight, mean, rstd, n0, n1, C); });
      });
    });
  });
  for (size_t c = 0; c < C; ++c) {
    float dw = 0.0f, db = 0.0f;
    for (size_t k = 0; k < chunks; ++k) {
      dw += partial[k * 2 * C + c];
      db += partial[k * 2 * C + C + c];
    }
    dweight[c] = dw + (accumulate ? dweight[c] : 0.0f);
    if (dbias) dbias[c] = db + (accumulate ? dbias[c] : 0.0f);
  }
}

}  // namespace rm
