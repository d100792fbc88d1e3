// The check of 16-bit activations (Kernels::activation_dtype): every kernel that takes activation
// views, run once with bf16 activations (inputs and outputs as bf16 encodings, the residual
// stream's in fp32, as the GPT stores them) and once with fp32 activations holding the same
// bf16-rounded values, on the same kernels. The bf16 run's outputs must be the fp32 run's rounded
// to bf16, within one bf16 step (2⁻⁸ relative) where the products may sum in another order (a
// bf16 destination can take another oneDNN kernel); parameter gradients (fp32 in both) within
// 1e-5 + 1e-4 relative. A kernel that wrote fp32 where bf16 was asked, read the wrong element type
// or skipped a row is off by orders of magnitude more.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../src/precision/precision.h"
#include "kernel_cases.h"

namespace rm::check {

// A buffer of n bf16 activations, filled from (rounded) fp32 values or read back as fp32.
struct Bf16Buffer {
  std::vector<uint16_t> bits;
  explicit Bf16Buffer(size_t n) : bits(n, 0x7fc0) {}  // NaN until written
  explicit Bf16Buffer(const Vec& v) : bits(v.size()) {
    for (size_t i = 0; i < v.size(); ++i) bits[i] = bf16_bits_rounded(v[i]);
  }
  View view() { return {bits.data(), DType::BF16}; }
  Vec values() const {
    Vec v(bits.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = bf16_value(bits[i]);
    return v;
  }
};

inline Vec rounded(Vec v) {
  for (float& x : v) x = round_to_bf16(x);
  return v;
}

// Compares one output of the bf16 run with the fp32 run's (rounded when `activation`).
class Activation16Compare {
 public:
  explicit Activation16Compare(std::string kernel) : kernel_(std::move(kernel)) {}
  void check(const char* what, const Vec& got, const Vec& fp32, bool activation) {
    for (size_t i = 0; i < fp32.size(); ++i) {
      double want = activation ? round_to_bf16(fp32[i]) : fp32[i];
      double err = std::fabs(double(got[i]) - want), tol = activation ? 1e-6 + std::ldexp(std::fabs(want), -8) : 1e-5 + 1e-4 * std::fabs(want);
      worst_ = std::fmax(worst_, err);
      if (!(err <= tol) && ok_) ok_ = false, where_ = std::string(what) + "[" + std::to_string(i) + "]";
    }
  }
  ~Activation16Compare() { report("activation16", kernel_, cpu_fast_bf16_kernels().name(), worst_, ok_, where_); }

