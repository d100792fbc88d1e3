// Causal self-attention on oneDNN's batched matmuls: for a chunk of sequences at once, the
// scores S = q·kᵀ of every head are one matmul over (batch, head) with q, k and v read in place
// from qkv through strides, the causal softmax is a vectorised pass over the rows, and y = P·v
// is a second matmul writing y in place. Backward recomputes P from the saved log-sum-exp
// (flash attention's trick) and runs dv = Pᵀ·dy, dP = dy·vᵀ, dq = dS·k, dk = dSᵀ·q the same
// way. The T×T tiles exist only for the sequences of the chunk in flight, in a per-thread
// workspace capped at kWorkspaceFloats; nothing of size B·H·T² is kept between calls.
//
// The matmuls compute all T×T scores, masked ones included: a dense product at matmul speed
// beats skipping half of it in scalar loops at these sizes.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../../core/math.h"
#include "../../core/parallel.h"
#include "cpu_kernels.h"
#include "dnnl_context.h"
#include "fixed_order_sum.h"

namespace rm {

using dnnl::memory;

namespace {

constexpr size_t kWorkspaceFloats = size_t(4) << 20;  // 16 MiB for both T×T tiles of a chunk

memory::desc strided(memory::dims dims, memory::dims strides) { return memory::desc(dims, memory::data_type::f32, strides); }

#define RM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

// One row t of scores → probabilities: p_j = exp(s_j·scale − max) / Σ for j ≤ t, 0 after;
// returns log Σ_j exp(s_j·scale).
RM_CLONES float softmax_row(float* row, size_t t, size_t T, float scale) {
  float max = -INFINITY;
#pragma omp simd reduction(max : max)
  for (size_t j = 0; j <= t; ++j) max = std::max(max, row[j] * scale);
  for (size_t j = 0; j <= t; ++j) row[j] = exp_fast(row[j] * scale - max);
  float sum = fixed_order_sum(t + 1, [&](size_t j) { return row[j]; });
  float inv = 1.0f / sum;
  for (size_t j = 0; j <= t; ++j) row[j] *= inv;
  for (size_t j = t + 1; j < T; ++j) row[j] = 0.0f;
  return max + std::log(sum);
}

// Backward of one row: p (scores in, probabilities out) = exp(s·scale − lse) for j ≤ t;
// ds = p·(dp − dy·y)·scale (into dp); both 0 after t.
RM_CLONES void softmax_row_backward(float* p, float* dp, size_t t, size_t T, float scale, float lse, float dy_y) {
  for (size_t j = 0; j <= t; ++j) {
    p[j] = exp_fast(p[j] * scale - lse);
    dp[j] = p[j] * (dp[j] - dy_y) * scale;
  }
  for (size_t j = t + 1; j < T; ++j) p[j] = dp[j] = 0.0f;
}

RM_CLONES float dot(const float* a, const float* b, size_t n) {
  return fixed_order_sum(n, [&](size_t i) { return a[i] * b[i]; });
}

RM_CLONES void exp_shifted(float* row, size_t n, float shift) {
  for (size_t j = 0; j < n; ++j) row[j] = exp_fast(row[j] - shift);
}

#undef RM_CLONES

float row_max(const float* row, size_t n) {
  float m = row[0];
  for (size_t j = 1; j < n; ++j) m = std::max(m, row[j]);
  return m;
}

// The per-thread T×T tiles: two of them, for the chunk in flight.
std::vector<float>& workspace(size_t floats) {
  thread_local std::vector<float> w;
  if (w.size() < floats) w.resize(floats);
  return w;
}

}  // namespace

// The matmuls of one chunk of b sequences, T long, C channels in H heads of D.
struct CpuKernels::Attention {
  memory::desc q, k, kt, v, vt, s, st, y;  // q, k, v (and kᵀ, vᵀ) read from qkv; dq, dk, dv write there alike
  dnnl::matmul scores, values, dvalues, dprobs, dqueries, dkeys;

  Attention(size_t b, size_t T, size_t C, size_t H) {
    memory::dim B = memory::dim(b), t = memory::dim(T), c = memory::dim(C), h = memory::dim(H), d = c / h;
    q = k = v = strided({B, h, t, d}, {t * 3 * c, d, 3 * c, 1});
    kt = vt = strided({B, h, d, t}, {t * 3 * c, d, 1, 3 * c});
    s = strided({B, h, t, t}, {h * t * t, t * t, t, 1});
    st = strided({B, h, t, t}, {h * t * t, t * t, 1, t});
    y = strided({B, h, t, d}, {t * c, d, c, 1});
    auto& e = cpu_engine();
    scores = dnnl::matmul({{q, kt, s}, e});
    values = dnnl::matmul({{s, v, y}, e});
    dvalues = dnnl::matmul({{st, y, v}, e});
    dprobs = dnnl::matmul({{y, vt, s}, e});
    dqueries = dnnl::matmul({{s, k, q}, e});
    dkeys = dnnl::matmul({{st, q, k}, e});
  }
};

CpuKernels::Attention& CpuKernels::attention(size_t b, size_t T, size_t C, size_t H) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = attentions_[{omp_get_max_threads(), b, T, C, H}];
  if (!slot) slot = std::make_shared<Attention>(b, T, C, H);
  return *slot;
}

