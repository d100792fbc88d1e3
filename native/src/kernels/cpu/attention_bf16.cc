// VDPBF16PS multiplies bf16 values in pairs: lane l of a 512-bit register adds a[2l]·b[2l] +
// a[2l+1]·b[2l+1] to an fp32 accumulator. Every product here is written as "one operand's pair of
// values broadcast to all 16 lanes, times 16 lanes of the other operand's pairs", so each operand
// is laid out with the reduction index in pairs ("words"):
//
// - scores (Sᵀ = k·qᵀ, and dPᵀ = v·dyᵀ): the T×T tile holds Sᵀ[j][i] with queries i across the
//   lanes, the softmax passes' layout (attention_tiles.h). k's row j is broadcast a word at a time
//   straight from qkv; q is rearranged into its word columns W[p][i] = (q[i][2p], q[i][2p+1]).
// - products that reduce over positions (y = P·v, dv = Pᵀ·dy, dq = dS·k, dk = dSᵀ·q): the output
//   row's channels across the lanes; the right operand as row pairs R[r][d] = (x[2r][d],
//   x[2r+1][d]); the left one broadcast from the tile, either as pairs of tile rows (P·v and dS·k
//   read P[i][2r], P[i][2r+1], which lie in rows 2r and 2r+1 of the transposed tile) or as its
//   rows in bf16 (Pᵀ·dy and dSᵀ·q read consecutive elements of a row).
//
// Blocks of 16 queries that a key cannot see are skipped, and the sums over positions stop at the
// diagonal's block. Registers: each product keeps 16 accumulators (12 for heads of 48 channels).
#include "attention_bf16.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "../../core/common.h"
#include "../../core/parallel.h"
#include "attention_tiles.h"

#if defined(__x86_64__)
// GCC 12 warns that the unmasked AVX-512 intrinsics read an uninitialised register (its bug
// 105593: they start from _mm512_undefined_*, on purpose).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace rm {

#if defined(__x86_64__)
namespace {

#define RM_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

using Word = uint32_t;  // two bf16 values, the first in the low half: one pair VDPBF16PS multiplies

RM_BF16 inline __m512 dot(__m512 acc, __m512i a, __m512i b) { return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b); }

RM_BF16 inline __m512i broadcast_word(const uint16_t* p) {
  int w;
  std::memcpy(&w, p, sizeof w);
  return _mm512_set1_epi32(w);
}

RM_BF16 inline __m256i narrow(__m512 x) { return (__m256i)_mm512_cvtneps_pbh(x); }

RM_BF16 inline __m512 widen(const uint16_t* p) {
  __m512i bits = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(bits, 16));
}

// Two vectors of 16 bf16 values as 16 words: (a[l], b[l]) in lane l.
RM_BF16 inline __m512i interleave(__m256i a, __m256i b) {
  return _mm512_or_si512(_mm512_cvtepu16_epi32(a), _mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16));
}

RM_BF16 inline __m256i load16(const uint16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// r[c] ← column c of the 16×16 matrix of 32-bit words whose rows are r[0..15].
RM_BF16 inline void transpose16(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]), t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  for (int i = 0; i < 16; i += 4) {  // u[i + c]: rows i..i+3 of columns c, c+4, c+8, c+12, one per 128-bit block
    u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]), u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]), u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int c = 0; c < 4; ++c) {  // t[c], t[4 + c]: rows 0..7 of columns c, c+8 and c+4, c+12; t[8 + c], t[12 + c]: rows 8..15
    t[c] = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88), t[4 + c] = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xdd);
    t[8 + c] = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88), t[12 + c] = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xdd);
  }
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm512_shuffle_i32x4(t[c], t[8 + c], 0x88), r[c + 8] = _mm512_shuffle_i32x4(t[c], t[8 + c], 0xdd);
    r[c + 4] = _mm512_shuffle_i32x4(t[4 + c], t[12 + c], 0x88), r[c + 12] = _mm512_shuffle_i32x4(t[4 + c], t[12 + c], 0xdd);
  }
}

// W[p][t] = (x[t][2p], x[t][2p+1]) for the T rows of x (stride ld): word p of 16 consecutive rows
// is one vector. 16 rows by 16 words (or 8, D's last ones) at a time, through registers.
RM_BF16 void word_columns(Word* W, const uint16_t* x, size_t ld, size_t T, size_t D) {
  for (size_t t0 = 0; t0 < T; t0 += 16)
    for (size_t p0 = 0; p0 < D / 2; p0 += 16) {
      size_t words = std::min<size_t>(16, D / 2 - p0);
      __mmask16 lanes = __mmask16((1u << words) - 1);
      __m512i r[16];
      for (int i = 0; i < 16; ++i) r[i] = _mm512_maskz_loadu_epi32(lanes, x + (t0 + i) * ld + 2 * p0);
      transpose16(r);
      for (size_t c = 0; c < words; ++c) _mm512_storeu_si512(W + (p0 + c) * T + t0, r[c]);
    }
}

