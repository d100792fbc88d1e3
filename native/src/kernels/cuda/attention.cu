// Causal multi-head attention in fp32 (bf16 and fp16 precision take the tensor-core kernels of
// flash_attention.h where the head size allows), fused: one warp per query row walks its keys
// once with an online softmax (running maximum and sum), so no T×T matrix is ever stored; each
// row keeps its log Σ exp for backward. Backward recomputes the probabilities from it in two
// passes without atomics: one warp per query row for dq (and D_i = dout_i · out_i), then one warp
// per key row for dk and dv, walking the queries that see it. Head h occupies channels
// [h·D, (h+1)·D); a lane holds channels lane, lane + 32, … of its row (D ≤ 32·kMaxPerLane).
#include "cuda_common.cuh"
#include "cuda_kernels.h"
#include "flash_attention.h"

namespace rm {

namespace {

constexpr int kMaxPerLane = 8;  // head size up to 256
constexpr int kWarpsPerBlock = 4;

struct Heads {
  size_t B, T, C, H, D;
  float scale;  // 1/√D
  __device__ size_t q(size_t b, size_t t, size_t h) const { return (b * T + t) * 3 * C + h * D; }
  __device__ size_t k(size_t b, size_t t, size_t h) const { return q(b, t, h) + C; }
  __device__ size_t v(size_t b, size_t t, size_t h) const { return q(b, t, h) + 2 * C; }
  __device__ size_t o(size_t b, size_t t, size_t h) const { return (b * T + t) * C + h * D; }
  __device__ size_t row(size_t b, size_t h, size_t t) const { return (b * H + h) * T + t; }
};

// This lane's channels of a head-sized vector.
struct Lanes {
  float x[kMaxPerLane];
  __device__ void load(const float* p, size_t D, int lane) {
    for (int i = 0; i < kMaxPerLane; ++i) {
      size_t d = lane + 32 * size_t(i);
      x[i] = d < D ? p[d] : 0.0f;
    }
  }
  __device__ float dot(const float* p, size_t D, int lane) const {
    float s = 0.0f;
    for (int i = 0; i < kMaxPerLane; ++i) {
      size_t d = lane + 32 * size_t(i);
      if (d < D) s += x[i] * p[d];
    }
    return warp_sum(s);
  }
};

// Query rows: (b, h, t) = the warp's index.
__global__ void attention_forward_kernel(float* out, float* lse, const float* qkv, Heads a) {
  size_t w = blockIdx.x * size_t(kWarpsPerBlock) + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
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
__global__ void attention_query_grad_kernel(float* dqkv, float* delta, const float* dout, const float* qkv,
                                            const float* out, const float* lse, Heads a) {
  size_t w = blockIdx.x * size_t(kWarpsPerBlock) + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
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
__global__ void attention_key_grad_kernel(float* dqkv, const float* dout, const float* qkv, const float* lse,
                                          const float* delta, Heads a) {
  size_t w = blockIdx.x * size_t(kWarpsPerBlock) + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
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
__global__ void attention_step_kernel(float* out, const float* q_all, const float* keys, const float* values, size_t t,
                                      size_t C, size_t D, float scale) {
  size_t h = blockIdx.x;
  int lane = threadIdx.x;
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

Heads heads(size_t B, size_t T, size_t C, size_t H) {
  size_t D = C / H;
  RM_CHECK(D <= 32 * kMaxPerLane, "INVALID_ARGUMENT", "attention heads of " + std::to_string(D) + " channels: the CUDA kernels take at most " + std::to_string(32 * kMaxPerLane));
  return {B, T, C, H, D, 1.0f / sqrtf(float(D))};
}

}  // namespace

void CudaKernels::attention_forward(float* out, float* lse, const float* qkv, size_t B, size_t T, size_t C, size_t H) {
  if (flash_attention_applies(gemm_inputs_, B, C, H)) return flash_attention_forward(stream(), gemm_inputs_, out, lse, qkv, B, T, C, H);
  Heads a = heads(B, T, C, H);
  size_t rows = B * H * T;
  if (rows == 0) return;
  attention_forward_kernel<<<blocks_for(rows, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream()>>>(out, lse, qkv, a);
  RM_CUDA_LAUNCHED("attention_forward");
}

void CudaKernels::attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                                     size_t B, size_t T, size_t C, size_t H) {
  size_t rows = B * H * T;
  if (flash_attention_applies(gemm_inputs_, B, C, H))
    return flash_attention_backward(stream(), gemm_inputs_, dqkv, scratch(2, rows), dout, qkv, out, lse, B, T, C, H);
  Heads a = heads(B, T, C, H);
  if (rows == 0) return;
  float* delta = scratch(2, rows);
  attention_query_grad_kernel<<<blocks_for(rows, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream()>>>(dqkv, delta, dout, qkv,
                                                                                                      out, lse, a);
  RM_CUDA_LAUNCHED("attention_query_grad");
  attention_key_grad_kernel<<<blocks_for(rows, kWarpsPerBlock), 32 * kWarpsPerBlock, 0, stream()>>>(dqkv, dout, qkv, lse,
                                                                                                    delta, a);
  RM_CUDA_LAUNCHED("attention_key_grad");
}

void CudaKernels::attention_step(float* out, const float* q, const float* k, const float* v, size_t t, size_t C,
                                 size_t H) {
  size_t D = C / H;
  RM_CHECK(D <= 32 * kMaxPerLane, "INVALID_ARGUMENT", "attention heads of " + std::to_string(D) + " channels: the CUDA kernels take at most " + std::to_string(32 * kMaxPerLane));
  attention_step_kernel<<<unsigned(H), 32, 0, stream()>>>(out, q, k, v, t, C, D, 1.0f / sqrtf(float(D)));
  RM_CUDA_LAUNCHED("attention_step");
}

}  // namespace rm
