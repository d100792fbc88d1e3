// The check of 16-bit activations (Kernels::activation_dtype): every kernel that takes activation
// views, run once with 16-bit activations (inputs and outputs as bf16 or fp16 encodings, the
// residual stream's in fp32, as the GPT stores them) and once with fp32 activations holding the
// same rounded values, on the same kernels (the CPU's bf16 kernels; the CUDA 16-bit ones in
// ringmaster-gpu-check). The 16-bit run's outputs must be the fp32 run's rounded, within one step
// of the type (2⁻⁸ relative for bf16, 2⁻¹¹ for fp16) where the products may sum in another order
// (a 16-bit destination can take another kernel); parameter gradients (fp32 in both) within
// 1e-5 + 1e-4 relative. A kernel that wrote fp32 where 16 bits were asked, read the wrong element
// type or skipped a row is off by orders of magnitude more.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../src/precision/precision.h"
#include "kernel_cases.h"

namespace rm::check {

// One kernel's outputs from the 16-bit run against the fp32 run's: activations rounded to p first,
// parameter gradients as they are.
class Activation16Compare {
 public:
  Activation16Compare(std::string kernel, const Kernels& k, Precision p) : kernel_(std::move(kernel)), impl_(k.name()), p_(p) {}
  void check(const char* what, const Vec& got, const Vec& fp32, bool activation) {
    int step = p_ == Precision::BF16 ? -8 : -11;
    if (activation) cmp_.check(got, rounded_to(fp32, p_), what, [step](double w) { return 1e-6 + std::ldexp(std::fabs(w), step); });
    else cmp_.check(got, fp32, what, [](double w) { return 1e-5 + 1e-4 * std::fabs(w); });
  }
  ~Activation16Compare() { cmp_.report("activation16", kernel_, impl_); }