// R[r][d] = (x[2r][d], x[2r+1][d]) for the T rows of x (stride ld).
RM_BF16 void row_pairs(Word* R, const uint16_t* x, size_t ld, size_t T, size_t D) {
  for (size_t r = 0; r < T / 2; ++r)
    for (size_t d = 0; d < D; d += 16)
      _mm512_storeu_si512(R + r * D + d, interleave(load16(x + 2 * r * ld + d), load16(x + (2 * r + 1) * ld + d)));
}

// out[r][i] = (tile[2r][i], tile[2r+1][i]) in bf16, for the i that P·v and dS·k read (from the
// block of 16 holding 2r on).
RM_BF16 void tile_row_pairs(Word* out, const float* tile, size_t T) {
  for (size_t r = 0; r < T / 2; ++r)
    for (size_t i = 2 * r / 16 * 16; i < T; i += 16)
      _mm512_storeu_si512(out + r * T + i, interleave(narrow(_mm512_loadu_ps(tile + 2 * r * T + i)),
                                                      narrow(_mm512_loadu_ps(tile + (2 * r + 1) * T + i))));
}

// The tile's rows in bf16, for the i that Pᵀ·dy and dSᵀ·q read (from the block of 16 holding j on).
RM_BF16 void tile_rows16(Word* out, const float* tile, size_t T) {
  auto* bits = reinterpret_cast<uint16_t*>(out);
  for (size_t j = 0; j < T; ++j)
    for (size_t i = j / 16 * 16; i < T; i += 16)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(bits + j * T + i), narrow(_mm512_loadu_ps(tile + j * T + i)));
}

// tile[j][i] = Σ_d x[j][d]·w[i][d] (w as its word columns W) for rows j0..j0+3 and NB blocks of
// 16 i from i0.
template <int NB>
RM_BF16 inline void scores_block(float* tile, const uint16_t* x, size_t ld, const Word* W, size_t T, size_t D, size_t j0, size_t i0) {
  __m512 acc[4][NB];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b) acc[r][b] = _mm512_setzero_ps();
  for (size_t p = 0; p < D / 2; ++p) {
    __m512i w[NB];
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b) w[b] = _mm512_loadu_si512(W + p * T + i0 + 16 * b);
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      __m512i k = broadcast_word(x + (j0 + r) * ld + 2 * p);
#pragma GCC unroll 4
      for (int b = 0; b < NB; ++b) acc[r][b] = dot(acc[r][b], w[b], k);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
    for (int b = 0; b < NB; ++b) _mm512_storeu_ps(tile + (j0 + r) * T + i0 + 16 * b, acc[r][b]);
}

// The transposed scores the causal softmax passes read: tile[j][i] for every block of 16 i from
// j's own block on.
RM_BF16 void causal_scores(float* tile, const uint16_t* x, size_t ld, const Word* W, size_t T, size_t D) {
  for (size_t j0 = 0; j0 < T; j0 += 4) {
    size_t i0 = j0 / 16 * 16;
    for (; i0 + 64 <= T; i0 += 64) scores_block<4>(tile, x, ld, W, T, D, j0, i0);
    switch ((T - i0) / 16) {
      case 3: scores_block<3>(tile, x, ld, W, T, D, j0, i0); break;
      case 2: scores_block<2>(tile, x, ld, W, T, D, j0, i0); break;
      case 1: scores_block<1>(tile, x, ld, W, T, D, j0, i0); break;
      default: break;
    }
  }
}

// A product over positions, left operand broadcast from words S (row a's word r at S[a·sa + r·sq]),
// right one the row pairs R: out[a][d] = Σ_r S(a, r)·R[r][d] for r in [r0, r1) (times row_scale[a]
// where given), RB rows from a0 and ND vectors of channels from d0, written in bf16 (row stride ld).
template <int RB, int ND>
RM_BF16 inline void pairs_block(uint16_t* out, size_t ld, const Word* S, size_t sa, size_t sq, const Word* R, const float* row_scale,
                                size_t D, size_t a0, size_t d0, size_t r0, size_t r1) {
  __m512 acc[RB][ND];
#pragma GCC unroll 16
  for (int a = 0; a < RB; ++a)
#pragma GCC unroll 4
    for (int n = 0; n < ND; ++n) acc[a][n] = _mm512_setzero_ps();
  for (size_t r = r0; r < r1; ++r) {
    __m512i v[ND];
#pragma GCC unroll 4
    for (int n = 0; n < ND; ++n) v[n] = _mm512_loadu_si512(R + r * D + d0 + 16 * n);
#pragma GCC unroll 16
    for (int a = 0; a < RB; ++a) {
      __m512i s = _mm512_set1_epi32(int(S[(a0 + a) * sa + r * sq]));
#pragma GCC unroll 4
      for (int n = 0; n < ND; ++n) acc[a][n] = dot(acc[a][n], v[n], s);
    }
  }
  if (row_scale)
#pragma GCC unroll 16
    for (int a = 0; a < RB; ++a)
#pragma GCC unroll 4
      for (int n = 0; n < ND; ++n) acc[a][n] = _mm512_mul_ps(acc[a][n], _mm512_set1_ps(row_scale[a0 + a]));
#pragma GCC unroll 16
  for (int a = 0; a < RB; ++a)
#pragma GCC unroll 4
    for (int n = 0; n < ND; ++n)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (a0 + a) * ld + d0 + 16 * n), narrow(acc[a][n]));
}

