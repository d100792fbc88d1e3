// Causal attention on the tensor cores for bf16 and fp16 precision, flash-style: q, k and v go
// through shared memory in tiles as 16-bit values, the products run as mma.sync m16n8k16 with
// fp32 accumulation, and no T×T matrix is ever stored. The kernels are written in the warp
// primitives of warp_primitives.cuh (the GPU) or native/tools/warp_emulation.h (the CPU, where
// the same source runs in step for the emulated check); the includer provides one of them.
//
// Forward (one block of 4 warps per 64 queries of one head, 16 query rows a warp): S = Q·Kᵀ a key
// tile at a time, an online softmax in registers (running maximum and sum, in base 2), P rounded
// to 16 bits and O += P·V; each row keeps log Σ exp of its scaled scores for backward, as the
// fp32 kernels do. The score fragments of S are the A fragments of P·V, so P never leaves
// registers.
//
// Backward recomputes P from that log-sum-exp, without atomics so a step computes the same bits
// every time: delta_i = dO_i·O_i first; then one kernel per query tile for dQ = scale·dS·K and one
// per key tile for dK = scale·dSᵀ·Q and dV = Pᵀ·dO, with dS = P∘(dO·Vᵀ − delta). Recomputing S
// and dO·Vᵀ in both costs two of the seven products' worth, which atomics on dQ would save.
//
// Operands the B side of a product walks along its rows (V in P·V, K in dS·K, Q and dO in the key
// kernel) are stored transposed in shared memory, so every fragment is one 32-bit load. Rows are
// padded by 8 values (16 bytes) so a warp's fragment loads hit 32 different banks; the shared
// arrays are 16-byte aligned and every fragment starts at an even offset, so each 32-bit load is
// aligned (the emulator checks it).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../../precision/precision.h"