// Sequences per chunk: as many as fit both T×T tiles of every head in the workspace.
static size_t chunk_of(size_t B, size_t T, size_t H) { return std::max<size_t>(1, std::min(B, kWorkspaceFloats / (2 * H * T * T))); }

static memory at(const memory::desc& d, const float* p) { return memory(d, cpu_engine(), const_cast<float*>(p)); }

void CpuKernels::attention_forward(float* out, float* lse, const float* qkv, size_t B, size_t T, size_t C, size_t H) {
  size_t D = C / H, chunk = chunk_of(B, T, H);
  float scale = 1.0f / std::sqrt(float(D));
  float* s = workspace(2 * chunk * H * T * T).data();
  for (size_t b0 = 0; b0 < B; b0 += chunk) {
    size_t b = std::min(chunk, B - b0);
    Attention& a = attention(b, T, C, H);
    const float* x = qkv + b0 * T * 3 * C;
    a.scores.execute(cpu_stream(), {{DNNL_ARG_SRC, at(a.q, x)}, {DNNL_ARG_WEIGHTS, at(a.kt, x + C)}, {DNNL_ARG_DST, at(a.s, s)}});
    float* l = lse + b0 * H * T;
    parallel_for(b * H * T, 64, [&](size_t r0, size_t r1) {
      for (size_t r = r0; r < r1; ++r) l[r] = softmax_row(s + r * T, r % T, T, scale);
    });
    a.values.execute(cpu_stream(), {{DNNL_ARG_SRC, at(a.s, s)}, {DNNL_ARG_WEIGHTS, at(a.v, x + 2 * C)}, {DNNL_ARG_DST, at(a.y, out + b0 * T * C)}});
  }
}

void CpuKernels::attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out,
                                    const float* lse, size_t B, size_t T, size_t C, size_t H) {
  size_t D = C / H, chunk = chunk_of(B, T, H);
  float scale = 1.0f / std::sqrt(float(D));
  float* p = workspace(2 * chunk * H * T * T).data();
  float* dp = p + chunk * H * T * T;
  auto& st = cpu_stream();
  for (size_t b0 = 0; b0 < B; b0 += chunk) {
    size_t b = std::min(chunk, B - b0);
    Attention& a = attention(b, T, C, H);
    const float* x = qkv + b0 * T * 3 * C;
    const float* dy = dout + b0 * T * C;
    const float* y = out + b0 * T * C;
    float* dx = dqkv + b0 * T * 3 * C;
    a.scores.execute(st, {{DNNL_ARG_SRC, at(a.q, x)}, {DNNL_ARG_WEIGHTS, at(a.kt, x + C)}, {DNNL_ARG_DST, at(a.s, p)}});
    a.dprobs.execute(st, {{DNNL_ARG_SRC, at(a.y, dy)}, {DNNL_ARG_WEIGHTS, at(a.vt, x + 2 * C)}, {DNNL_ARG_DST, at(a.s, dp)}});
    const float* l = lse + b0 * H * T;
    parallel_for(b * H * T, 64, [&](size_t r0, size_t r1) {
      for (size_t r = r0; r < r1; ++r) {
        size_t t = r % T, h = (r / T) % H, seq = r / (T * H);
        size_t row = (seq * T + t) * C + h * D;  // this head's slice of y and dy at position t
        softmax_row_backward(p + r * T, dp + r * T, t, T, scale, l[r], dot(dy + row, y + row, D));
      }
    });
    a.dvalues.execute(st, {{DNNL_ARG_SRC, at(a.st, p)}, {DNNL_ARG_WEIGHTS, at(a.y, dy)}, {DNNL_ARG_DST, at(a.v, dx + 2 * C)}});
    a.dqueries.execute(st, {{DNNL_ARG_SRC, at(a.s, dp)}, {DNNL_ARG_WEIGHTS, at(a.k, x + C)}, {DNNL_ARG_DST, at(a.q, dx)}});
    a.dkeys.execute(st, {{DNNL_ARG_SRC, at(a.st, dp)}, {DNNL_ARG_WEIGHTS, at(a.q, x)}, {DNNL_ARG_DST, at(a.k, dx + C)}});
  }
}

// Decoding is one query per head: too little work to split across threads.
void CpuKernels::attention_step(float* out, const float* q, const float* k, const float* v, size_t t, size_t C,
                                size_t H) {
  size_t D = C / H;
  float scale = 1.0f / std::sqrt(float(D));
  std::vector<float> row(t + 1);
  for (size_t h = 0; h < H; ++h) {
    for (size_t j = 0; j <= t; ++j) {
      float s = 0.0f;
      for (size_t d = 0; d < D; ++d) s += q[h * D + d] * k[j * C + h * D + d];
      row[j] = s * scale;
    }
    float max = row_max(row.data(), t + 1);
    exp_shifted(row.data(), t + 1, max);
    float sum = 0.0f;
    for (size_t j = 0; j <= t; ++j) sum += row[j];
    float* y = out + h * D;
    for (size_t d = 0; d < D; ++d) y[d] = 0.0f;
    for (size_t j = 0; j <= t; ++j) {
      float pj = row[j] / sum;
      for (size_t d = 0; d < D; ++d) y[d] += pj * v[j * C + h * D + d];
    }
  }
}

}  // namespace rm