 private:
  std::string kernel_, impl_;
  Precision p_;
  Comparison cmp_;
};

// k's kernels with p's 16-bit activations against the same kernels with fp32 ones.
inline void activation16_checks(Kernels& k, Precision p, Rng& rng) {
  auto rounded = [p](Vec v) { return rounded_to(std::move(v), p); };
  const size_t N = 24, IN = 16, OUT = 24, C = 32, B = 2, T = 12, H = 2;
  {  // matmul forward and backward with 16-bit in, out, dout and din
    Vec in = rounded(random_vec(N * IN, rng)), w = rounded(random_vec(OUT * IN, rng)), bias = rounded(random_vec(OUT, rng));
    Vec dout = rounded(random_vec(N * OUT, rng));
    Activation16Compare cmp("matmul", k, p);
    Vec out(N * OUT), din(N * IN), dw(OUT * IN), db(OUT);
    k.matmul_forward(out.data(), in.data(), w.data(), bias.data(), N, IN, OUT, Epilogue::None);
    k.matmul_backward(din.data(), dw.data(), db.data(), dout.data(), in.data(), w.data(), N, IN, OUT, false);
    Buffer16 in16(in, p), dout16(dout, p), out16(N * OUT, p), din16(N * IN, p);
    Vec dw16(OUT * IN), db16(OUT);
    k.matmul_forward(out16.view(), in16.view(), w.data(), bias.data(), N, IN, OUT, Epilogue::None);
    k.matmul_backward(din16.view(), dw16.data(), db16.data(), dout16.view(), in16.view(), w.data(), N, IN, OUT, false);
    cmp.check("out", out16.values(), out, true);
    cmp.check("din", din16.values(), din, true);
    cmp.check("dweight", dw16, dw, false);
    cmp.check("dbias", db16, db, false);
  }
  // The GELU pair at a width cuBLASLt's epilogues take (24) and one they do not (20: the
  // fallback kernels on a GPU).
  for (size_t G : {OUT, size_t(20)}) {
    Vec in = rounded(random_vec(N * IN, rng)), w = rounded(random_vec(G * IN, rng)), bias = rounded(random_vec(G, rng));
    Vec w2 = rounded(random_vec(IN * G, rng)), dout2 = rounded(random_vec(N * IN, rng));  // a second product back to IN
    Activation16Compare cmp("matmul_gelu_w" + std::to_string(G), k, p);
    Vec out(N * G), aux(N * G), dx(N * G);  // aux: what the kernels keep for backward (the product, or gelu' at it)
    k.matmul_gelu_forward(out.data(), aux.data(), in.data(), w.data(), bias.data(), N, IN, G);
    Vec aux_rounded = rounded(aux);
    k.matmul_gelu_backward_data(dx.data(), dout2.data(), w2.data(), aux_rounded.data(), N, G, IN);
    Buffer16 in16(in, p), out16(N * G, p), aux16(N * G, p), dx16(N * G, p);
    k.matmul_gelu_forward(out16.view(), aux16.view(), in16.view(), w.data(), bias.data(), N, IN, G);
    k.matmul_gelu_backward_data(dx16.view(), dout2.data(), w2.data(), aux16.view(), N, G, IN);
    cmp.check("out", out16.values(), out, true);
    cmp.check("aux", aux16.values(), aux, true);
    cmp.check("dx", dx16.values(), dx, true);
  }
  {  // LayerNorm: the stream (in) fp32, out, dout and din 16-bit
    Vec in = rounded(random_vec(N * C, rng)), w = rounded(random_vec(C, rng)), bias = rounded(random_vec(C, rng));
    Vec dout = rounded(random_vec(N * C, rng));
    Activation16Compare cmp("layernorm", k, p);
    Vec out(N * C), mean(N), rstd(N), din(N * C), dw(C), db(C);
    k.layernorm_forward(out.data(), mean.data(), rstd.data(), in.data(), w.data(), bias.data(), N, C);
    k.layernorm_backward(din.data(), dw.data(), db.data(), dout.data(), in.data(), w.data(), mean.data(), rstd.data(), N, C, false);
    Buffer16 out16(N * C, p), dout16(dout, p), din16(N * C, p);
    Vec dw16(C), db16(C);
    k.layernorm_forward(out16.view(), mean.data(), rstd.data(), in.data(), w.data(), bias.data(), N, C);
    k.layernorm_backward(din16.view(), dw16.data(), db16.data(), dout16.view(), in.data(), w.data(), mean.data(), rstd.data(), N, C, false);
    cmp.check("out", out16.values(), out, true);
    cmp.check("din", din16.values(), din, true);
    cmp.check("dweight", dw16, dw, false);
    cmp.check("dbias", db16, db, false);
  }
  // Attention, qkv, out, dout and dqkv all 16-bit: heads of 16 (the fp32 kernels on a GPU, through
  // fp32 copies) and of 32 (flash attention).
  for (size_t C2 : {C, 2 * C}) {
    Vec qkv = rounded(random_vec(B * T * 3 * C2, rng)), dout = rounded(random_vec(B * T * C2, rng));
    Activation16Compare cmp("attention_d" + std::to_string(C2 / H), k, p);
    Vec out(B * T * C2), lse(B * H * T), dqkv(B * T * 3 * C2);
    k.attention_forward(out.data(), lse.data(), qkv.data(), B, T, C2, H);
    Vec out_rounded = rounded(out);
    k.attention_backward(dqkv.data(), dout.data(), qkv.data(), out_rounded.data(), lse.data(), B, T, C2, H);
    Buffer16 qkv16(qkv, p), dout16(dout, p), out16(B * T * C2, p), dqkv16(B * T * 3 * C2, p);
    Vec lse16(B * H * T);
    k.attention_forward(out16.view(), lse16.data(), qkv16.view(), B, T, C2, H);
    k.attention_backward(dqkv16.view(), dout16.view(), qkv16.view(), out16.view(), lse16.data(), B, T, C2, H);
    cmp.check("out", out16.values(), out, true);
    cmp.check("lse", lse16, lse, false);
    cmp.check("dqkv", dqkv16.values(), dqkv, true);
  }
  {  // softmax cross-entropy: logits and their gradient 16-bit (a 16-bit model's head)
    const size_t V = 300;  // wider than a GPU block's threads
    Vec logits = rounded(random_vec(N * V, rng, -3, 3));
    std::vector<int32_t> labels(N);
    for (size_t n = 0; n < N; ++n) labels[n] = int32_t((n * 37) % V);
    Activation16Compare cmp("cross_entropy", k, p);
    Vec dlogits(N * V);
    CrossEntropyResult r = k.cross_entropy(dlogits.data(), logits.data(), labels.data(), N, V, 2.0f);
    Buffer16 logits16(logits, p), dlogits16(N * V, p);
    CrossEntropyResult r16 = k.cross_entropy(dlogits16.view(), logits16.view(), labels.data(), N, V, 2.0f);
    cmp.check("dlogits", dlogits16.values(), dlogits, true);
    cmp.check("loss", Vec{float(r16.loss_sum), float(r16.correct)}, Vec{float(r.loss_sum), float(r.correct)}, false);
  }
  {  // the residual connection: the stream fp32, the branch 16-bit
    Vec a = rounded(random_vec(N * C, rng)), b = rounded(random_vec(N * C, rng));
    Activation16Compare cmp("residual", k, p);
    Vec out(N * C), out16(N * C), sum = a, sum16 = a;
    k.residual_forward(out.data(), a.data(), b.data(), N * C);
    Buffer16 b16(b, p);
    k.residual_forward(out16.data(), a.data(), b16.view(), N * C);
    k.add_into(sum.data(), b.data(), N * C);
    k.add_into(sum16.data(), b16.view(), N * C);
    cmp.check("out", out16, out, false);
    cmp.check("add_into", sum16, sum, false);
  }
}

}  // namespace rm::check