namespace rm::flash {

constexpr int kWarps = 4, kThreads = 32 * kWarps;
constexpr int kRowTile = 16 * kWarps;  // rows a block owns: queries (forward, dQ) or keys (dK, dV)
constexpr int kPad = 8;
constexpr float kLog2e = 1.4426950408889634f, kLn2 = 0.6931471805599453f;

// Head sizes the kernels are built for; others take the fp32 kernels.
constexpr bool supported_head(size_t D) { return D == 32 || D == 64 || D == 128; }
// The tile walked in the inner loop (keys forward and in dQ, queries in dK/dV): smaller for wide
// heads so shared memory stays under the 48 KiB a block has without opting in.
template <int D>
constexpr int kInnerTile = D <= 64 ? 64 : 32;

struct Shape {
  int B, T, C, H;
  float scale;  // 1/√D
  RM_DEVICE_INLINE size_t qkv_row(int b, int t) const { return (size_t(b) * T + t) * 3 * size_t(C); }
  RM_DEVICE_INLINE size_t out_row(int b, int t) const { return (size_t(b) * T + t) * size_t(C); }
  RM_DEVICE_INLINE size_t lse_row(int b, int h, int t) const { return (size_t(b) * H + h) * T + t; }
};

inline Shape shape(size_t B, size_t T, size_t C, size_t H) { return {int(B), int(T), int(C), int(H), 1.0f / std::sqrt(float(C / H))}; }

// Rows [0, rows) of a head slice (element (r, d) at src[r·ld + d]; zeros from row `valid` on) as
// 16-bit values into dst[rows][D + kPad], or transposed into dst[D][rows + kPad]. The activations
// (qkv, dout) are fp32 holding values of type P, or P's encodings: either way the copy is exact.
template <int D, Precision P, bool kTransposed>
RM_DEVICE_INLINE void load_tile(uint16_t* dst, Elements src, size_t ld, int rows, int valid) {
  for (int e = thread_index(); e < rows * D; e += kThreads) {
    int r = e / D, d = e % D;
    uint16_t h = to_half<P>(r < valid ? src.get(size_t(r) * ld + d) : 0.0f);
    if (kTransposed) dst[d * (rows + kPad) + r] = h;
    else dst[r * (D + kPad) + d] = h;
  }
}

// The warp's A fragments of rows [16·warp, 16·warp + 16) of a tile stored [rows][D + kPad].
template <int D>
RM_DEVICE_INLINE void load_a(uint32_t a[][4], const uint16_t* tile, int warp, int g, int c) {
  const uint16_t* row = tile + (16 * warp + g) * (D + kPad) + c;
  for (int k = 0; k < D / 16; ++k) {
    a[k][0] = load_pair(row + 16 * k);
    a[k][1] = load_pair(row + 8 * (D + kPad) + 16 * k);
    a[k][2] = load_pair(row + 16 * k + 8);
    a[k][3] = load_pair(row + 8 * (D + kPad) + 16 * k + 8);
  }
}

// acc[n] += A · Bᵀ over K = 16·KS, where B's rows are those of a tile stored [rows][K + kPad]:
// acc holds N/8 fragments of 16 rows by 8 columns (B's rows 8n .. 8n+7).
template <Precision P, int KS, int N>
RM_DEVICE_INLINE void mma_rows(float acc[][4], const uint32_t a[][4], const uint16_t* b_tile, int g, int c) {
  for (int n = 0; n < N / 8; ++n) {
    const uint16_t* row = b_tile + (8 * n + g) * (16 * KS + kPad) + c;
    for (int k = 0; k < KS; ++k) {
      uint32_t b[2] = {load_pair(row + 16 * k), load_pair(row + 16 * k + 8)};
      mma16816<P>(acc[n], a[k], b);
    }
  }
}

// acc[n] += X · B where X (16 × K) is in accumulator fragments x[K/8][4] (rounded to 16 bits here)
// and B (K × 8·NB) is stored transposed, [8·NB][K + kPad].
template <Precision P, int K, int NB>
RM_DEVICE_INLINE void mma_accumulated(float acc[][4], const float x[][4], const uint16_t* bt_tile, int g, int c) {
  for (int k = 0; k < K / 16; ++k) {
    uint32_t a[4] = {pack2<P>(x[2 * k][0], x[2 * k][1]), pack2<P>(x[2 * k][2], x[2 * k][3]),
                     pack2<P>(x[2 * k + 1][0], x[2 * k + 1][1]), pack2<P>(x[2 * k + 1][2], x[2 * k + 1][3])};
    for (int n = 0; n < NB; ++n) {
      const uint16_t* row = bt_tile + (8 * n + g) * (K + kPad) + 16 * k + c;
      uint32_t b[2] = {load_pair(row), load_pair(row + 8)};
      mma16816<P>(acc[n], a, b);
    }
  }
}

template <int D, Precision P>
RM_KERNEL void forward_kernel(Elements out, float* lse, Elements qkv, Shape s) {
  constexpr int BK = kInnerTile<D>, S = D + kPad;
  alignas(16) RM_SHARED uint16_t smem[kRowTile * S + BK * S + D * (BK + kPad)];
  uint16_t *q_tile = smem, *k_tile = q_tile + kRowTile * S, *vt_tile = k_tile + BK * S;
  int warp = thread_index() / 32, lane = thread_index() % 32, g = lane / 4, c = 2 * (lane % 4);
  int tiles = (s.T + kRowTile - 1) / kRowTile, q0 = (tiles - 1 - block_index_x()) * kRowTile;  // longest rows first
  int b = block_index_y() / s.H, h = block_index_y() % s.H;
  size_t ld = 3 * size_t(s.C);
  Elements head = qkv.at(s.qkv_row(b, 0) + size_t(h) * D);
  load_tile<D, P, false>(q_tile, head.at(q0 * ld), ld, kRowTile, s.T - q0);
  sync_block();
  uint32_t qa[D / 16][4];
  load_a<D>(qa, q_tile, warp, g, c);
  int row[2] = {q0 + 16 * warp + g, q0 + 16 * warp + g + 8};
  float o[D / 8][4] = {}, m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  float scale_log2 = s.scale * kLog2e;
  int keys = s.T < q0 + kRowTile ? s.T : q0 + kRowTile;  // the keys any row of the tile sees
  for (int k0 = 0; k0 < keys; k0 += BK) {
    sync_block();  // every warp is done with the previous tiles
    load_tile<D, P, false>(k_tile, head.at(s.C + k0 * ld), ld, BK, s.T - k0);
    load_tile<D, P, true>(vt_tile, head.at(2 * s.C + k0 * ld), ld, BK, s.T - k0);
    sync_block();
    float sc[BK / 8][4] = {};
    mma_rows<P, D / 16, BK>(sc, qa, k_tile, g, c);
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;
      for (int n = 0; n < BK / 8; ++n)
        for (int e = 0; e < 2; ++e) {
          float& x = sc[n][2 * r + e];
          x = k0 + 8 * n + c + e > row[r] ? -INFINITY : x * scale_log2;
          mx = fmaxf(mx, x);
        }
      mx = fmaxf(mx, shfl_xor(mx, 1));
      mx = fmaxf(mx, shfl_xor(mx, 2));
      // Key 0 is in the first tile and every row sees it, so m_new is finite from there on.
      float m_new = fmaxf(m[r], mx), correction = exp2f(m[r] - m_new);
      m[r] = m_new;
      l[r] *= correction;
      for (int n = 0; n < BK / 8; ++n)
        for (int e = 0; e < 2; ++e) {
          float p = exp2f(sc[n][2 * r + e] - m_new);
          sc[n][2 * r + e] = p;
          l[r] += p;  // this lane's columns; the quad's four partial sums join at the end
        }
      for (int n = 0; n < D / 8; ++n) o[n][2 * r] *= correction, o[n][2 * r + 1] *= correction;
    }
    mma_accumulated<P, BK, D / 8>(o, sc, vt_tile, g, c);
  }
  for (int r = 0; r < 2; ++r) {
    l[r] += shfl_xor(l[r], 1);
    l[r] += shfl_xor(l[r], 2);
    if (row[r] >= s.T) continue;
    Elements dst = out.at(s.out_row(b, row[r]) + size_t(h) * D + c);
    for (int n = 0; n < D / 8; ++n) dst.set(8 * n, o[n][2 * r] / l[r]), dst.set(8 * n + 1, o[n][2 * r + 1] / l[r]);
    if (c == 0) lse[s.lse_row(b, h, row[r])] = (m[r] + log2f(l[r])) * kLn2;
  }
}

