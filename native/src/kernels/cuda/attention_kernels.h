// Causal multi-head attention's fp32 CUDA kernels, fused: one warp per query row walks its keys
// once with an online softmax (running maximum and sum), so no T×T matrix is ever stored; each
// row keeps its log Σ exp for backward. Backward recomputes the probabilities from it in two
// passes without atomics: one warp per query row for dq (and D_i = dout_i · out_i), then one warp
// per key row for dk and dv, walking the queries that see it. Head h occupies channels
// [h·D, (h+1)·D); a lane holds channels lane, lane + 32, … of its row (D ≤ 32·kMaxPerLane).
// Written in warp_primitives.cuh's names, so native/tools/warp_emulation.h runs this source on
// the CPU; the includer provides one of them. (bf16 and fp16 take flash_attention_kernels.h.)
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

#include "../../core/common.h"

namespace rm::attention {


constexpr int kMaxPerLane = 8;  // head size up to 256
constexpr int kWarpsPerBlock = 4;

struct Heads {
  size_t B, T, C, H, D;
  float scale;  // 1/√D
  RM_DEVICE_INLINE size_t q(size_t b, size_t t, size_t h) const { return (b * T + t) * 3 * C + h * D; }
  RM_DEVICE_INLINE size_t k(size_t b, size_t t, size_t h) const { return q(b, t, h) + C; }
  RM_DEVICE_INLINE size_t v(size_t b, size_t t, size_t h) const { return q(b, t, h) + 2 * C; }
  RM_DEVICE_INLINE size_t o(size_t b, size_t t, size_t h) const { return (b * T + t) * C + h * D; }
  RM_DEVICE_INLINE size_t row(size_t b, size_t h, size_t t) const { return (b * H + h) * T + t; }
};

// This lane's channels of a head-sized vector.
struct Lanes {
  float x[kMaxPerLane];
  RM_DEVICE_INLINE void load(const float* p, size_t D, int lane) {
    for (int i = 0; i < kMaxPerLane; ++i) {
      size_t d = lane + 32 * size_t(i);
      x[i] = d < D ? p[d] : 0.0f;
    }
  }
  RM_DEVICE_INLINE float dot(const float* p, size_t D, int lane) const {
    float s = 0.0f;
    for (int i = 0; i < kMaxPerLane; ++i) {
      size_t d = lane + 32 * size_t(i);
      if (d < D) s += x[i] * p[d];
    }
    return warp_total(s);
  }
};

// Query rows: (b, h, t) = the warp's index.
RM_KERNEL void forward_kernel(float* out, float* lse, const float* qkv, Heads a) {
  size_t w = size_t(block_index_x()) * kWarpsPerBlock + thread_index() / 32;
  int lane = thread_index() % 32;
  if (w >= a.B * a.H * a.T) return;
  size_t t = w % a.T, h = (w / a.T) % a.H, b = w / (a.T * a.H);
  Lanes q, acc{};
  q.load(qkv + a.q(b, t, h), a.D, lane);
  float m = -INFINITY, l = 0.0f;
  for (size_t j = 0; j <= t; ++j) {
    float s = q.dot(qkv + a.k(b, j, h), a.D, lane) * a.scale;
    float m_new = fmaxf(m, s), correction = expf(m - m_new), p = expf(s - m_new);
    l = l * correction + p;
    const float* v = qkv + a.v(b, j, h);
    for (int i = 0; i < kMaxPerLane; ++i) {
      size_t d = lane + 32 * size_t(i);
      acc.x[i] = acc.x[i] * correction + (d < a.D ? p * v[d] : 0.0f);
    }
    m = m_new;
  }
  float* o = out + a.o(b, t, h);
  for (int i = 0; i < kMaxPerLane; ++i) {
    size_t d = lane + 32 * size_t(i);
    if (d < a.D) o[d] = acc.x[i] / l;
  }
  if (lane == 0) lse[a.row(b, h, t)] = m + logf(l);
}

// dq_i = scale · Σ_{j≤i} p_ij (dp_ij − D_i) k_j, dp_ij = dout_i · v_j; also D_i for the key pass.
RM_KERNEL void query_grad_kernel(float* dqkv, float* delta, const float* dout, const float* qkv,
                                            const float* out, const float* lse, Heads a) {
  size_t w = size_t(block_index_x()) * kWarpsPerBlock + thread_index() / 32;
  int lane = thread_index() % 32;
  if (w >= a.B * a.H * a.T) return;
  size_t i = w % a.T, h = (w / a.T) % a.H, b = w / (a.T * a.H);
  Lanes q, g, dq{};
  q.load(qkv + a.q(b, i, h), a.D, lane);
  g.load(dout + a.o(b, i, h), a.D, lane);
  float D_i = g.dot(out + a.o(b, i, h), a.D, lane), L = lse[a.row(b, h, i)];
  for (size_t j = 0; j <= i; ++j) {
    const float* k = qkv + a.k(b, j, h);
    float p = expf(q.dot(k, a.D, lane) * a.scale - L);
    float ds = p * (g.dot(qkv + a.v(b, j, h), a.D, lane) - D_i);
    for (int x = 0; x < kMaxPerLane; ++x) {
      size_t d = lane + 32 * size_t(x);
      if (d < a.D) dq.x[x] += ds * k[d];
    }
  }
  float* dst = dqkv + a.q(b, i, h);
  for (int x = 0; x < kMaxPerLane; ++x) {
    size_t d = lane + 32 * size_t(x);
    if (d < a.D) dst[d] = dq.x[x] * a.scale;
  }
  if (lane == 0) delta[a.row(b, h, i)] = D_i;
}

// dk_j = scale · Σ_{i≥j} p_ij (dp_ij − D_i) q_i,  dv_j = Σ_{i≥j} p_ij dout_i.
RM_KERNEL void key_grad_kernel(float* dqkv, const float* dout, const float* qkv, const float* lse,
                                          const float* delta, Heads a) {
  size_t w = size_t(block_index_x()) * kWarpsPerBlock + thread_index() / 32;
  int lane = thread_index() % 32;
  if (w >= a.B * a.H * a.T) return;
  size_t j = w % a.T, h = (w / a.T) % a.H, b = w / (a.T * a.H);
  Lanes k, v, dk{}, dv{};
  k.load(qkv + a.k(b, j, h), a.D, lane);
  v.load(qkv + a.v(b, j, h), a.D, lane);
  for (size_t i = j; i < a.T; ++i) {
    const float *q = qkv + a.q(b, i, h), *g = dout + a.o(b, i, h);
    float p = expf(k.dot(q, a.D, lane) * a.scale - lse[a.row(b, h, i)]);
    float ds = p * (v.dot(g, a.D, lane) - delta[a.row(b, h, i)]);
    for (int x = 0; x < kMaxPerLane; ++x) {
      size_t d = lane + 32 * size_t(x);
      if (d < a.D) {
        dk.x[x] += ds * q[d];
        dv.x[x] += p * g[d];
      }
    }
  }
  float *dk_out = dqkv + a.k(b, j, h), *dv_out = dqkv + a.v(b, j, h);
  for (int x = 0; x < kMaxPerLane; ++x) {
    size_t d = lane + 32 * size_t(x);
    if (d < a.D) {
      dk_out[d] = dk.x[x] * a.scale;
      dv_out[d] = dv.x[x];
    }
  }
}

// Decoding: one warp per head, the query against cached rows 0..t.
RM_KERNEL void step_kernel(float* out, const float* q_all, const float* keys, const float* values, size_t t,
                                      size_t C, size_t D, float scale) {
  size_t h = size_t(block_index_x());
  int lane = thread_index();
  Lanes q, acc{};
  q.load(q_all + h * D, D, lane);
  float m = -INFINITY, l = 0.0f;
  for (size_t j = 0; j <= t; ++j) {
    float s = q.dot(keys + j * C + h * D, D, lane) * scale;
    float m_new = fmaxf(m, s), correction = expf(m - m_new), p = expf(s - m_new);
    l = l * correction + p;
    const float* v = values + j * C + h * D;
    for (int i = 0; i < kMaxPerLane; ++i) {
      size_t d = lane + 32 * size_t(i);
      acc.x[i] = acc.x[i] * correction + (d < D ? p * v[d] : 0.0f);
    }
    m = m_new;
  }
  for (int i = 0; i < kMaxPerLane; ++i) {
    size_t d = lane + 32 * size_t(i);
    if (d < D) out[h * D + d] = acc.x[i] / l;
  }
}

// The shape of B·T rows of C channels in H heads; INVALID_ARGUMENT past the widest head.
inline Heads heads(size_t B, size_t T, size_t C, size_t H) {
  size_t D = C / H;
  RM_CHECK(D <= 32 * kMaxPerLane, "INVALID_ARGUMENT", "attention heads of " + std::to_string(D) + " channels: the CUDA kernels take at most " + std::to_string(32 * kMaxPerLane));
  return {B, T, C, H, D, 1.0f / sqrtf(float(D))};
}

// The launches, for StreamLaunch (the GPU) or EmulatedLaunch (the CPU).
template <class Launch>
void forward(const Launch& launch, float* out, float* lse, const float* qkv, size_t B, size_t T, size_t C, size_t H) {
  size_t rows = B * H * T;
  launch(forward_kernel, (rows + kWarpsPerBlock - 1) / kWarpsPerBlock, 1, 32 * kWarpsPerBlock, out, lse, qkv, heads(B, T, C, H));
}

// `delta`: B·H·T floats of scratch.
template <class Launch>
void backward(const Launch& launch, float* dqkv, float* delta, const float* dout, const float* qkv, const float* out, const float* lse,
              size_t B, size_t T, size_t C, size_t H) {
  Heads a = heads(B, T, C, H);
  size_t blocks = (B * H * T + kWarpsPerBlock - 1) / kWarpsPerBlock;
  launch(query_grad_kernel, blocks, 1, 32 * kWarpsPerBlock, dqkv, delta, dout, qkv, out, lse, a);
  launch(key_grad_kernel, blocks, 1, 32 * kWarpsPerBlock, dqkv, dout, qkv, lse, (const float*)delta, a);
}

// Decoding: the query of position t against cached keys and values 0..t, one warp per head.
template <class Launch>
void step(const Launch& launch, float* out, const float* q, const float* k, const float* v, size_t t, size_t C, size_t H) {
  Heads a = heads(1, t + 1, C, H);
  launch(step_kernel, H, 1, 32, out, q, k, v, t, C, a.D, a.scale);
}

}  // namespace rm::attention