// Which positions a row's sum runs over: queries sum over the keys up to their own (below the
// diagonal), keys over the queries from their own on (above it).
enum class Span { UpToRow, FromRow };

template <int RB, int ND>
RM_BF16 void pairs_rows(uint16_t* out, size_t ld, const Word* S, size_t sa, size_t sq, const Word* R, const float* row_scale, size_t T,
                        size_t D, size_t d0, Span span) {
  for (size_t a0 = 0; a0 < T; a0 += RB) {
    size_t r0 = span == Span::UpToRow ? 0 : a0 / 2, r1 = span == Span::UpToRow ? (a0 + RB) / 2 : T / 2;
    pairs_block<RB, ND>(out, ld, S, sa, sq, R, row_scale, D, a0, d0, r0, r1);
  }
}

RM_BF16 void pair_products(uint16_t* out, size_t ld, const Word* S, size_t sa, size_t sq, const Word* R, size_t T, size_t D, Span span,
                           const float* row_scale = nullptr) {
  for (size_t d0 = 0; d0 < D;) {
    size_t nd = std::min<size_t>(4, (D - d0) / 16);
    switch (nd) {
      case 4: pairs_rows<4, 4>(out, ld, S, sa, sq, R, row_scale, T, D, d0, span); break;
      case 3: pairs_rows<4, 3>(out, ld, S, sa, sq, R, row_scale, T, D, d0, span); break;
      case 2: pairs_rows<8, 2>(out, ld, S, sa, sq, R, row_scale, T, D, d0, span); break;
      default: pairs_rows<16, 1>(out, ld, S, sa, sq, R, row_scale, T, D, d0, span); break;
    }
    d0 += 16 * nd;
  }
}

// δ = dy·y over each head's D channels of rows [r0, r1) (row r: sequence r / T, position r % T), into
// delta[(sequence·H + head)·T + position]: every head of a row at once, the rows in order (head by
// head, each row's y arrived as one cold cache line: 15% of the per-head backward's samples in a
// training step). attention.cc's row_deltas computes the same for any types through
// fixed_order_sum; called here, it made this backward 7% slower (one FMA a 16 channels here).
RM_BF16 void row_deltas(float* delta, const uint16_t* dy, const uint16_t* y, size_t r0, size_t r1, size_t T, size_t H, size_t D) {
  size_t C = H * D;
  for (size_t r = r0; r < r1; ++r)
    for (size_t h = 0; h < H; ++h) {
      __m512 acc = _mm512_setzero_ps();
      for (size_t d = h * D; d < (h + 1) * D; d += 16) acc = _mm512_fmadd_ps(widen(dy + r * C + d), widen(y + r * C + d), acc);
      delta[(r / T * H + h) * T + r % T] = _mm512_reduce_add_ps(acc);
    }
}

// One thread's scratch for the head in flight: two T×T fp32 tiles, the words of two operands and
// of a tile in bf16, and the forward's 1 / Σ per row.
struct HeadScratch {
  std::vector<float> s, ds, row_scale;
  std::vector<Word> w, r, t16;
};

HeadScratch& scratch(size_t T, size_t D) {
  thread_local HeadScratch h;
  if (h.s.size() < T * T) h.s.resize(T * T), h.ds.resize(T * T), h.t16.resize(T * T / 2), h.row_scale.resize(T);
  if (h.w.size() < T * D / 2) h.w.resize(T * D / 2), h.r.resize(T * D / 2);
  return h;
}

RM_BF16 void forward_head(uint16_t* y, float* lse, const uint16_t* q, size_t T, size_t C, size_t D, float scale) {
  HeadScratch& h = scratch(T, D);
  const uint16_t *k = q + C, *v = q + 2 * C;
  word_columns(h.w.data(), q, 3 * C, T, D);
  causal_scores(h.s.data(), k, 3 * C, h.w.data(), T, D);
  softmax_lanes(h.s.data(), lse, T, scale, h.row_scale.data());  // the numerators of P, and 1 / Σ per row
  tile_row_pairs(h.t16.data(), h.s.data(), T);
  row_pairs(h.r.data(), v, 3 * C, T, D);
  pair_products(y, C, h.t16.data(), 1, T, h.r.data(), T, D, Span::UpToRow, h.row_scale.data());  // y = P·v
}