// delta_i = dO_i · O_i for every (b, h, i): one warp per row.
template <int D>
RM_KERNEL void delta_kernel(float* delta, Elements dout, Elements out, Shape s) {
  size_t w = size_t(block_index_x()) * kWarps + thread_index() / 32, rows = size_t(s.B) * s.H * s.T;
  int lane = thread_index() % 32;
  if (w >= rows) return;  // whole warps only: rows are warp-uniform
  int t = int(w % s.T), h = int(w / s.T % s.H), b = int(w / (size_t(s.T) * s.H));
  size_t at = s.out_row(b, t) + size_t(h) * D;
  float sum = 0.0f;
  for (int d = lane; d < D; d += 32) sum += dout.get(at + d) * out.get(at + d);
  sum = warp_total(sum);
  if (lane == 0) delta[s.lse_row(b, h, t)] = sum;
}

// dQ for one tile of 64 queries: dQ = scale · Σ_keys dS·K.
template <int D, Precision P>
RM_KERNEL void query_grad_kernel(Elements dqkv, Elements dout, Elements qkv, const float* lse, const float* delta, Shape s) {
  constexpr int BK = kInnerTile<D>, S = D + kPad;
  alignas(16) RM_SHARED uint16_t smem[kRowTile * S + 2 * BK * S + D * (BK + kPad)];
  uint16_t *stage = smem, *k_tile = stage + kRowTile * S, *v_tile = k_tile + BK * S, *kt_tile = v_tile + BK * S;
  int warp = thread_index() / 32, lane = thread_index() % 32, g = lane / 4, c = 2 * (lane % 4);
  int tiles = (s.T + kRowTile - 1) / kRowTile, q0 = (tiles - 1 - block_index_x()) * kRowTile;
  int b = block_index_y() / s.H, h = block_index_y() % s.H;
  size_t ld = 3 * size_t(s.C);
  Elements head = qkv.at(s.qkv_row(b, 0) + size_t(h) * D);
  uint32_t qa[D / 16][4], da[D / 16][4];
  load_tile<D, P, false>(stage, head.at(q0 * ld), ld, kRowTile, s.T - q0);
  sync_block();
  load_a<D>(qa, stage, warp, g, c);
  sync_block();
  load_tile<D, P, false>(stage, dout.at(s.out_row(b, q0) + size_t(h) * D), s.C, kRowTile, s.T - q0);
  sync_block();
  load_a<D>(da, stage, warp, g, c);
  int row[2] = {q0 + 16 * warp + g, q0 + 16 * warp + g + 8};
  float lse2[2], dl[2], dq[D / 8][4] = {};
  for (int r = 0; r < 2; ++r) {
    bool valid = row[r] < s.T;
    lse2[r] = valid ? lse[s.lse_row(b, h, row[r])] * kLog2e : 0.0f;
    dl[r] = valid ? delta[s.lse_row(b, h, row[r])] : 0.0f;
  }
  float scale_log2 = s.scale * kLog2e;
  int keys = s.T < q0 + kRowTile ? s.T : q0 + kRowTile;
  for (int k0 = 0; k0 < keys; k0 += BK) {
    sync_block();
    load_tile<D, P, false>(k_tile, head.at(s.C + k0 * ld), ld, BK, s.T - k0);
    load_tile<D, P, false>(v_tile, head.at(2 * s.C + k0 * ld), ld, BK, s.T - k0);
    load_tile<D, P, true>(kt_tile, head.at(s.C + k0 * ld), ld, BK, s.T - k0);
    sync_block();
    float sc[BK / 8][4] = {}, dp[BK / 8][4] = {};
    mma_rows<P, D / 16, BK>(sc, qa, k_tile, g, c);
    mma_rows<P, D / 16, BK>(dp, da, v_tile, g, c);
    for (int n = 0; n < BK / 8; ++n)
      for (int i = 0; i < 4; ++i) {
        int r = i / 2, key = k0 + 8 * n + c + i % 2;
        float p = key > row[r] ? 0.0f : exp2f(sc[n][i] * scale_log2 - lse2[r]);
        sc[n][i] = p * (dp[n][i] - dl[r]);  // dS
      }
    mma_accumulated<P, BK, D / 8>(dq, sc, kt_tile, g, c);
  }
  for (int r = 0; r < 2; ++r) {
    if (row[r] >= s.T) continue;
    Elements dst = dqkv.at(s.qkv_row(b, row[r]) + size_t(h) * D + c);
    for (int n = 0; n < D / 8; ++n) dst.set(8 * n, dq[n][2 * r] * s.scale), dst.set(8 * n + 1, dq[n][2 * r + 1] * s.scale);
  }
}

