// The kernel checks every device's kernels go through (kernels/kernels.h), on tiny shapes with
// host buffers: kernel-check runs them on the CPU implementations, ringmaster-gpu-check on the
// CUDA kernels (through StagedKernels, which moves each call's buffers to the GPU and back).
//   gradcheck   backward against central finite differences of L = Σ out·w for a fixed random
//               w (so dout = w), for every element of every input, in float64 sums of the
//               kernels' fp32 outputs;
//   accumulate  parameter gradients assign, then add, as the interface promises;
//   fast        another implementation's outputs and gradients against the reference's;
// (contract_checks.h has the checks of the decoding, weight-row and optimizer kernels.)
// Each check prints one JSON object (test/native/kernels.test.ts reads them).
//
// Tolerances: with h = 1e-2 each L(v ± h) carries fp32 rounding of about 1e-7·Σ|w|, which the
// quotient divides by 2h, and the truncation error h²/6·L''' stays near 1e-5 for these smooth
// functions; |num − ana| ≤ 2e-3 + 2e-2·|ana| sits well above both and far below any real bug.
// Against the reference: |other − ref| ≤ 1e-5 + 1e-4·|ref| (fp32 sums in another order).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../src/core/rng.h"
#include "../src/kernels/kernels.h"

namespace rm::check {


using Vec = std::vector<float>;

// A kernel under test: named inputs (activations and parameters), which of them are
// parameters (their gradients may accumulate), and its forward and backward.
struct Case {
  std::string name;
  std::vector<std::string> names;
  std::vector<Vec> inputs;
  std::vector<bool> is_param;
  size_t out_size;
  std::function<void(Kernels&, const std::vector<Vec>&, Vec& out)> forward;
  // grads[i] (+)= ∂L/∂inputs[i] for dout; parameters accumulate when `accumulate`.
  std::function<void(Kernels&, const std::vector<Vec>&, const Vec& dout, std::vector<Vec>& grads, bool accumulate)> backward;
};

inline Vec random_vec(size_t n, Rng& rng, float lo = -1.0f, float hi = 1.0f) {
  Vec v(n);
  for (auto& x : v) x = rng.uniform(lo, hi);
  return v;
}

inline double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

inline bool failed_any = false;

inline void report(const std::string& check, const std::string& kernel, const std::string& impl, double worst, bool ok,
            const std::string& where) {
  std::printf("{\"check\":\"%s\",\"kernel\":\"%s\",\"impl\":\"%s\",\"worst\":%.3g,\"ok\":%s,\"where\":\"%s\"}\n",
              check.c_str(), kernel.c_str(), impl.c_str(), worst, ok ? "true" : "false", where.c_str());
  failed_any |= !ok;
}

// Outputs against expected values, element by element: the worst |error| and the first element
// out of tolerance (a NaN, an output never written, fails), then one report line.
struct Comparison {
  double worst = 0;
  bool ok = true;
  std::string where;
  // tolerance(want): how far an output may be from the expected value `want`.
  template <class Tolerance>
  void check(const Vec& got, const Vec& want, const std::string& what, Tolerance tolerance) {
    for (size_t i = 0; i < want.size(); ++i) {
      double err = std::fabs(double(got[i]) - want[i]);
      worst = std::fmax(worst, err);
      if (!(err <= tolerance(double(want[i])))) fail(what + "[" + std::to_string(i) + "]");
    }
  }
  void fail(const std::string& at) {
    if (ok) ok = false, where = at;
  }
  void report(const std::string& kind, const std::string& kernel, const std::string& impl) const {
    rm::check::report(kind, kernel, impl, worst, ok, where);
  }
};

// n activations of a 16-bit type p as their encodings, from fp32 values (rounded to p) or NaN
// until written, and read back as fp32: what a model storing 16-bit activations hands a kernel.
struct Buffer16 {
  std::vector<uint16_t> bits;
  Precision p;
  Buffer16(size_t n, Precision type) : bits(n, 0xffff), p(type) {}  // all ones: NaN in bf16 and fp16
  Buffer16(const Vec& values, Precision type) : bits(values.size()), p(type) {
    for (size_t i = 0; i < values.size(); ++i)
      bits[i] = p == Precision::BF16 ? bf16_bits(round_to_bf16(values[i])) : fp16_bits(round_to_fp16(values[i]));
  }
  View view() { return {bits.data(), p == Precision::BF16 ? DType::BF16 : DType::F16}; }
  Elements elements() { return {bits.data(), p}; }
  Vec values() const {
    Vec v(bits.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = p == Precision::BF16 ? bf16_value(bits[i]) : fp16_value(bits[i]);
    return v;
  }
};

// v rounded to p (precision.h's round_to).
inline Vec rounded_to(Vec v, Precision p) {
  round_to(p, v.data(), v.size());
  return v;
}

inline std::vector<Vec> gradients(Kernels& k, const Case& c, const Vec& w, bool accumulate_twice) {
  Vec out(c.out_size);
  c.forward(k, c.inputs, out);  // backward reads what the forward at this point kept
  std::vector<Vec> grads;
  for (const auto& in : c.inputs) grads.emplace_back(in.size(), 0.0f);
  c.backward(k, c.inputs, w, grads, false);
  if (accumulate_twice) c.backward(k, c.inputs, w, grads, true);
  return grads;
}

inline void gradcheck(Kernels& k, const Case& c, const Vec& w) {
  constexpr float h = 1e-2f;
  auto grads = gradients(k, c, w, false);
  double worst = 0;
  bool ok = true;
  std::string where;
  Vec out(c.out_size);
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    auto inputs = c.inputs;
    for (size_t j = 0; j < inputs[i].size(); ++j) {
      float v = inputs[i][j];
      inputs[i][j] = v + h;
      c.forward(k, inputs, out);
      double plus = dot(out, w);
      inputs[i][j] = v - h;
      c.forward(k, inputs, out);
      double minus = dot(out, w);
      inputs[i][j] = v;
      double num = (plus - minus) / (2.0 * h), ana = grads[i][j];
      double err = std::fabs(num - ana), tol = 2e-3 + 2e-2 * std::fabs(ana);
      worst = std::max(worst, err);
      if (err > tol && ok) {
        ok = false;
        where = c.names[i] + "[" + std::to_string(j) + "]: analytical " + std::to_string(ana) + ", numerical " + std::to_string(num);
      }
    }
  }
  report("gradcheck", c.name, k.name(), worst, ok, where);
}

inline void accumulate_check(Kernels& k, const Case& c, const Vec& w) {
  auto once = gradients(k, c, w, false), twice = gradients(k, c, w, true);
  double worst = 0;
  bool ok = true;
  std::string where;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    double factor = c.is_param[i] ? 2.0 : 1.0;  // activation gradients assign: the same again
    for (size_t j = 0; j < once[i].size(); ++j) {
      double err = std::fabs(twice[i][j] - factor * once[i][j]);
      worst = std::max(worst, err);
      if (err > 1e-6 + 1e-6 * std::fabs(once[i][j]) && ok) ok = false, where = c.names[i] + "[" + std::to_string(j) + "]";
    }
  }
  report("accumulate", c.name, k.name(), worst, ok, where);
}

