// The element-wise CUDA kernels as plain C++: each kernel's body, one struct whose call handles
// index i, and the grid-stride mapping that hands a launch's threads their indices. The GPU runs
// these through element_kernel (cuda_common.cuh); native/tools/emulated_kernels.cc runs the same
// structs through the same mapping on the CPU (every index once, values against the reference
// kernels). Kernels whose threads cooperate (reductions, attention, layer norm, cross-entropy)
// have headers of their own in warp_primitives.cuh's names, which native/tools/warp_emulation.h
// runs on the CPU.
//
// The per-element math is core/math.h's and precision.h's, the functions the CPU loops call.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "../../core/math.h"
#include "../../precision/precision.h"

namespace rm::elements {

constexpr unsigned kThreads = 256;      // per block
constexpr unsigned kMaxBlocks = 16384;  // beyond this many blocks, threads take several indices each

struct LaunchShape {
  unsigned blocks;
  unsigned threads;
};

/** The launch shape for n indices: enough blocks to give each thread one, up to kMaxBlocks. */
inline LaunchShape launch_shape(size_t n) {
  return {unsigned(std::min<size_t>((n + kThreads - 1) / kThreads, kMaxBlocks)), kThreads};
}

/** Thread `thread` of block `block`, in a grid of `blocks` blocks of `threads`, handles these indices. */
template <class Body>
RM_HD void grid_stride(const Body& body, size_t n, size_t block, size_t threads, size_t thread, size_t blocks) {
  for (size_t i = block * threads + thread; i < n; i += blocks * threads) body(i);
}

RM_HD float rounded(float x, Precision p) {
  return p == Precision::BF16 ? round_to_bf16(x) : p == Precision::F16 ? round_to_fp16(x) : x;
}

struct ReluForward {
  float* out;
  const float* in;
  RM_HD void operator()(size_t i) const { out[i] = relu(in[i]); }
};

struct ReluBackward {
  float* din;
  const float* dout;
  const float* out;
  RM_HD void operator()(size_t i) const { din[i] = dout[i] * relu_grad(out[i]); }
};

struct GeluForward {
  float* out;
  const float* in;
  RM_HD void operator()(size_t i) const { out[i] = gelu(in[i]); }
};

struct GeluBackward {
  float* din;
  const float* dout;
  const float* in;
  RM_HD void operator()(size_t i) const { din[i] = dout[i] * gelu_grad(in[i]); }
};

// Activations in fp32 or 16 bits (Elements): a residual stream and a branch, a gradient and one
// joining it.
struct Residual {
  Elements out, a, b;
  RM_HD void operator()(size_t i) const { out.set(i, a.get(i) + b.get(i)); }
};

struct AddInto {
  Elements dst, src;
  RM_HD void operator()(size_t i) const { dst.set(i, dst.get(i) + src.get(i)); }
};

/** dst = src, each fp32 or 16-bit: activations in and out of kernels that take fp32. */
struct Convert {
  Elements dst, src;
  RM_HD void operator()(size_t i) const { dst.set(i, src.get(i)); }
};

/** A product's GELU where cuBLASLt's epilogue cannot: its input pre = x and out = gelu(x), x fp32. */
struct GeluKeepInput {
  Elements out, pre;
  const float* x;
  RM_HD void operator()(size_t i) const {
    pre.set(i, x[i]);
    out.set(i, gelu(x[i]));
  }
};

/** The gradient through a GELU where cuBLASLt's DGELU cannot: dpre = g · gelu'(pre), g fp32. */
struct GeluGradientOf {
  Elements dpre;
  const float* g;
  Elements pre;
  RM_HD void operator()(size_t i) const { dpre.set(i, g[i] * gelu_grad(pre.get(i))); }
};

/** Window tap k (row-major 0 1 / 2 3) of 2×2 max-pool output (b, oy, ox, c), channels-last, as the CPU kernels index it. */
RM_HD size_t pool_tap(size_t k, size_t b, size_t oy, size_t ox, size_t c, size_t H, size_t W, size_t C) {
  return ((b * H + 2 * oy + k / 2) * W + 2 * ox + k % 2) * C + c;
}

/** Index o: output o of the 2×2 max-pool, B·(H/2)·(W/2)·C of them. */
struct MaxpoolForward {
  float* out;
  const float* in;
  size_t B, H, W, C;
  RM_HD void operator()(size_t o) const {
    size_t OH = H / 2, OW = W / 2;
    size_t c = o % C, ox = (o / C) % OW, oy = (o / (C * OW)) % OH, b = o / (C * OW * OH);
    float m = in[pool_tap(0, b, oy, ox, c, H, W, C)];
    for (size_t k = 1; k < 4; ++k) m = fmaxf(m, in[pool_tap(k, b, oy, ox, c, H, W, C)]);
    out[o] = m;
  }
};

/** Index o: the four input gradients of output o's window, as maxpool_window_grad routes them. */
struct MaxpoolBackward {
  float* din;
  const float* dout;
  const float* in;
  const float* out;
  size_t B, H, W, C;
  bool relu_input;
  RM_HD void operator()(size_t o) const {
    size_t OH = H / 2, OW = W / 2;
    size_t c = o % C, ox = (o / C) % OW, oy = (o / (C * OW)) % OH, b = o / (C * OW * OH);
    float taps[4], grads[4];
    for (size_t k = 0; k < 4; ++k) taps[k] = in[pool_tap(k, b, oy, ox, c, H, W, C)];
    maxpool_window_grad(grads, taps, out[o], dout[o], relu_input);
    for (size_t k = 0; k < 4; ++k) din[pool_tap(k, b, oy, ox, c, H, W, C)] = grads[k];
  }
};

/** Index i over all B·H·W·C inputs: the rows and columns an odd height or width leaves outside every window get no gradient. */
struct MaxpoolEdges {
  float* din;
  size_t B, H, W, C;
  RM_HD void operator()(size_t i) const {
    size_t x = (i / C) % W, y = (i / (C * W)) % H;
    if (y >= H / 2 * 2 || x >= W / 2 * 2) din[i] = 0.0f;
  }
};

/** Channels-last [B, HW, C] to the channels-first rows [B, C·HW] a Linear layer reads. */
struct FlattenForward {
  float* out;
  const float* in;
  size_t B, HW, C;
  RM_HD void operator()(size_t i) const {
    size_t c = i % C, p = (i / C) % HW, b = i / (C * HW);
    out[(b * C + c) * HW + p] = in[i];
  }
};

struct FlattenBackward {
  float* din;
  const float* dout;
  size_t B, HW, C;
  RM_HD void operator()(size_t i) const {
    size_t c = i % C, p = (i / C) % HW, b = i / (C * HW);
    din[i] = dout[(b * C + c) * HW + p];
  }
};

struct EmbeddingForward {
  float* out;
  const int32_t* tokens;
  const float* wte;
  const float* wpe;
  size_t T, C;
  RM_HD void operator()(size_t i) const {
    size_t c = i % C, bt = i / C, t = bt % T;
    out[i] = wte[size_t(tokens[bt]) * C + c] + wpe[t * C + c];
  }
};

/** Index i over T·C: position t's gradient, the batch's rows added in order (onto the old value when accumulating), as the CPU adds them. */
struct EmbeddingPositionGrad {
  float* dwpe;
  const float* dout;
  size_t B, T, C;
  bool accumulate;
  RM_HD void operator()(size_t i) const {
    float s = accumulate ? dwpe[i] : 0.0f;
    for (size_t b = 0; b < B; ++b) s += dout[b * T * C + i];
    dwpe[i] = s;
  }
};

/** Channel c of the token embedding's gradient: every position in order adds its row to its token's (rows of absent tokens were zeroed before). */
struct EmbeddingTokenGrad {
  float* dwte;
  const float* dout;
  const int32_t* tokens;
  size_t N, C;
  RM_HD void operator()(size_t c) const {
    for (size_t n = 0; n < N; ++n) dwte[size_t(tokens[n]) * C + c] += dout[n * C + c];
  }
};

/** Column o0 + i of dout[N, OUT] summed over the rows in order (onto dbias when accumulating): a bias gradient. */
struct ColumnSums {
  float* dbias;
  Elements dout;
  size_t N, OUT, o0;
  bool accumulate;
  RM_HD void operator()(size_t i) const {
    size_t o = o0 + i;
    float s = 0.0f;
    for (size_t n = 0; n < N; ++n) s += dout.get(n * OUT + o);
    dbias[o] = accumulate ? dbias[o] + s : s;
  }
};

/** Channel c's LayerNorm weight and bias gradients (either may be null), the rows summed in order. */
struct LayerNormParamGrad {
  float* dweight;
  float* dbias;
  Elements dout, in;
  const float* mean;
  const float* rstd;
  size_t N, C;
  bool accumulate;
  RM_HD void operator()(size_t c) const {
    float dw = 0.0f, db = 0.0f;
    for (size_t n = 0; n < N; ++n) {
      float g = dout.get(n * C + c);
      dw += g * (in.get(n * C + c) - mean[n]) * rstd[n];
      db += g;
    }
    if (dweight) dweight[c] = accumulate ? dweight[c] + dw : dw;
    if (dbias) dbias[c] = accumulate ? dbias[c] + db : db;
  }
};

/** Row (b, y, x) of col: the 3×3 window around (y, x) for every input channel, ordered (ic, kh, kw); zero outside. */
struct Im2col {
  float* col;
  const float* in;
  size_t H, W, IC;
  RM_HD void operator()(size_t i) const {
    size_t K = IC * 9, row = i / K, j = i % K;
    size_t ic = j / 9, kh = (j % 9) / 3, kw = j % 3;
    size_t x = row % W, y = (row / W) % H, b = row / (W * H);
    long yy = long(y) + long(kh) - 1, xx = long(x) + long(kw) - 1;
    bool inside = yy >= 0 && yy < long(H) && xx >= 0 && xx < long(W);
    col[i] = inside ? in[((b * H + size_t(yy)) * W + size_t(xx)) * IC + ic] : 0.0f;
  }
};

/** Input (b, y, x, ic)'s gradient: its nine taps summed in a fixed order (a gather: no atomics). */
struct Col2im {
  float* din;
  const float* dcol;
  size_t H, W, IC;
  RM_HD void operator()(size_t i) const {
    size_t K = IC * 9;
    size_t ic = i % IC, x = (i / IC) % W, y = (i / (IC * W)) % H, b = i / (IC * W * H);
    float s = 0.0f;
    for (size_t kh = 0; kh < 3; ++kh)
      for (size_t kw = 0; kw < 3; ++kw) {
        long oy = long(y) - long(kh) + 1, ox = long(x) - long(kw) + 1;  // the output whose window puts (kh, kw) here
        if (oy < 0 || oy >= long(H) || ox < 0 || ox >= long(W)) continue;
        size_t row = (b * H + size_t(oy)) * W + size_t(ox);
        s += dcol[row * K + ic * 9 + kh * 3 + kw];
      }
    din[i] = s;
  }
};

struct Round {
  float* x;
  Precision p;
  RM_HD void operator()(size_t i) const { x[i] = rounded(x[i], p); }
};

/** A bf16 or fp16 value held in fp32, as its 16 bits: the operands of 16-bit matrix products. */
struct ToHalf {
  uint16_t* dst;
  const float* src;
  Precision p;  // BF16 or F16
  RM_HD void operator()(size_t i) const {
    float r = rounded(src[i], p);  // a no-op on values the layers already rounded
    dst[i] = p == Precision::BF16 ? bf16_bits(r) : fp16_bits(r);
  }
};

/** One AdamW update of parameter i, and its rounded copy when `low` is set. */
struct AdamWStep {
  float* p;
  float* m;
  float* v;
  const float* g;
  float* low;
  float grad_scale;
  AdamWCoefficients c;
  Precision low_precision;
  RM_HD void operator()(size_t i) const {
    float pi = p[i], mi = m[i], vi = v[i];
    adamw_update(pi, mi, vi, g[i] * grad_scale, c);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
    if (low) low[i] = rounded(pi, low_precision);
  }
};

struct SgdStep {
  float* p;
  float* b;
  const float* g;
  float* low;
  float grad_scale;
  SgdCoefficients c;
  Precision low_precision;
  RM_HD void operator()(size_t i) const {
    float pi = p[i], bi = b[i];
    sgd_update(pi, bi, g[i] * grad_scale, c);
    p[i] = pi;
    b[i] = bi;
    if (low) low[i] = rounded(pi, low_precision);
  }
};

}  // namespace rm::elements