// dK and dV for one tile of 64 keys, walking the queries that see them: dV = Σ Pᵀ·dO,
// dK = scale · Σ dSᵀ·Q (the transposed products: rows are keys, columns queries).
template <int D, Precision P>
RM_KERNEL void key_grad_kernel(Elements dqkv, Elements dout, Elements qkv, const float* lse, const float* delta, Shape s) {
  constexpr int BI = kInnerTile<D>, S = D + kPad, IT = BI + kPad;
  constexpr int kStage = kRowTile * S > 2 * BI * S ? kRowTile * S : 2 * BI * S;
  alignas(16) RM_SHARED uint16_t smem[kStage + 2 * D * IT];
  RM_SHARED float query_lse2[BI], query_delta[BI];
  uint16_t *stage = smem, *q_tile = stage, *do_tile = stage + BI * S, *qt_tile = stage + kStage, *dot_tile = qt_tile + D * IT;
  int warp = thread_index() / 32, lane = thread_index() % 32, g = lane / 4, c = 2 * (lane % 4);
  int k0 = block_index_x() * kRowTile;  // the first key tiles see the most queries: they start first
  int b = block_index_y() / s.H, h = block_index_y() % s.H;
  size_t ld = 3 * size_t(s.C);
  Elements head = qkv.at(s.qkv_row(b, 0) + size_t(h) * D);
  Elements head_out = dout.at(s.out_row(b, 0) + size_t(h) * D);
  uint32_t ka[D / 16][4], va[D / 16][4];
  load_tile<D, P, false>(stage, head.at(s.C + k0 * ld), ld, kRowTile, s.T - k0);
  sync_block();
  load_a<D>(ka, stage, warp, g, c);
  sync_block();
  load_tile<D, P, false>(stage, head.at(2 * s.C + k0 * ld), ld, kRowTile, s.T - k0);
  sync_block();
  load_a<D>(va, stage, warp, g, c);
  int key[2] = {k0 + 16 * warp + g, k0 + 16 * warp + g + 8};
  float dk[D / 8][4] = {}, dv[D / 8][4] = {};
  float scale_log2 = s.scale * kLog2e;
  for (int i0 = k0 / BI * BI; i0 < s.T; i0 += BI) {
    sync_block();
    load_tile<D, P, false>(q_tile, head.at(i0 * ld), ld, BI, s.T - i0);
    load_tile<D, P, true>(qt_tile, head.at(i0 * ld), ld, BI, s.T - i0);
    load_tile<D, P, false>(do_tile, head_out.at(i0 * size_t(s.C)), s.C, BI, s.T - i0);
    load_tile<D, P, true>(dot_tile, head_out.at(i0 * size_t(s.C)), s.C, BI, s.T - i0);
    for (int i = thread_index(); i < BI; i += kThreads) {
      bool valid = i0 + i < s.T;
      query_lse2[i] = valid ? lse[s.lse_row(b, h, i0 + i)] * kLog2e : 0.0f;
      query_delta[i] = valid ? delta[s.lse_row(b, h, i0 + i)] : 0.0f;
    }
    sync_block();
    float st[BI / 8][4] = {}, dpt[BI / 8][4] = {};
    mma_rows<P, D / 16, BI>(st, ka, q_tile, g, c);
    mma_rows<P, D / 16, BI>(dpt, va, do_tile, g, c);
    for (int n = 0; n < BI / 8; ++n)
      for (int i = 0; i < 4; ++i) {
        int r = i / 2, q = 8 * n + c + i % 2;
        bool sees = i0 + q >= key[r] && i0 + q < s.T;
        float p = sees ? exp2f(st[n][i] * scale_log2 - query_lse2[q]) : 0.0f;
        st[n][i] = p;
        dpt[n][i] = p * (dpt[n][i] - query_delta[q]);  // dSᵀ
      }
    mma_accumulated<P, BI, D / 8>(dv, st, dot_tile, g, c);
    mma_accumulated<P, BI, D / 8>(dk, dpt, qt_tile, g, c);
  }
  for (int r = 0; r < 2; ++r) {
    if (key[r] >= s.T) continue;
    Elements dst = dqkv.at(s.qkv_row(b, key[r]) + size_t(h) * D + c);
    for (int n = 0; n < D / 8; ++n) {
      dst.set(s.C + 8 * n, dk[n][2 * r] * s.scale), dst.set(s.C + 8 * n + 1, dk[n][2 * r + 1] * s.scale);
      dst.set(2 * s.C + 8 * n, dv[n][2 * r]), dst.set(2 * s.C + 8 * n + 1, dv[n][2 * r + 1]);
    }
  }
}