RM_BF16 void backward_head(uint16_t* dq, const uint16_t* dy, const uint16_t* q, const float* lse, const float* delta, size_t T, size_t C,
                           size_t D, float scale) {
  HeadScratch& h = scratch(T, D);
  const uint16_t *k = q + C, *v = q + 2 * C;
  uint16_t *dk = dq + C, *dv = dq + 2 * C;
  float *p = h.s.data(), *ds = h.ds.data();
  Word *w = h.w.data(), *r = h.r.data(), *t16 = h.t16.data();
  word_columns(w, q, 3 * C, T, D);
  causal_scores(p, k, 3 * C, w, T, D);  // Sᵀ
  word_columns(w, dy, C, T, D);
  causal_scores(ds, v, 3 * C, w, T, D);  // dPᵀ
  softmax_backward_lanes(p, ds, lse, delta, T, scale);
  tile_rows16(t16, p, T);
  row_pairs(r, dy, C, T, D);
  pair_products(dv, 3 * C, t16, T / 2, 1, r, T, D, Span::FromRow);  // dv = Pᵀ·dy
  tile_row_pairs(t16, ds, T);
  row_pairs(r, k, 3 * C, T, D);
  pair_products(dq, 3 * C, t16, 1, T, r, T, D, Span::UpToRow);  // dq = dS·k
  tile_rows16(t16, ds, T);
  row_pairs(r, q, 3 * C, T, D);
  pair_products(dk, 3 * C, t16, T / 2, 1, r, T, D, Span::FromRow);  // dk = dSᵀ·q
}

#undef RM_BF16

}  // namespace

bool fused_bf16_attention_fits(size_t T, size_t D) {
  static const bool has_bf16 = (__builtin_cpu_init(), __builtin_cpu_supports("avx512bf16"));
  return has_bf16 && T >= 16 && T % 16 == 0 && D >= 16 && D % 16 == 0;
}

static void require_fit(size_t T, size_t D) {
  RM_CHECK(fused_bf16_attention_fits(T, D), "INTERNAL",
           "the AVX-512-BF16 attention kernels cannot run T=" + std::to_string(T) + ", D=" + std::to_string(D) + " here");
}

void fused_bf16_attention_forward(uint16_t* y, float* lse, const uint16_t* qkv, size_t B, size_t T, size_t C, size_t H) {
  size_t D = C / H;
  require_fit(T, D);
  float scale = 1.0f / std::sqrt(float(D));
  parallel_for(B * H, 1, [&](size_t h0, size_t h1) {
    for (size_t bh = h0; bh < h1; ++bh) {
      size_t s = bh / H, h = bh % H;
      forward_head(y + s * T * C + h * D, lse + bh * T, qkv + s * T * 3 * C + h * D, T, C, D, scale);
    }
  });
}

void fused_bf16_attention_backward(uint16_t* dqkv, const uint16_t* dy, const uint16_t* qkv, const uint16_t* y, const float* lse,
                                   size_t B, size_t T, size_t C, size_t H) {
  size_t D = C / H;
  require_fit(T, D);
  float scale = 1.0f / std::sqrt(float(D));
  thread_local std::vector<float> deltas;  // reused call after call
  deltas.resize(B * H * T);
  float* delta = deltas.data();  // (the name of a thread_local would be another thread's inside parallel_for)
  parallel_for(B * T, 64, [&](size_t r0, size_t r1) { row_deltas(delta, dy, y, r0, r1, T, H, D); });
  parallel_for(B * H, 1, [&](size_t h0, size_t h1) {
    for (size_t bh = h0; bh < h1; ++bh) {
      size_t s = bh / H, h = bh % H;
      backward_head(dqkv + s * T * 3 * C + h * D, dy + s * T * C + h * D, qkv + s * T * 3 * C + h * D, lse + bh * T, delta + bh * T, T, C,
                    D, scale);
    }
  });
}

#else

bool fused_bf16_attention_fits(size_t, size_t) { return false; }

void fused_bf16_attention_forward(uint16_t*, float*, const uint16_t*, size_t, size_t, size_t, size_t) {
  RM_CHECK(false, "INTERNAL", "the AVX-512-BF16 attention kernels exist on x86-64 only");
}

void fused_bf16_attention_backward(uint16_t*, const uint16_t*, const uint16_t*, const uint16_t*, const float*, size_t, size_t, size_t,
                                   size_t) {
  RM_CHECK(false, "INTERNAL", "the AVX-512-BF16 attention kernels exist on x86-64 only");
}

#endif

}  // namespace rm
