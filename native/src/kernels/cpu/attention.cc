// Causal self-attention on oneDNN's batched matmuls: for a chunk of sequences at once, the
// scores of every head are one matmul over (batch, head) with q, k and v read in place from qkv
// through strides, the causal softmax is a vectorised pass over each head's tile, and y = P·v is
// a second matmul writing y in place. Backward recomputes P from the saved log-sum-exp (flash
// attention's trick) and runs dv = Pᵀ·dy, dP = dy·vᵀ, dq = dS·k, dk = dSᵀ·q the same way. The
// T×T tiles hold Sᵀ (and Pᵀ, dPᵀ, dSᵀ), the softmax passes' layout (softmax_group). They exist
// only for the sequences of the chunk in flight, in a per-thread workspace capped at
// kWorkspaceFloats; nothing of size B·H·T² is kept between calls.
//
// The matmuls compute all T×T scores, masked ones included: a dense product at matmul speed
// beats skipping half of it in scalar loops at these sizes.
//
// The bf16 kernels run the products on bf16 operands with fp32 accumulation, as the CUDA flash
// kernels do: q, k, v (and dy) are packed per head into dense bf16 tiles (oneDNN's bf16 products
// run 1.5-1.7× faster on those than on the strided fp32 views), and P and dS are rounded to bf16
// after the softmax passes; the scores, the softmax and dS are computed in fp32. They read and
// write fp32 or bf16 activations (a model's 16-bit activations: q, k, v and dy are then copied,
// not converted, and y and dq, dk, dv are written in bf16 by the products). A bf16 model on a CPU
// with AVX-512-BF16 takes attention_bf16.h's kernels instead, where T and the head size are
// multiples of 16: the same numerics, one head at a time in cache, about 2× faster than these.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../../core/math.h"
#include "../../core/parallel.h"
#include "../../precision/bf16_convert.h"
#include "../../precision/precision.h"
#include "activation_elements.h"
#include "attention_bf16.h"
#include "attention_tiles.h"
#include "cpu_kernels.h"
#include "dnnl_context.h"
#include "fixed_order_sum.h"