// The launches, for a `launch(kernel, blocks_x, blocks_y, threads, args…)` that runs them in
// order: StreamLaunch on the GPU, EmulatedLaunch on the CPU.
template <int D, Precision P, class Launch>
void forward(const Launch& launch, Elements out, float* lse, Elements qkv, Shape s) {
  int tiles = (s.T + kRowTile - 1) / kRowTile;
  launch(forward_kernel<D, P>, tiles, s.B * s.H, kThreads, out, lse, qkv, s);
}

template <int D, Precision P, class Launch>
void backward(const Launch& launch, Elements dqkv, float* delta, Elements dout, Elements qkv, Elements out, const float* lse,
              Shape s) {
  int tiles = (s.T + kRowTile - 1) / kRowTile;
  size_t rows = size_t(s.B) * s.H * s.T;
  launch(delta_kernel<D>, (rows + kWarps - 1) / kWarps, 1, kThreads, delta, dout, out, s);
  launch(query_grad_kernel<D, P>, tiles, s.B * s.H, kThreads, dqkv, dout, qkv, lse, (const float*)delta, s);
  launch(key_grad_kernel<D, P>, tiles, s.B * s.H, kThreads, dqkv, dout, qkv, lse, (const float*)delta, s);
}

// The dispatch over the head sizes built: run(Head<D>{}) for D = C / H (supported_head).
template <int D>
struct Head {
  static constexpr int value = D;
};
template <class Run>
void with_head(size_t D, Run&& run) {
  if (D == 32) run(Head<32>{});
  else if (D == 64) run(Head<64>{});
  else run(Head<128>{});
}

}  // namespace rm::flash
