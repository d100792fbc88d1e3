// Checks of three kernels' own contracts, beside kernel_cases.h's checks of every kernel:
//   decode      one query against a KV cache equals the full causal attention's row;
//   rows        the weight-row product of sufficient factors equals those rows of the full
//               matmul backward, and leaves every other row alone;
//   update      the optimizer's passes (AdamW, SGD, Σ x², bf16/fp16 rounding) against the
//               reference's.
// Each prints one JSON object, as kernel_cases.h's do.
#pragma once

#include "kernel_cases.h"

namespace rm::check {

// Decoding: attention_step over a cache equals attention_forward's row t, for every t.
inline void decode_check(Kernels& k) {
  size_t T = 6, C = 8, H = 2;
  Rng rng(7);
  Vec qkv = random_vec(T * 3 * C, rng), full(T * C), lse(H * T), step(C), keys(T * C), values(T * C);
  k.attention_forward(full.data(), lse.data(), qkv.data(), 1, T, C, H);
  double worst = 0;
  for (size_t t = 0; t < T; ++t) {
    std::copy_n(qkv.data() + t * 3 * C + C, C, keys.data() + t * C);
    std::copy_n(qkv.data() + t * 3 * C + 2 * C, C, values.data() + t * C);
    k.attention_step(step.data(), qkv.data() + t * 3 * C, keys.data(), values.data(), t, C, H);
    for (size_t c = 0; c < C; ++c) worst = std::max(worst, std::fabs(double(step[c]) - full[t * C + c]));
  }
  report("decode", "attention", k.name(), worst, worst <= 1e-5, worst <= 1e-5 ? "" : "attention_step differs from attention_forward");
}

// matmul_weight_rows over rows [r0, r1) equals those rows of matmul_backward's parameter
// gradients, assigning and accumulating, and never writes another row (poisoned with NaN).
inline void weight_rows_check(Kernels& k) {
  size_t N = 7, IN = 5, OUT = 6, r0 = 2, r1 = 5;
  Rng rng(11);
  Vec in = random_vec(N * IN, rng), dout = random_vec(N * OUT, rng), weight = random_vec(OUT * IN, rng);
  Vec dw_full(OUT * IN), db_full(OUT);
  k.matmul_backward(nullptr, dw_full.data(), db_full.data(), dout.data(), in.data(), weight.data(), N, IN, OUT, false);
  double worst = 0;
  bool ok = true;
  for (bool accumulate : {false, true}) {
    Vec dw(OUT * IN, std::nanf("")), db(OUT, std::nanf(""));
    for (size_t o = r0; o < r1; ++o) {
      db[o] = accumulate ? 1.0f : db[o];
      for (size_t i = 0; i < IN; ++i) dw[o * IN + i] = accumulate ? 1.0f : dw[o * IN + i];
    }
    k.matmul_weight_rows(dw.data(), db.data(), dout.data(), in.data(), N, IN, OUT, r0, r1, accumulate);
    float base = accumulate ? 1.0f : 0.0f;
    for (size_t o = 0; o < OUT; ++o) {
      bool mine = o >= r0 && o < r1;
      ok &= mine ? std::fabs(db[o] - base - db_full[o]) <= 1e-5f : std::isnan(db[o]);
      for (size_t i = 0; i < IN; ++i) {
        float v = dw[o * IN + i];
        if (!mine) {
          ok &= std::isnan(v);
          continue;
        }
        double err = std::fabs(double(v) - base - dw_full[o * IN + i]);
        worst = std::max(worst, err);
        ok &= err <= 1e-5;
      }
    }
  }
  report("rows", "matmul_weight_rows", k.name(), worst, ok, ok ? "" : "rows differ from matmul_backward's, or another row was written");
}

// The optimizer's passes of `k` against the reference's on the same random buffers: AdamW with a
// bf16 copy, SGD with Nesterov momentum and an fp16 copy, the roundings, and Σ x². The updates
// run the same formulas element by element, so they agree within a few ulps (compilers contract
// multiply-adds differently): 1e-6 of max(1, |x|); the roundings exactly; the squares to 1e-6
// relative.
inline void update_check(Kernels& k) {
  Kernels& ref = cpu_reference_kernels();
  Rng rng(17);
  size_t n = 1000;
  Vec p = random_vec(n, rng), m = random_vec(n, rng, -0.1f, 0.1f), v = random_vec(n, rng, 0.0f, 0.01f), g = random_vec(n, rng);
  Comparison cmp;
  auto compare = [&](const Vec& a, const Vec& b, const std::string& what) {
    cmp.check(a, b, what, [](double want) { return 1e-6 * std::max(1.0, std::fabs(want)); });
  };
  {
    AdamWCoefficients c{1.0f - 1e-3f * 0.1f, 0.9f, 0.99f, 1e-3f / 0.1f, 1.0f / std::sqrt(0.01f), 1e-8f};
    Vec p1 = p, m1 = m, v1 = v, low1(n), p2 = p, m2 = m, v2 = v, low2(n);
    k.adamw_step(p1.data(), m1.data(), v1.data(), g.data(), low1.data(), n, 0.5f, c, Precision::BF16);
    ref.adamw_step(p2.data(), m2.data(), v2.data(), g.data(), low2.data(), n, 0.5f, c, Precision::BF16);
    compare(p1, p2, "adamw p");
    compare(m1, m2, "adamw m");
    compare(v1, v2, "adamw v");
    compare(low1, low2, "adamw bf16 copy");
  }
  {
    SgdCoefficients c{0.05f, 1e-4f, 0.9f, true};
    Vec p1 = p, b1 = m, low1(n), p2 = p, b2 = m, low2(n);
    k.sgd_step(p1.data(), b1.data(), g.data(), low1.data(), n, 2.0f, c, Precision::F16);
    ref.sgd_step(p2.data(), b2.data(), g.data(), low2.data(), n, 2.0f, c, Precision::F16);
    compare(p1, p2, "sgd p");
    compare(b1, b2, "sgd momentum");
    compare(low1, low2, "sgd fp16 copy");
  }
  for (Precision precision : {Precision::BF16, Precision::F16}) {
    Vec a = g, b = g;
    for (size_t i = 0; i < n; i += 7) a[i] = b[i] *= 70000.0f;  // past fp16's range: ±inf
    k.round_values(a.data(), n, precision);
    ref.round_values(b.data(), n, precision);
    for (size_t i = 0; i < n; ++i)
      if (!(a[i] == b[i])) cmp.fail(std::string(precision == Precision::BF16 ? "bf16" : "fp16") + " rounding[" + std::to_string(i) + "]");
  }
  double squares = k.sum_squares(g.data(), n), expected = ref.sum_squares(g.data(), n);
  if (std::fabs(squares - expected) > 1e-6 * expected) cmp.fail("sum_squares");
  cmp.report("update", "optimizer", k.name());
}

}  // namespace rm::check