namespace rm {

using dnnl::memory;

namespace {

constexpr size_t kWorkspaceFloats = size_t(4) << 20;  // 16 MiB for both T×T tiles of a chunk

memory::desc strided(memory::dims dims, memory::dims strides, memory::data_type type = memory::data_type::f32) {
  return memory::desc(dims, type, strides);
}

#define RM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

RM_CLONES void softmax_tile(float* tile, float* lse, size_t T, float scale) { softmax_lanes(tile, lse, T, scale); }

RM_CLONES void softmax_backward_tile(float* p, float* dp, const float* lse, const float* delta, size_t T, float scale) {
  softmax_backward_lanes(p, dp, lse, delta, T, scale);
}

// Rows [r0, r1) of b sequences' (seq, t) positions: each head's D values at src + (seq·T + t)·ld
// + h·D (fp32, or bf16), in bf16 into dst[seq][h][t][D].
template <class Src>
RM_CLONES void pack_heads(uint16_t* dst, const Src* src, size_t r0, size_t r1, size_t T, size_t H, size_t D, size_t ld) {
  for (size_t r = r0; r < r1; ++r) {
    size_t seq = r / T, t = r % T;
    for (size_t h = 0; h < H; ++h) {
      const Src* from = src + r * ld + h * D;
      uint16_t* to = dst + ((seq * H + h) * T + t) * D;
      if constexpr (std::is_same<Src, uint16_t>::value) std::memcpy(to, from, D * sizeof(uint16_t));
      else for (size_t d = 0; d < D; ++d) to[d] = bf16_bits_rounded(from[d]);
    }
  }
}

// δ = dy · y over each head's D values of rows [r0, r1) of a chunk (row r = sequence r / T,
// position r % T; head h at h·D), into delta[(seq·H + h)·T + t]: the rows read in order, as they
// lie (head by head, y's cache lines arrived one per row, cold: 4× slower).
template <class A, class B>
RM_CLONES void row_deltas(float* delta, const A* dy, const B* y, size_t r0, size_t r1, size_t T, size_t H, size_t D) {
  size_t C = H * D;
  for (size_t r = r0; r < r1; ++r)
    for (size_t h = 0; h < H; ++h) {
      const A* a = dy + r * C + h * D;
      const B* b = y + r * C + h * D;
      delta[(r / T * H + h) * T + r % T] = fixed_order_sum(D, [&](size_t i) { return load(a[i]) * load(b[i]); });
    }
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

// What the products of one chunk read: q, k, v and dy (fp32: in place in qkv and dout; bf16:
// packed per head), and the probabilities P and their gradient dS as the products take them
// (fp32: the softmax passes' rows; bf16: copies of those rows rounded to bf16).
struct Operands {
  const void *q, *k, *v, *dy;
  void *p, *ds;
};

// The bf16 operands of b sequences in a per-thread workspace, q, k, v (and dy, when given) packed.
Operands packed(ConstView x, ConstView dy, size_t b, size_t T, size_t C, size_t H) {
  thread_local std::vector<uint16_t> w;
  size_t heads = b * T * C, tiles = b * H * T * T, D = C / H;
  if (w.size() < 4 * heads + 2 * tiles) w.resize(4 * heads + 2 * tiles);
  uint16_t *q = w.data(), *k = q + heads, *v = k + heads, *dyp = v + heads, *p = dyp + heads, *ds = p + tiles;
  parallel_for(b * T, 64, [&](size_t r0, size_t r1) {
    typed(x, [&](auto* qkv) {
      pack_heads(q, qkv, r0, r1, T, H, D, 3 * C);
      pack_heads(k, qkv + C, r0, r1, T, H, D, 3 * C);
      pack_heads(v, qkv + 2 * C, r0, r1, T, H, D, 3 * C);
    });
    if (dy) typed(dy, [&](auto* g) { pack_heads(dyp, g, r0, r1, T, H, D, C); });
  });
  return {q, k, v, dyp, p, ds};
}

// bf16 q, k, v (and dy) read in place: only the P and dS tiles in a per-thread workspace.
Operands in_place(ConstView x, ConstView dy, size_t b, size_t T, size_t C, size_t H) {
  thread_local std::vector<uint16_t> w;
  size_t tiles = b * H * T * T;
  if (w.size() < 2 * tiles) w.resize(2 * tiles);
  const uint16_t* qkv = x.bf16();
  return {qkv, qkv + C, qkv + 2 * C, dy ? dy.bf16() : nullptr, w.data(), w.data() + tiles};
}

}  // namespace

// The matmuls of one chunk of b sequences, T long, C channels in H heads of D. fp32: q, k, v read
// in place from qkv (and dq, dk, dv written there) through strides. bf16: the products read the
// packed bf16 tiles of packed() and write out and dqkv in fp32 [0] or bf16 [1].
struct CpuKernels::Attention {
  memory::desc q, k, v, dy;  // the products' operands (k and v also as sources)
  memory::desc qt, dyt;      // qᵀ and dyᵀ as weights
  memory::desc s, p, pt;     // the fp32 T×T tiles; P and dS as the products read them, and transposed
  memory::desc y[2], grad[2];  // the output; dq, dk, dv in dqkv: [bf16]

  dnnl::matmul scores, dprobs;
  dnnl::matmul values[2], dvalues[2], dqueries[2], dkeys[2];  // [bf16 destination]