inline void fast_against_reference(const Case& c, const Vec& w, Kernels& fast) {
  Kernels& ref = cpu_reference_kernels();
  Vec out_ref(c.out_size), out_fast(c.out_size);
  c.forward(ref, c.inputs, out_ref);
  c.forward(fast, c.inputs, out_fast);
  auto g_ref = gradients(ref, c, w, false), g_fast = gradients(fast, c, w, false);
  Comparison cmp;
  auto tolerance = [](double r) { return 1e-5 + 1e-4 * std::fabs(r); };
  cmp.check(out_fast, out_ref, "out", tolerance);
  for (size_t i = 0; i < c.inputs.size(); ++i) cmp.check(g_fast[i], g_ref[i], "d" + c.names[i], tolerance);
  cmp.report("fast", c.name, fast.name());
}

// Causal attention over qkv[B, T, 3C] with H heads.
inline Case attention_case(size_t B, size_t T, size_t C, size_t H, Rng& rng) {
  auto lse = std::make_shared<Vec>(B * H * T);
  auto out_kept = std::make_shared<Vec>(B * T * C);
  return {"attention", {"qkv"}, {random_vec(B * T * 3 * C, rng)}, {false}, B * T * C,
          [=](Kernels& k, const std::vector<Vec>& x, Vec& out) {
            k.attention_forward(out.data(), lse->data(), x[0].data(), B, T, C, H);
            *out_kept = out;
          },
          [=](Kernels& k, const std::vector<Vec>& x, const Vec& dout, std::vector<Vec>& g, bool) {
            k.attention_backward(g[0].data(), dout.data(), x[0].data(), out_kept->data(), lse->data(), B, T, C, H);
          }};
}