 private:
  std::string kernel_, where_;
  double worst_ = 0;
  bool ok_ = true;
};

inline void activation16_checks(Kernels& k, Rng& rng) {
  const size_t N = 24, IN = 16, OUT = 24, C = 32, B = 2, T = 12, H = 2;
  {  // matmul forward and backward, the GELU pair, with bf16 in, out, dout and din
    Vec in = rounded(random_vec(N * IN, rng)), w = rounded(random_vec(OUT * IN, rng)), bias = rounded(random_vec(OUT, rng));
    Vec dout = rounded(random_vec(N * OUT, rng));
    Activation16Compare cmp("matmul");
    Vec out(N * OUT), din(N * IN), dw(OUT * IN), db(OUT);
    k.matmul_forward(out.data(), in.data(), w.data(), bias.data(), N, IN, OUT, Epilogue::None);
    k.matmul_backward(din.data(), dw.data(), db.data(), dout.data(), in.data(), w.data(), N, IN, OUT, false);
    Bf16Buffer in16(in), dout16(dout), out16(N * OUT), din16(N * IN);
    Vec dw16(OUT * IN), db16(OUT);
    k.matmul_forward(out16.view(), in16.view(), w.data(), bias.data(), N, IN, OUT, Epilogue::None);
    k.matmul_backward(din16.view(), dw16.data(), db16.data(), dout16.view(), in16.view(), w.data(), N, IN, OUT, false);
    cmp.check("out", out16.values(), out, true);
    cmp.check("din", din16.values(), din, true);
    cmp.check("dweight", dw16, dw, false);
    cmp.check("dbias", db16, db, false);
  }
  {
    Vec in = rounded(random_vec(N * IN, rng)), w = rounded(random_vec(OUT * IN, rng)), bias = rounded(random_vec(OUT, rng));
    Vec w2 = rounded(random_vec(IN * OUT, rng)), dout2 = rounded(random_vec(N * IN, rng));  // a second product back to IN
    Activation16Compare cmp("matmul_gelu");
    Vec out(N * OUT), pre(N * OUT), dpre(N * OUT);
    k.matmul_gelu_forward(out.data(), pre.data(), in.data(), w.data(), bias.data(), N, IN, OUT);
    Vec pre_rounded = rounded(pre);
    k.matmul_gelu_backward_data(dpre.data(), dout2.data(), w2.data(), pre_rounded.data(), N, OUT, IN);
    Bf16Buffer in16(in), out16(N * OUT), pre16(N * OUT), dpre16(N * OUT);
    k.matmul_gelu_forward(out16.view(), pre16.view(), in16.view(), w.data(), bias.data(), N, IN, OUT);
    k.matmul_gelu_backward_data(dpre16.view(), dout2.data(), w2.data(), pre16.view(), N, OUT, IN);
    cmp.check("out", out16.values(), out, true);
    cmp.check("pre", pre16.values(), pre, true);
    cmp.check("dpre", dpre16.values(), dpre, true);
  }
  {  // LayerNorm: the stream (in) fp32, out, dout and din bf16
    Vec in = rounded(random_vec(N * C, rng)), w = rounded(random_vec(C, rng)), bias = rounded(random_vec(C, rng));
    Vec dout = rounded(random_vec(N * C, rng));
    Activation16Compare cmp("layernorm");
    Vec out(N * C), mean(N), rstd(N), din(N * C), dw(C), db(C);
    k.layernorm_forward(out.data(), mean.data(), rstd.data(), in.data(), w.data(), bias.data(), N, C);
    k.layernorm_backward(din.data(), dw.data(), db.data(), dout.data(), in.data(), w.data(), mean.data(), rstd.data(), N, C, false);
    Bf16Buffer out16(N * C), dout16(dout), din16(N * C);
    Vec dw16(C), db16(C);
    k.layernorm_forward(out16.view(), mean.data(), rstd.data(), in.data(), w.data(), bias.data(), N, C);
    k.layernorm_backward(din16.view(), dw16.data(), db16.data(), dout16.view(), in.data(), w.data(), mean.data(), rstd.data(), N, C, false);
    cmp.check("out", out16.values(), out, true);
    cmp.check("din", din16.values(), din, true);
    cmp.check("dweight", dw16, dw, false);
    cmp.check("dbias", db16, db, false);
  }
  {  // attention: qkv, out, dout and dqkv all bf16
    Vec qkv = rounded(random_vec(B * T * 3 * C, rng)), dout = rounded(random_vec(B * T * C, rng));
    Activation16Compare cmp("attention");
    Vec out(B * T * C), lse(B * H * T), dqkv(B * T * 3 * C);
    k.attention_forward(out.data(), lse.data(), qkv.data(), B, T, C, H);
    Vec out_rounded = rounded(out);
    k.attention_backward(dqkv.data(), dout.data(), qkv.data(), out_rounded.data(), lse.data(), B, T, C, H);
    Bf16Buffer qkv16(qkv), dout16(dout), out16(B * T * C), dqkv16(B * T * 3 * C);
    Vec lse16(B * H * T);
    k.attention_forward(out16.view(), lse16.data(), qkv16.view(), B, T, C, H);
    k.attention_backward(dqkv16.view(), dout16.view(), qkv16.view(), out16.view(), lse16.data(), B, T, C, H);
    cmp.check("out", out16.values(), out, true);
    cmp.check("lse", lse16, lse, false);
    cmp.check("dqkv", dqkv16.values(), dqkv, true);
  }
  {  // the residual connection: the stream fp32, the branch bf16
    Vec a = rounded(random_vec(N * C, rng)), b = rounded(random_vec(N * C, rng));
    Activation16Compare cmp("residual");
    Vec out(N * C), out16(N * C), sum = a, sum16 = a;
    k.residual_forward(out.data(), a.data(), b.data(), N * C);
    Bf16Buffer b16(b);
    k.residual_forward(out16.data(), a.data(), b16.view(), N * C);
    k.add_into(sum.data(), b.data(), N * C);
    k.add_into(sum16.data(), b16.view(), N * C);
    cmp.check("out", out16, out, false);
    cmp.check("add_into", sum16, sum, false);
  }
}

}  // namespace rm::check
