// The check of the 16-bit (flash) attention kernels, shared by the emulated run on the CPU
// (emulated_warp_kernels.cc) and the GPU check (gpu_check.cc): q, k, v and the output gradient
// rounded to the precision, as bf16/fp16 training feeds them; the output, the log-sum-exp and
// every gradient against the fp32 reference kernels on the same rounded inputs.
//
// Tolerance: the kernels round P and dS to 16 bits before their products (flash attention's
// numerics), a relative error of up to 2⁻⁹ (bf16) or 2⁻¹² (fp16) per term. Each output must stay
// within tol · max|ref| of the reference, tol = 2⁻⁷ for bf16 and 2⁻¹⁰ for fp16: about four times the
// error rounding alone leaves at these sizes (emulated: 1.9e-3 and 2.4e-4), and far below what a wrong index or a lost tile
// gives (errors of the order of max|ref|).
#pragma once

#include <cmath>
#include <functional>
#include <string>

#include "kernel_cases.h"

namespace rm::check {

struct AttentionRun {
  std::function<void(float* out, float* lse, const float* qkv)> forward;
  std::function<void(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse)> backward;
};

/** "" when got is within tol · max|ref| of ref everywhere; else where it is not. */
inline std::string within(const char* what, const Vec& got, const Vec& ref, double tol, double& worst) {
  double largest = 0;
  for (float r : ref) largest = std::fmax(largest, std::fabs(r));
  for (size_t i = 0; i < ref.size(); ++i) {
    double err = std::fabs(double(got[i]) - ref[i]) / largest;
    if (!(err <= tol)) return std::string(what) + " element " + std::to_string(i) + ": " + std::to_string(got[i]) + " against " + std::to_string(ref[i]);
    worst = std::fmax(worst, err);
  }
  return "";
}

inline void attention16_check(const std::string& impl, Precision p, size_t B, size_t T, size_t C, size_t H, Rng& rng,
                              const AttentionRun& run) {
  auto round = [p](Vec v) {
    for (auto& x : v) x = p == Precision::BF16 ? round_to_bf16(x) : round_to_fp16(x);
    return v;
  };
  Vec qkv = round(random_vec(B * T * 3 * C, rng, -2.0f, 2.0f)), dout = round(random_vec(B * T * C, rng));
  Kernels& ref = cpu_reference_kernels();
  Vec out_ref(B * T * C), lse_ref(B * H * T), dqkv_ref(qkv.size());
  ref.attention_forward(out_ref.data(), lse_ref.data(), qkv.data(), B, T, C, H);
  ref.attention_backward(dqkv_ref.data(), dout.data(), qkv.data(), out_ref.data(), lse_ref.data(), B, T, C, H);
  Vec out(out_ref.size(), std::nanf("")), lse(lse_ref.size(), std::nanf("")), dqkv(qkv.size(), std::nanf(""));
  run.forward(out.data(), lse.data(), qkv.data());
  run.backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data());
  double tol = p == Precision::BF16 ? 1.0 / 128 : 1.0 / 1024, worst = 0;
  std::string where = within("output", out, out_ref, tol, worst);
  if (where.empty()) where = within("log-sum-exp", lse, lse_ref, tol, worst);
  if (where.empty()) where = within("dqkv", dqkv, dqkv_ref, tol, worst);
  std::string name = std::string("attention ") + (p == Precision::BF16 ? "bf16" : "fp16") + " B=" + std::to_string(B) +
                     " T=" + std::to_string(T) + " C=" + std::to_string(C) + " H=" + std::to_string(H);
  report("flash", name, impl, worst, where.empty(), where);
}

// The shapes both runs take: every head size built, several query and key tiles with a ragged
// last one, fewer rows than a tile, and a batch of several heads.
struct AttentionShape {
  size_t B, T, C, H;
};
inline const AttentionShape kAttention16Shapes[] = {{2, 70, 64, 2}, {1, 90, 128, 2}, {1, 80, 128, 1}, {1, 11, 64, 1}};

// The check of `k`'s own attention_forward and attention_backward (the CPU bf16 kernels, or the
// CUDA 16-bit ones behind a staging adapter).
inline void attention16_check(const std::string& impl, Precision p, const AttentionShape& a, Rng& rng, Kernels& k) {
  AttentionRun run{[&](float* out, float* lse, const float* qkv) { k.attention_forward(out, lse, qkv, a.B, a.T, a.C, a.H); },
                   [&](float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse) {
                     k.attention_backward(dqkv, dout, qkv, out, lse, a.B, a.T, a.C, a.H);
                   }};
  attention16_check(impl, p, a.B, a.T, a.C, a.H, rng, run);
}

// Shapes with whole blocks of 16 positions (one block alone, too) and heads of 16, 32, 48, 64 and
// 128 channels: where the CPU's AVX-512-BF16 attention kernels (kernels/cpu/attention_bf16.h) take
// over on a CPU that has them (on one without, these check the oneDNN path with bf16 activations).
inline const AttentionShape kBlockAttentionShapes[] = {{2, 64, 64, 2}, {1, 48, 64, 4}, {3, 32, 96, 2}, {1, 80, 128, 2}, {2, 16, 256, 2}};

// The same check with `k`'s 16-bit activations in and out (q, k, v, y, dy and dq, dk, dv in
// precision p's encodings), as a 16-bit model calls attention.
inline void attention16_activations_check(const std::string& impl, Precision p, const AttentionShape& a, Rng& rng, Kernels& k) {
  size_t n = a.B * a.T * a.C;
  auto widen = [](const Buffer16& b, float* to) {
    Vec v = b.values();
    std::copy(v.begin(), v.end(), to);
  };
  AttentionRun run{[&](float* out, float* lse, const float* qkv) {
                     Buffer16 qkv16(Vec(qkv, qkv + 3 * n), p), out16(n, p);
                     k.attention_forward(out16.view(), lse, qkv16.view(), a.B, a.T, a.C, a.H);
                     widen(out16, out);
                   },
                   [&](float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse) {
                     Buffer16 qkv16(Vec(qkv, qkv + 3 * n), p), dout16(Vec(dout, dout + n), p), out16(Vec(out, out + n), p),
                         dqkv16(3 * n, p);
                     k.attention_backward(dqkv16.view(), dout16.view(), qkv16.view(), out16.view(), lse, a.B, a.T, a.C, a.H);
                     widen(dqkv16, dqkv);
                   }};
  attention16_check(impl, p, a.B, a.T, a.C, a.H, rng, run);
}

}  // namespace rm::check