inline std::vector<Case> cases(Rng& rng) {
  std::vector<Case> all;
  {  // matmul: N=6 rows, IN=5, OUT=4
    size_t N = 6, IN = 5, OUT = 4;
    all.push_back({"matmul", {"in", "weight", "bias"}, {random_vec(N * IN, rng), random_vec(OUT * IN, rng), random_vec(OUT, rng)},
                   {false, true, true}, N * OUT,
                   [=](Kernels& k, const std::vector<Vec>& x, Vec& out) { k.matmul_forward(out.data(), x[0].data(), x[1].data(), x[2].data(), N, IN, OUT, Epilogue::None); },
                   [=](Kernels& k, const std::vector<Vec>& x, const Vec& dout, std::vector<Vec>& g, bool acc) {
                     k.matmul_backward(g[0].data(), g[1].data(), g[2].data(), dout.data(), x[0].data(), x[1].data(), N, IN, OUT, acc);
                   }});
  }
  {  // matmul with the ReLU epilogue; backward through relu_backward, as a fused layer runs it
    size_t N = 6, IN = 5, OUT = 4;
    auto kept = std::make_shared<Vec>(N * OUT);
    all.push_back({"matmul_relu", {"in", "weight", "bias"}, {random_vec(N * IN, rng), random_vec(OUT * IN, rng), random_vec(OUT, rng)},
                   {false, true, true}, N * OUT,
                   [=](Kernels& k, const std::vector<Vec>& x, Vec& out) {
                     k.matmul_forward(out.data(), x[0].data(), x[1].data(), x[2].data(), N, IN, OUT, Epilogue::Relu);
                     *kept = out;
                   },
                   [=](Kernels& k, const std::vector<Vec>& x, const Vec& dout, std::vector<Vec>& g, bool acc) {
                     Vec masked(N * OUT);
                     k.relu_backward(masked.data(), dout.data(), kept->data(), N * OUT);
                     k.matmul_backward(g[0].data(), g[1].data(), g[2].data(), masked.data(), x[0].data(), x[1].data(), N, IN, OUT, acc);
                   }});
  }
  {  // conv2d 3×3: B=2, H=4, W=3, IC=3, OC=4, plain and with the ReLU epilogue
    size_t B = 2, H = 4, W = 3, IC = 3, OC = 4;
    for (Epilogue e : {Epilogue::None, Epilogue::Relu}) {
      auto kept = std::make_shared<Vec>(B * H * W * OC);
      all.push_back({e == Epilogue::Relu ? "conv2d_relu" : "conv2d", {"in", "weight", "bias"},
                     {random_vec(B * H * W * IC, rng), random_vec(OC * IC * 9, rng), random_vec(OC, rng)}, {false, true, true}, B * H * W * OC,
                     [=](Kernels& k, const std::vector<Vec>& x, Vec& out) {
                       k.conv2d_forward(out.data(), x[0].data(), x[1].data(), x[2].data(), B, H, W, IC, OC, e);
                       *kept = out;
                     },
                     [=](Kernels& k, const std::vector<Vec>& x, const Vec& dout, std::vector<Vec>& g, bool acc) {
                       Vec masked = dout;
                       if (e == Epilogue::Relu) k.relu_backward(masked.data(), dout.data(), kept->data(), masked.size());
                       k.conv2d_backward(g[0].data(), g[1].data(), g[2].data(), masked.data(), x[0].data(), x[1].data(), B, H, W, IC, OC, acc);
                     }});
    }
  }
  {  // maxpool 2×2: B=2, H=4, W=6, C=3; each window's taps a base plus a shuffle of {0, .2, .4, .6}
     // (distinct by far more than h, so no maximum flips); bases keep every window either wholly
     // below −0.1 or above 0.1, so in the relu_input case no value crosses the ReLU's kink
    size_t B = 2, H = 4, W = 6, C = 3;
    Vec x(B * H * W * C);
    for (size_t b = 0; b < B; ++b)
      for (size_t oy = 0; oy < H / 2; ++oy)
        for (size_t ox = 0; ox < W / 2; ++ox)
          for (size_t c = 0; c < C; ++c) {
            float levels[4] = {0.0f, 0.2f, 0.4f, 0.6f};
            for (size_t j = 3; j > 0; --j) std::swap(levels[j], levels[size_t(rng.uniform(0.0f, float(j) + 0.999f))]);
            float base = rng.uniform(0.0f, 1.0f) < 0.5f ? rng.uniform(-1.5f, -0.75f) : rng.uniform(0.1f, 0.5f);
            for (size_t t = 0; t < 4; ++t) x[((b * H + 2 * oy + t / 2) * W + 2 * ox + t % 2) * C + c] = base + levels[t];
          }
    for (bool relu_input : {false, true}) {
      auto kept = std::make_shared<Vec>(B * H * W * C / 4);
      // With relu_input the pool reads a ReLU's output: the check's forward applies the ReLU,
      // so the pool's gradient must include its derivative.
      all.push_back({relu_input ? "maxpool2d_relu_input" : "maxpool2d", {"in"}, {x}, {false}, B * H * W * C / 4,
                     [=](Kernels& k, const std::vector<Vec>& v, Vec& out) {
                       Vec in = v[0];
                       if (relu_input) k.relu_forward(in.data(), v[0].data(), in.size());
                       k.maxpool2d_forward(out.data(), in.data(), B, H, W, C);
                       *kept = out;
                     },
                     [=](Kernels& k, const std::vector<Vec>& v, const Vec& dout, std::vector<Vec>& g, bool) {
                       Vec in = v[0];
                       if (relu_input) k.relu_forward(in.data(), v[0].data(), in.size());
                       k.maxpool2d_backward(g[0].data(), dout.data(), in.data(), kept->data(), B, H, W, C, relu_input);
                     }});
    }
  }
  {  // flatten: B=2, HW=6, C=3
    size_t B = 2, HW = 6, C = 3;
    all.push_back({"flatten", {"in"}, {random_vec(B * HW * C, rng)}, {false}, B * HW * C,
                   [=](Kernels& k, const std::vector<Vec>& x, Vec& out) { k.flatten_forward(out.data(), x[0].data(), B, HW, C); },
                   [=](Kernels& k, const std::vector<Vec>&, const Vec& dout, std::vector<Vec>& g, bool) {
                     k.flatten_backward(g[0].data(), dout.data(), B, HW, C);
                   }});
  }
  {  // relu over 40 values away from the kink (|x| ≥ 0.1 ≫ h)
    size_t n = 40;
    Vec x = random_vec(n, rng, 0.1f, 1.0f);
    for (size_t i = 0; i < n; i += 2) x[i] = -x[i];
    auto kept = std::make_shared<Vec>(n);
    all.push_back({"relu", {"in"}, {x}, {false}, n,
                   [=](Kernels& k, const std::vector<Vec>& v, Vec& out) {
                     k.relu_forward(out.data(), v[0].data(), n);
                     *kept = out;
                   },
                   [=](Kernels& k, const std::vector<Vec>&, const Vec& dout, std::vector<Vec>& g, bool) {
                     k.relu_backward(g[0].data(), dout.data(), kept->data(), n);
                   }});
  }
  {  // layernorm: N=4 rows of C=7
    size_t N = 4, C = 7;
    auto stats = std::make_shared<std::pair<Vec, Vec>>(Vec(N), Vec(N));
    all.push_back({"layernorm", {"in", "weight", "bias"}, {random_vec(N * C, rng, -2, 2), random_vec(C, rng, 0.5f, 1.5f), random_vec(C, rng)},
                   {false, true, true}, N * C,
                   [=](Kernels& k, const std::vector<Vec>& x, Vec& out) {
                     k.layernorm_forward(out.data(), stats->first.data(), stats->second.data(), x[0].data(), x[1].data(), x[2].data(), N, C);
                   },
                   [=](Kernels& k, const std::vector<Vec>& x, const Vec& dout, std::vector<Vec>& g, bool acc) {
                     k.layernorm_backward(g[0].data(), g[1].data(), g[2].data(), dout.data(), x[0].data(), x[1].data(),
                                          stats->first.data(), stats->second.data(), N, C, acc);
                   }});
  }
  all.push_back(attention_case(2, 5, 8, 2, rng));  // causal attention: B=2, T=5, C=8, H=2
  {  // gelu over 40 values in [-3, 3]
    size_t n = 40;
    all.push_back({"gelu", {"in"}, {random_vec(n, rng, -3, 3)}, {false}, n,
                   [=](Kernels& k, const std::vector<Vec>& x, Vec& out) { k.gelu_forward(out.data(), x[0].data(), n); },
                   [=](Kernels& k, const std::vector<Vec>& x, const Vec& dout, std::vector<Vec>& g, bool) {
                     k.gelu_backward(g[0].data(), dout.data(), x[0].data(), n);
                   }});
  }
  {  // embedding: B=2, T=3, C=4, V=5, with a repeated token
    size_t B = 2, T = 3, C = 4, V = 5;
    std::vector<int32_t> tokens = {1, 4, 1, 0, 3, 4};
    all.push_back({"embedding", {"wte", "wpe"}, {random_vec(V * C, rng), random_vec(T * C, rng)}, {true, true}, B * T * C,
                   [=](Kernels& k, const std::vector<Vec>& x, Vec& out) { k.embedding_forward(out.data(), tokens.data(), x[0].data(), x[1].data(), B, T, C); },
                   [=](Kernels& k, const std::vector<Vec>&, const Vec& dout, std::vector<Vec>& g, bool acc) {
                     k.embedding_backward(g[0].data(), g[1].data(), dout.data(), tokens.data(), B, T, C, V, acc, acc);
                   }});
  }
  {  // residual: out = a + b; its backward hands dout to both (add_into joins it to a stream)
    size_t n = 12;
    all.push_back({"residual", {"a", "b"}, {random_vec(n, rng), random_vec(n, rng)}, {false, false}, n,
                   [=](Kernels& k, const std::vector<Vec>& x, Vec& out) { k.residual_forward(out.data(), x[0].data(), x[1].data(), n); },
                   [=](Kernels& k, const std::vector<Vec>&, const Vec& dout, std::vector<Vec>& g, bool) {
                     std::fill(g[0].begin(), g[0].end(), 0.0f);
                     std::fill(g[1].begin(), g[1].end(), 0.0f);
                     k.add_into(g[0].data(), dout.data(), n);
                     k.add_into(g[1].data(), dout.data(), n);
                   }});
  }
  {  // cross-entropy over N=6 positions of V=5 (L = w₀ · Σ loss)
    size_t N = 6, V = 5;
    std::vector<int32_t> labels = {0, 4, 2, 2, 1, 3};
    all.push_back({"cross_entropy", {"logits"}, {random_vec(N * V, rng, -2, 2)}, {false}, 1,
                   [=](Kernels& k, const std::vector<Vec>& x, Vec& out) {
                     out[0] = float(k.cross_entropy(nullptr, x[0].data(), labels.data(), N, V, 1.0f).loss_sum);
                   },
                   [=](Kernels& k, const std::vector<Vec>& x, const Vec& dout, std::vector<Vec>& g, bool) {
                     k.cross_entropy(g[0].data(), x[0].data(), labels.data(), N, V, dout[0] * float(N));
                   }});
  }
  // A transformer MLP through the kernels that fuse GELU into the products beside it: out =
  // gelu(in · w1ᵀ + b1) · w2ᵀ, N=6, IN=5, OUT=4; a hidden width of 16 (cuBLASLt's GELU epilogues
  // take it) and of 12 (not a multiple of 8: the CUDA kernels fall back to the composed ones).
  for (size_t H : {size_t(16), size_t(12)}) {
    size_t N = 6, IN = 5, OUT = 4;
    auto pre = std::make_shared<Vec>(N * H), act = std::make_shared<Vec>(N * H);
    all.push_back({"mlp_gelu_h" + std::to_string(H), {"in", "w1", "b1", "w2"},
                   {random_vec(N * IN, rng), random_vec(H * IN, rng), random_vec(H, rng), random_vec(OUT * H, rng)},
                   {false, true, true, true}, N * OUT,
                   [=](Kernels& k, const std::vector<Vec>& x, Vec& out) {
                     k.matmul_gelu_forward(act->data(), pre->data(), x[0].data(), x[1].data(), x[2].data(), N, IN, H);
                     k.matmul_forward(out.data(), act->data(), x[3].data(), nullptr, N, H, OUT, Epilogue::None);
                   },
                   [=](Kernels& k, const std::vector<Vec>& x, const Vec& dout, std::vector<Vec>& g, bool acc) {
                     Vec dpre(N * H);
                     k.matmul_backward(nullptr, g[3].data(), nullptr, dout.data(), act->data(), x[3].data(), N, H, OUT, acc);
                     k.matmul_gelu_backward_data(dpre.data(), dout.data(), x[3].data(), pre->data(), N, H, OUT);
                     k.matmul_backward(g[0].data(), g[1].data(), g[2].data(), dpre.data(), x[0].data(), x[1].data(), N, IN, H, acc);
                   }});
  }
  return all;
}

}  // namespace rm::check
