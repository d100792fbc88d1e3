// The element-wise CUDA kernels, emulated on the CPU: each body of kernels/cuda/element_kernels.h
// (the code the GPU runs) goes through the grid-stride mapping the GPU's launch uses, once with
// the launch's own shape and once with a small grid in which every thread takes several indices.
// Every index must be handed out exactly once, every output element written (outputs start as a
// NaN no kernel writes), and the values must equal the reference kernels' bit for bit (sums over
// rows, which the reference takes in double: within 1e-6 of the largest). Kernels whose threads
// cooperate run on the warp emulator instead (emulated_warp_kernels.cc). One JSON
// line per check, as kernel-check prints (test/native/emulated-kernels.test.ts reads them); exits
// 1 if any failed.
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "../src/kernels/cuda/element_kernels.h"
#include "kernel_cases.h"

using namespace rm;
using namespace rm::check;

namespace {

const float kUnwritten = std::numeric_limits<float>::quiet_NaN();

struct Grid {
  size_t blocks, threads;
};

/** Runs `body` as a launch of `g` would, counting how often each of [0, n) is handed out. */
template <class Body>
std::vector<int> emulate(const Body& body, size_t n, Grid g) {
  std::vector<int> visits(n, 0);
  auto counted = [&](size_t i) {
    ++visits[i];
    body(i);
  };
  for (size_t b = 0; b < g.blocks; ++b)
    for (size_t t = 0; t < g.threads; ++t) elements::grid_stride(counted, n, b, g.threads, t, g.blocks);
  return visits;
}

/**
 * One kernel: `reference` fills the expected outputs (from `start`: the outputs' contents before
 * the call, NaN for pure outputs) with the CPU reference kernels; `run` launches the body over
 * the given outputs with grid `g` and returns the visit counts of its index range.
 */
struct ElementCheck {
  std::string name;
  std::vector<Vec> start;
  std::function<void(std::vector<Vec>&)> reference;
  std::function<std::vector<int>(std::vector<Vec>&, Grid)> run;
  // 0: bit for bit. Else within this much of each output's largest magnitude: the sums over rows,
  // which the reference takes in double and the GPU in float.
  double tolerance = 0;
};

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

/** "" when every index was handed out exactly once; else which one was not. */
std::string handed_out_once(const std::vector<int>& visits) {
  for (size_t i = 0; i < visits.size(); ++i)
    if (visits[i] != 1) return "index " + std::to_string(i) + " handed out " + std::to_string(visits[i]) + " times";
  return "";
}

void check_element(const ElementCheck& c, const char* grid_name, Grid g) {
  std::vector<Vec> expected = c.start, got = c.start;
  c.reference(expected);
  std::string where = handed_out_once(c.run(got, g));
  double worst = 0;
  for (size_t o = 0; o < got.size() && where.empty(); ++o) {
    double largest = 0;
    for (float x : expected[o]) largest = std::fmax(largest, std::fabs(x));
    for (size_t i = 0; i < got[o].size() && where.empty(); ++i) {
      double error = std::fabs(double(got[o][i]) - expected[o][i]) / largest;
      if (c.tolerance > 0 ? error <= c.tolerance : same_bits(got[o][i], expected[o][i])) {
        worst = std::fmax(worst, error);
        continue;
      }
      bool unwritten = std::isnan(got[o][i]) && !std::isnan(expected[o][i]);
      where = "output " + std::to_string(o) + " element " + std::to_string(i) + (unwritten ? " never written" : " differs from the reference");
    }
  }
  report("emulated", c.name, std::string("cuda-emulated ") + grid_name, worst, where.empty(), where);
}

Vec unwritten(size_t n) { return Vec(n, kUnwritten); }

std::vector<ElementCheck> element_checks(Rng& rng) {
  Kernels* ref = &cpu_reference_kernels();
  const size_t n = 3000;
  Vec x = random_vec(n, rng), y = random_vec(n, rng), dy = random_vec(n, rng);
  Vec relu_out(n);
  ref->relu_forward(relu_out.data(), x.data(), n);
  std::vector<ElementCheck> all;
  all.push_back({"relu_forward", {unwritten(n)}, [=](auto& o) { ref->relu_forward(o[0].data(), x.data(), n); },
                 [=](auto& o, Grid g) { return emulate(elements::ReluForward{o[0].data(), x.data()}, n, g); }});
  all.push_back({"relu_backward", {unwritten(n)}, [=](auto& o) { ref->relu_backward(o[0].data(), dy.data(), relu_out.data(), n); },
                 [=](auto& o, Grid g) { return emulate(elements::ReluBackward{o[0].data(), dy.data(), relu_out.data()}, n, g); }});
  all.push_back({"gelu_forward", {unwritten(n)}, [=](auto& o) { ref->gelu_forward(o[0].data(), x.data(), n); },
                 [=](auto& o, Grid g) { return emulate(elements::GeluForward{o[0].data(), x.data()}, n, g); }});
  all.push_back({"gelu_backward", {unwritten(n)}, [=](auto& o) { ref->gelu_backward(o[0].data(), dy.data(), x.data(), n); },
                 [=](auto& o, Grid g) { return emulate(elements::GeluBackward{o[0].data(), dy.data(), x.data()}, n, g); }});
  all.push_back({"residual_forward", {unwritten(n)}, [=](auto& o) { ref->residual_forward(o[0].data(), x.data(), y.data(), n); },
                 [=](auto& o, Grid g) { return emulate(elements::Residual{o[0].data(), x.data(), y.data()}, n, g); }});
  all.push_back({"add_into", {y}, [=](auto& o) { ref->add_into(o[0].data(), x.data(), n); },
                 [=](auto& o, Grid g) { return emulate(elements::AddInto{o[0].data(), x.data()}, n, g); }});

  // 16-bit activations (Elements): outputs written as encodings (NaN ones until written) and
  // read back; the reference computes in fp32 on the same rounded values and rounds its result.
  for (Precision p : {Precision::BF16, Precision::F16}) {
    std::string t = p == Precision::BF16 ? "_bf16" : "_fp16";
    Vec x16 = rounded_to(x, p), y16 = rounded_to(y, p);
    all.push_back({"residual_forward" + t + "_branch", {unwritten(n)}, [=](auto& o) { ref->residual_forward(o[0].data(), x.data(), y16.data(), n); },
                   [=](auto& o, Grid g) {
                     Buffer16 b(y16, p);
                     return emulate(elements::Residual{o[0].data(), x.data(), b.elements()}, n, g);
                   }});
    all.push_back({"add_into" + t + "_source", {y}, [=](auto& o) { ref->add_into(o[0].data(), x16.data(), n); },
                   [=](auto& o, Grid g) {
                     Buffer16 src(x16, p);
                     return emulate(elements::AddInto{o[0].data(), src.elements()}, n, g);
                   }});
    all.push_back({"convert" + t, {unwritten(n)}, [=](auto& o) { o[0] = rounded_to(x, p); },
                   [=](auto& o, Grid g) {
                     Buffer16 out(n, p);
                     auto visits = emulate(elements::Convert{out.elements(), x.data()}, n, g);
                     o[0] = out.values();
                     return visits;
                   }});
    all.push_back({"gelu_keep_input" + t, {unwritten(n), unwritten(n)},
                   [=](auto& o) {
                     ref->gelu_forward(o[0].data(), x.data(), n);
                     o[0] = rounded_to(o[0], p);
                     o[1] = x16;
                   },
                   [=](auto& o, Grid g) {
                     Buffer16 out(n, p), pre(n, p);
                     auto visits = emulate(elements::GeluKeepInput{out.elements(), pre.elements(), x.data()}, n, g);
                     o[0] = out.values(), o[1] = pre.values();
                     return visits;
                   }});
    all.push_back({"gelu_gradient_of" + t, {unwritten(n)},
                   [=](auto& o) {
                     ref->gelu_backward(o[0].data(), dy.data(), x16.data(), n);
                     o[0] = rounded_to(o[0], p);
                   },
                   [=](auto& o, Grid g) {
                     Buffer16 out(n, p), pre(x16, p);
                     auto visits = emulate(elements::GeluGradientOf{out.elements(), dy.data(), pre.elements()}, n, g);
                     o[0] = out.values();
                     return visits;
                   }});
  }

  // 2×2 max-pool over an odd height and width, so the edge rows and columns are exercised.
  const size_t B = 2, H = 7, W = 5, C = 3, pooled = B * (H / 2) * (W / 2) * C, pixels = B * H * W * C;
  Vec image = random_vec(pixels, rng), pool_out(pooled), dpool = random_vec(pooled, rng);
  ref->maxpool2d_forward(pool_out.data(), image.data(), B, H, W, C);
  all.push_back({"maxpool2d_forward", {unwritten(pooled)}, [=](auto& o) { ref->maxpool2d_forward(o[0].data(), image.data(), B, H, W, C); },
                 [=](auto& o, Grid g) { return emulate(elements::MaxpoolForward{o[0].data(), image.data(), B, H, W, C}, pooled, g); }});
  for (bool relu_input : {false, true}) {
    all.push_back({relu_input ? "maxpool2d_backward_relu_input" : "maxpool2d_backward", {unwritten(pixels)},
                   [=](auto& o) { ref->maxpool2d_backward(o[0].data(), dpool.data(), image.data(), pool_out.data(), B, H, W, C, relu_input); },
                   [=](auto& o, Grid g) {
                     // the two launches of CudaKernels::maxpool2d_backward: edges, then windows (indices: windows')
                     emulate(elements::MaxpoolEdges{o[0].data(), B, H, W, C}, pixels, g);
                     return emulate(elements::MaxpoolBackward{o[0].data(), dpool.data(), image.data(), pool_out.data(), B, H, W, C, relu_input}, pooled, g);
                   }});
  }
  const size_t HW = H * W;
  all.push_back({"flatten_forward", {unwritten(pixels)}, [=](auto& o) { ref->flatten_forward(o[0].data(), image.data(), B, HW, C); },
                 [=](auto& o, Grid g) { return emulate(elements::FlattenForward{o[0].data(), image.data(), B, HW, C}, pixels, g); }});
  all.push_back({"flatten_backward", {unwritten(pixels)}, [=](auto& o) { ref->flatten_backward(o[0].data(), image.data(), B, HW, C); },
                 [=](auto& o, Grid g) { return emulate(elements::FlattenBackward{o[0].data(), image.data(), B, HW, C}, pixels, g); }});

  // Embeddings: token rows and positions; the position gradient assigned, and accumulated.
  const size_t T = 6, E = 8, V = 11;
  std::vector<int32_t> tokens(B * T);
  for (auto& t : tokens) t = int32_t(rng.uniform(0.0f, float(V) - 0.01f));
  Vec wte = random_vec(V * E, rng), wpe = random_vec(T * E, rng), demb = random_vec(B * T * E, rng), old_wpe = random_vec(T * E, rng);
  all.push_back({"embedding_forward", {unwritten(B * T * E)},
                 [=](auto& o) { ref->embedding_forward(o[0].data(), tokens.data(), wte.data(), wpe.data(), B, T, E); },
                 [=](auto& o, Grid g) { return emulate(elements::EmbeddingForward{o[0].data(), tokens.data(), wte.data(), wpe.data(), T, E}, B * T * E, g); }});
  for (bool accumulate : {false, true}) {
    all.push_back({accumulate ? "embedding_wpe_accumulate" : "embedding_wpe", {accumulate ? old_wpe : unwritten(T * E)},
                   [=](auto& o) {
                     Vec dwte(V * E, 0.0f);
                     ref->embedding_backward(dwte.data(), o[0].data(), demb.data(), tokens.data(), B, T, E, V, true, accumulate);
                   },
                   [=](auto& o, Grid g) { return emulate(elements::EmbeddingPositionGrad{o[0].data(), demb.data(), B, T, E, accumulate}, T * E, g); }});
  }

  // Sums over rows, a thread per column: the token embedding's gradient (onto zeroed rows, as
  // CudaKernels::embedding_backward zeroes them), a bias gradient over columns [3, 9) of 12, and
  // LayerNorm's parameter gradients, assigned and accumulated.
  const size_t rows = 40;
  std::vector<int32_t> many_tokens(rows);
  for (auto& t : many_tokens) t = int32_t(rng.uniform(0.0f, float(V) - 0.01f));
  Vec drows = random_vec(rows * E, rng), wide = random_vec(rows * 12, rng), old_bias = random_vec(12, rng);
  all.push_back({"embedding_wte", {Vec(V * E, 0.0f)},
                 [=](auto& o) {
                   Vec dwpe(rows * E);
                   ref->embedding_backward(o[0].data(), dwpe.data(), drows.data(), many_tokens.data(), 1, rows, E, V, false, false);
                 },
                 [=](auto& o, Grid g) { return emulate(elements::EmbeddingTokenGrad{o[0].data(), drows.data(), many_tokens.data(), rows, E}, E, g); },
                 1e-6});
  all.push_back({"column_sums", {old_bias},
                 [=](auto& o) {
                   Vec full(12, 0.0f);
                   ref->matmul_backward(nullptr, nullptr, full.data(), wide.data(), nullptr, nullptr, rows, 0, 12, false);
                   for (size_t j = 3; j < 9; ++j) o[0][j] = full[j] + o[0][j];
                 },
                 [=](auto& o, Grid g) { return emulate(elements::ColumnSums{o[0].data(), wide.data(), rows, 12, 3, true}, 6, g); }, 1e-6});
  Vec ln_in = random_vec(rows * E, rng, -2, 2), ln_w = random_vec(E, rng), ln_out(rows * E), mean(rows), rstd(rows), old_dw = random_vec(E, rng);
  ref->layernorm_forward(ln_out.data(), mean.data(), rstd.data(), ln_in.data(), ln_w.data(), nullptr, rows, E);
  for (bool accumulate : {false, true}) {
    all.push_back({accumulate ? "layernorm_param_grad_accumulate" : "layernorm_param_grad", {accumulate ? old_dw : unwritten(E), accumulate ? old_dw : unwritten(E)},
                   [=](auto& o) {
                     Vec din(rows * E);
                     ref->layernorm_backward(din.data(), o[0].data(), o[1].data(), drows.data(), ln_in.data(), ln_w.data(), mean.data(), rstd.data(), rows, E, accumulate);
                   },
                   [=](auto& o, Grid g) {
                     return emulate(elements::LayerNormParamGrad{o[0].data(), o[1].data(), drows.data(), ln_in.data(), mean.data(), rstd.data(), rows, E, accumulate}, E, g);
                   },
                   1e-6});
  }

  // The optimizer's passes, with the rounded copy, from the same state as the reference's.
  Vec p = random_vec(n, rng), m = random_vec(n, rng, -0.1f, 0.1f), v = random_vec(n, rng, 0.0f, 0.01f), grad = random_vec(n, rng);
  const AdamWCoefficients adamw{0.9999f, 0.9f, 0.999f, 1e-3f, 1.2f, 1e-8f};
  all.push_back({"adamw_step", {p, m, v, unwritten(n)},
                 [=](auto& o) { ref->adamw_step(o[0].data(), o[1].data(), o[2].data(), grad.data(), o[3].data(), n, 0.5f, adamw, Precision::BF16); },
                 [=](auto& o, Grid g) {
                   return emulate(elements::AdamWStep{o[0].data(), o[1].data(), o[2].data(), grad.data(), o[3].data(), 0.5f, adamw, Precision::BF16}, n, g);
                 }});
  const SgdCoefficients sgd{0.1f, 1e-4f, 0.9f, true};
  all.push_back({"sgd_step", {p, m, unwritten(n)},
                 [=](auto& o) { ref->sgd_step(o[0].data(), o[1].data(), grad.data(), o[2].data(), n, 0.5f, sgd, Precision::F16); },
                 [=](auto& o, Grid g) { return emulate(elements::SgdStep{o[0].data(), o[1].data(), grad.data(), o[2].data(), 0.5f, sgd, Precision::F16}, n, g); }});
  for (Precision precision : {Precision::BF16, Precision::F16}) {
    all.push_back({precision == Precision::BF16 ? "round_bf16" : "round_fp16", {x},
                   [=](auto& o) { ref->round_values(o[0].data(), n, precision); },
                   [=](auto& o, Grid g) { return emulate(elements::Round{o[0].data(), precision}, n, g); }});
  }
  return all;
}

/**
 * im2col and col2im have no reference kernel of their own (the reference convolves directly):
 * im2col against the window it must copy, col2im as im2col's adjoint, ⟨im2col(x), y⟩ = ⟨x, col2im(y)⟩.
 */
void convolution_checks(Rng& rng, const char* grid_name, Grid g) {
  const size_t B = 2, H = 5, W = 4, IC = 3, K = IC * 9, rows = B * H * W;
  Vec in = random_vec(rows * IC, rng), col = unwritten(rows * K), dcol = random_vec(rows * K, rng), din = unwritten(rows * IC);
  std::vector<int> visits = emulate(elements::Im2col{col.data(), in.data(), H, W, IC}, rows * K, g);
  std::string where;
  for (size_t r = 0; r < rows && where.empty(); ++r)
    for (size_t j = 0; j < K; ++j) {
      size_t ic = j / 9, kh = (j % 9) / 3, kw = j % 3, x = r % W, y = (r / W) % H, b = r / (W * H);
      long yy = long(y + kh) - 1, xx = long(x + kw) - 1;
      float want = yy >= 0 && yy < long(H) && xx >= 0 && xx < long(W) ? in[((b * H + size_t(yy)) * W + size_t(xx)) * IC + ic] : 0.0f;
      if (visits[r * K + j] != 1 || !same_bits(col[r * K + j], want)) where = "row " + std::to_string(r) + " column " + std::to_string(j);
    }
  report("emulated", "im2col", std::string("cuda-emulated ") + grid_name, 0.0, where.empty(), where);
  std::string mapping = handed_out_once(emulate(elements::Col2im{din.data(), dcol.data(), H, W, IC}, rows * IC, g));
  double lhs = dot(col, dcol), rhs = dot(in, din), error = std::abs(lhs - rhs);
  bool ok = mapping.empty() && error <= 1e-4 * (1.0 + std::abs(lhs));
  report("emulated", "col2im", std::string("cuda-emulated ") + grid_name, error, ok, mapping.empty() ? "<im2col(x), y> vs <x, col2im(y)>" : mapping);
}

/** The 16-bit copies of matrix operands: every value's bits, which decode to the value itself. */
void half_checks(Rng& rng, const char* grid_name, Grid g) {
  const size_t n = 3000;
  for (Precision p : {Precision::BF16, Precision::F16}) {
    Vec src = random_vec(n, rng, -8.0f, 8.0f);
    for (float& x : src) x = elements::rounded(x, p);
    std::vector<uint16_t> dst(n, 0xffff);  // a NaN's bits: no finite value's
    std::string where = handed_out_once(emulate(elements::ToHalf{dst.data(), src.data(), p}, n, g));
    for (size_t i = 0; i < n && where.empty(); ++i) {
      float back = p == Precision::BF16 ? bf16_value(dst[i]) : fp16_value(dst[i]);
      if (!same_bits(back, src[i])) where = "element " + std::to_string(i) + " does not decode to its value";
    }
    report("emulated", p == Precision::BF16 ? "to_half_bf16" : "to_half_fp16", std::string("cuda-emulated ") + grid_name, 0.0, where.empty(), where);
  }
}

}  // namespace

int main() {
  Rng rng(7);
  std::vector<ElementCheck> checks = element_checks(rng);
  for (const ElementCheck& c : checks) {
    std::vector<Vec> scratch = c.start;
    size_t n = c.run(scratch, Grid{0, 0}).size();  // a grid of nothing: only the index range
    elements::LaunchShape launch = elements::launch_shape(n);
    check_element(c, "launch", Grid{launch.blocks, launch.threads});
    check_element(c, "strided", Grid{3, 32});  // 96 threads for thousands of indices: every thread strides
  }
  elements::LaunchShape launch = elements::launch_shape(2 * 5 * 4 * 27);
  convolution_checks(rng, "launch", Grid{launch.blocks, launch.threads});
  convolution_checks(rng, "strided", Grid{3, 32});
  launch = elements::launch_shape(3000);
  half_checks(rng, "launch", Grid{launch.blocks, launch.threads});
  half_checks(rng, "strided", Grid{3, 32});
  return failed_any ? 1 : 0;
}