  Attention(size_t b, size_t T, size_t C, size_t H, bool bf16, bool in_place16) {
    using dt = memory::data_type;
    memory::dim B = memory::dim(b), t = memory::dim(T), c = memory::dim(C), h = memory::dim(H), d = c / h;
    memory::desc qkv = strided({B, h, t, d}, {t * 3 * c, d, 3 * c, 1}), qkv_t = strided({B, h, d, t}, {t * 3 * c, d, 1, 3 * c});
    memory::desc heads = strided({B, h, t, d}, {h * t * d, t * d, d, 1}, dt::bf16), heads_t = strided({B, h, d, t}, {h * t * d, t * d, 1, d}, dt::bf16);
    memory::desc out = strided({B, h, t, d}, {t * c, d, c, 1}), out_t = strided({B, h, d, t}, {t * c, d, 1, c});
    memory::desc tiles = strided({B, h, t, t}, {h * t * t, t * t, t, 1}), tiles_t = strided({B, h, t, t}, {h * t * t, t * t, 1, t});
    y[0] = out;
    grad[0] = qkv;
    y[1] = strided({B, h, t, d}, {t * c, d, c, 1}, dt::bf16);
    grad[1] = strided({B, h, t, d}, {t * 3 * c, d, 3 * c, 1}, dt::bf16);
    s = tiles;
    if (in_place16) {
      q = k = v = strided({B, h, t, d}, {t * 3 * c, d, 3 * c, 1}, dt::bf16);
      qt = strided({B, h, d, t}, {t * 3 * c, d, 1, 3 * c}, dt::bf16);
      dy = y[1];
      dyt = strided({B, h, d, t}, {t * c, d, 1, c}, dt::bf16);
    } else if (bf16) {
      q = k = v = dy = heads;
      qt = dyt = heads_t;
    }
    if (bf16) {
      p = strided({B, h, t, t}, {h * t * t, t * t, t, 1}, dt::bf16);
      pt = strided({B, h, t, t}, {h * t * t, t * t, 1, t}, dt::bf16);
    } else {
      q = k = v = qkv;
      qt = qkv_t;
      dy = out;
      dyt = out_t;
      p = tiles;
      pt = tiles_t;
    }
    auto& e = cpu_engine();
    // The T×T tiles hold Sᵀ, Pᵀ, dPᵀ and dSᵀ (the softmax passes' layout: a key's scores for every
    // query side by side): the products compute Sᵀ = k·qᵀ and dPᵀ = v·dyᵀ as they lie, read P and
    // dS transposed (pt) and Pᵀ and dSᵀ as they lie (p). (oneDNN writes a transposed destination
    // far slower than it reads a transposed source.)
    scores = dnnl::matmul({{k, qt, s}, e});
    dprobs = dnnl::matmul({{v, dyt, s}, e});
    for (int kind = 0; kind <= int(bf16); ++kind) {
      values[kind] = dnnl::matmul({{pt, v, y[kind]}, e});
      dvalues[kind] = dnnl::matmul({{p, dy, grad[kind]}, e});
      dqueries[kind] = dnnl::matmul({{pt, k, grad[kind]}, e});
      dkeys[kind] = dnnl::matmul({{p, q, grad[kind]}, e});
    }
  }
};

CpuKernels::Attention& CpuKernels::attention(size_t b, size_t T, size_t C, size_t H, bool in_place16) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = attentions_[{omp_get_max_threads(), b, T, C, H, in_place16}];
  if (!slot) slot = std::make_shared<Attention>(b, T, C, H, bf16_, in_place16);
  return *slot;
}

// Sequences per chunk: as many as fit both T×T tiles of every head in the workspace.
static size_t chunk_of(size_t B, size_t T, size_t H) { return std::max<size_t>(1, std::min(B, kWorkspaceFloats / (2 * H * T * T))); }

static memory at(const memory::desc& d, const void* p) { return memory(d, cpu_engine(), const_cast<void*>(p)); }

void CpuKernels::attention_forward(View out, float* lse, ConstView qkv, size_t B, size_t T, size_t C, size_t H) {
  if (!qkv.is_f32() && !out.is_f32() && fused_bf16_attention_fits(T, C / H))
    return fused_bf16_attention_forward(out.bf16(), lse, qkv.bf16(), B, T, C, H);
  size_t D = C / H, chunk = chunk_of(B, T, H), tile = T * T;
  float scale = 1.0f / std::sqrt(float(D));
  float* s = workspace(2 * chunk * H * tile).data();
  int kind = destination_kind(out);
  for (size_t b0 = 0; b0 < B; b0 += chunk) {
    size_t b = std::min(chunk, B - b0);
    bool in_place16 = !qkv.is_f32();
    Attention& a = attention(b, T, C, H, in_place16);
    ConstView x = qkv.at(b0 * T * 3 * C);
    float* l = lse + b0 * H * T;
    Operands o = in_place16 ? in_place(x, nullptr, b, T, C, H)
                 : bf16_    ? packed(x, nullptr, b, T, C, H)
                            : Operands{x.f32(), x.f32() + C, x.f32() + 2 * C, nullptr, s, nullptr};
    a.scores.execute(cpu_stream(), {{DNNL_ARG_SRC, at(a.k, o.k)}, {DNNL_ARG_WEIGHTS, at(a.qt, o.q)}, {DNNL_ARG_DST, at(a.s, s)}});
    uint16_t* p16 = static_cast<uint16_t*>(o.p);
    parallel_for(b * H, 1, [&](size_t h0, size_t h1) {
      for (size_t h = h0; h < h1; ++h) {
        softmax_tile(s + h * tile, l + h * T, T, scale);
        if (bf16_) bf16_narrow(p16 + h * tile, s + h * tile, tile);
      }
    });
    a.values[kind].execute(cpu_stream(),
                           {{DNNL_ARG_SRC, at(a.pt, o.p)}, {DNNL_ARG_WEIGHTS, at(a.v, o.v)}, {DNNL_ARG_DST, at(a.y[kind], out.at(b0 * T * C).data())}});
  }
}

void CpuKernels::attention_backward(View dqkv, ConstView dout, ConstView qkv, ConstView out, const float* lse, size_t B,
                                    size_t T, size_t C, size_t H) {
  if (!dqkv.is_f32() && !dout.is_f32() && !qkv.is_f32() && !out.is_f32() && fused_bf16_attention_fits(T, C / H))
    return fused_bf16_attention_backward(dqkv.bf16(), dout.bf16(), qkv.bf16(), out.bf16(), lse, B, T, C, H);
  size_t D = C / H, chunk = chunk_of(B, T, H), tile = T * T;
  float scale = 1.0f / std::sqrt(float(D));
  float* p = workspace(2 * chunk * H * tile).data();
  float* dp = p + chunk * H * tile;
  auto& st = cpu_stream();
  int kind = destination_kind(dqkv);
  thread_local std::vector<float> deltas;  // δ of every head's rows in the chunk, reused call after call
  deltas.resize(chunk * H * T);
  float* delta = deltas.data();  // (the name of a thread_local would be another thread's inside parallel_for)
  for (size_t b0 = 0; b0 < B; b0 += chunk) {
    size_t b = std::min(chunk, B - b0);
    bool in_place16 = !qkv.is_f32() && !dout.is_f32();
    Attention& a = attention(b, T, C, H, in_place16);
    ConstView x = qkv.at(b0 * T * 3 * C), dy = dout.at(b0 * T * C), y = out.at(b0 * T * C);
    View dx = dqkv.at(b0 * T * 3 * C);
    const float* l = lse + b0 * H * T;
    Operands o = in_place16 ? in_place(x, dy, b, T, C, H)
                 : bf16_    ? packed(x, dy, b, T, C, H)
                            : Operands{x.f32(), x.f32() + C, x.f32() + 2 * C, dy.f32(), p, dp};
    a.scores.execute(st, {{DNNL_ARG_SRC, at(a.k, o.k)}, {DNNL_ARG_WEIGHTS, at(a.qt, o.q)}, {DNNL_ARG_DST, at(a.s, p)}});
    a.dprobs.execute(st, {{DNNL_ARG_SRC, at(a.v, o.v)}, {DNNL_ARG_WEIGHTS, at(a.dyt, o.dy)}, {DNNL_ARG_DST, at(a.s, dp)}});
    uint16_t *p16 = static_cast<uint16_t*>(o.p), *ds16 = static_cast<uint16_t*>(o.ds);
    parallel_for(b * T, 64, [&](size_t r0, size_t r1) {
      typed(dy, [&](auto* g) { typed(y, [&](auto* v) { row_deltas(delta, g, v, r0, r1, T, H, D); }); });
    });
    parallel_for(b * H, 1, [&](size_t h0, size_t h1) {
      for (size_t bh = h0; bh < h1; ++bh) {
        softmax_backward_tile(p + bh * tile, dp + bh * tile, l + bh * T, delta + bh * T, T, scale);
        if (bf16_) {
          bf16_narrow(p16 + bh * tile, p + bh * tile, tile);
          bf16_narrow(ds16 + bh * tile, dp + bh * tile, tile);
        }
      }
    });
    a.dvalues[kind].execute(st, {{DNNL_ARG_SRC, at(a.p, o.p)}, {DNNL_ARG_WEIGHTS, at(a.dy, o.dy)}, {DNNL_ARG_DST, at(a.grad[kind], dx.at(2 * C).data())}});
    a.dqueries[kind].execute(st, {{DNNL_ARG_SRC, at(a.pt, o.ds)}, {DNNL_ARG_WEIGHTS, at(a.k, o.k)}, {DNNL_ARG_DST, at(a.grad[kind], dx.data())}});
    a.dkeys[kind].execute(st, {{DNNL_ARG_SRC, at(a.p, o.ds)}, {DNNL_ARG_WEIGHTS, at(a.q, o.q)}, {DNNL_ARG_DST, at(a.grad[kind], dx.at(C).data())}});
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
