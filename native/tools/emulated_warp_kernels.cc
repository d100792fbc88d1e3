// The CUDA kernels whose threads cooperate (shuffles, shared memory, tensor-core products), the
// source the GPU runs, emulated on the CPU through native/tools/warp_emulation.h: flash attention
// (bf16 and fp16, every head size built; attention16_check.h), the fp32 attention kernels
// (forward, backward, decoding), LayerNorm's output and input gradient (fp32 and bf16
// activations), softmax cross-entropy and Σ x², each against the reference kernels; flash
// attention also with 16-bit activations in and out. One JSON line per check, as kernel-check prints
// (test/native/emulated-kernels.test.ts reads them); exits 1 if any failed.
#include "warp_emulation.h"
// The kernels, written in the primitives above.
#include "../src/kernels/cuda/attention_kernels.h"
#include "../src/kernels/cuda/cross_entropy_kernels.h"
#include "../src/kernels/cuda/flash_attention_kernels.h"
#include "../src/kernels/cuda/layernorm_kernels.h"
#include "../src/kernels/cuda/sum_squares_kernels.h"
#include "attention16_check.h"

using namespace rm;
using namespace rm::check;

namespace {

const EmulatedLaunch kLaunch;
// fp32 kernels against the reference (which sums in double): within this much of each output's
// largest magnitude.
constexpr double kFp32Tolerance = 1e-5;

void report_fp32(const std::string& kernel, std::initializer_list<std::pair<const char*, std::pair<const Vec*, const Vec*>>> outputs) {
  double worst = 0;
  std::string where;
  for (const auto& [name, pair] : outputs)
    if (where.empty()) where = within(name, *pair.first, *pair.second, kFp32Tolerance, worst);
  report("emulated", kernel, "cuda-emulated", worst, where.empty(), where);
}

template <Precision P>
AttentionRun flash_run(size_t B, size_t T, size_t C, size_t H) {
  flash::Shape s = flash::shape(B, T, C, H);
  AttentionRun run;
  run.forward = [=](float* out, float* lse, const float* qkv) {
    flash::with_head(C / H, [&](auto head) { flash::forward<decltype(head)::value, P>(kLaunch, out, lse, qkv, s); });
  };
  run.backward = [=](float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse) {
    Vec delta(B * H * T);
    flash::with_head(C / H, [&](auto head) { flash::backward<decltype(head)::value, P>(kLaunch, dqkv, delta.data(), dout, qkv, out, lse, s); });
  };
  return run;
}

// The same kernels with the model's activations (qkv, out, dout, dqkv) stored in 16 bits.
template <Precision P>
AttentionRun flash_run_16bit_activations(size_t B, size_t T, size_t C, size_t H) {
  flash::Shape s = flash::shape(B, T, C, H);
  size_t n = B * T * C;
  AttentionRun run;
  run.forward = [=](float* out, float* lse, const float* qkv) {
    Buffer16 x(Vec(qkv, qkv + 3 * n), P), y(n, P);
    flash::with_head(C / H, [&](auto head) { flash::forward<decltype(head)::value, P>(kLaunch, y.elements(), lse, x.elements(), s); });
    Vec v = y.values();
    std::copy(v.begin(), v.end(), out);
  };
  run.backward = [=](float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse) {
    Vec delta(B * H * T);
    Buffer16 x(Vec(qkv, qkv + 3 * n), P), y(Vec(out, out + n), P), dy(Vec(dout, dout + n), P), dx(3 * n, P);
    flash::with_head(C / H, [&](auto head) {
      flash::backward<decltype(head)::value, P>(kLaunch, dx.elements(), delta.data(), dy.elements(), x.elements(), y.elements(), lse, s);
    });
    Vec v = dx.values();
    std::copy(v.begin(), v.end(), dqkv);
  };
  return run;
}

void flash_checks(Rng& rng) {
  // fp16 differs from bf16 only in the conversions: two shapes (both inner tile sizes) suffice.
  for (const AttentionShape& a : kAttention16Shapes) {
    attention16_check("cuda-emulated", Precision::BF16, a.B, a.T, a.C, a.H, rng, flash_run<Precision::BF16>(a.B, a.T, a.C, a.H));
    if (a.C / a.H != 64)
      attention16_check("cuda-emulated", Precision::F16, a.B, a.T, a.C, a.H, rng, flash_run<Precision::F16>(a.B, a.T, a.C, a.H));
  }
  // 16-bit activations in and out (what a bf16 or fp16 model stores): the same tolerance, the
  // output rounded once more.
  const AttentionShape& a = kAttention16Shapes[0];
  attention16_check("cuda-emulated 16-bit activations", Precision::BF16, a.B, a.T, a.C, a.H, rng,
                    flash_run_16bit_activations<Precision::BF16>(a.B, a.T, a.C, a.H));
  attention16_check("cuda-emulated 16-bit activations", Precision::F16, a.B, a.T, a.C, a.H, rng,
                    flash_run_16bit_activations<Precision::F16>(a.B, a.T, a.C, a.H));
}

// fp32 attention: heads of 40 channels (two lanes' worth for some lanes), and decoding.
void attention_checks(Rng& rng) {
  const size_t B = 2, T = 9, C = 80, H = 2;
  Kernels& ref = cpu_reference_kernels();
  Vec qkv = random_vec(B * T * 3 * C, rng), dout = random_vec(B * T * C, rng);
  Vec out_ref(B * T * C), lse_ref(B * H * T), dqkv_ref(qkv.size());
  ref.attention_forward(out_ref.data(), lse_ref.data(), qkv.data(), B, T, C, H);
  ref.attention_backward(dqkv_ref.data(), dout.data(), qkv.data(), out_ref.data(), lse_ref.data(), B, T, C, H);
  Vec out(out_ref.size(), NAN), lse(lse_ref.size(), NAN), dqkv(qkv.size(), NAN), delta(B * H * T);
  attention::forward(kLaunch, out.data(), lse.data(), qkv.data(), B, T, C, H);
  attention::backward(kLaunch, dqkv.data(), delta.data(), dout.data(), qkv.data(), out.data(), lse.data(), B, T, C, H);
  report_fp32("attention fp32", {{"output", {&out, &out_ref}}, {"log-sum-exp", {&lse, &lse_ref}}, {"dqkv", {&dqkv, &dqkv_ref}}});
  // Decoding position t of sequence 0 from its cached keys and values equals row t of the forward.
  const size_t t = T - 1;
  Vec q(C), keys((t + 1) * C), values((t + 1) * C), step(C, NAN), row(out_ref.begin() + t * C, out_ref.begin() + (t + 1) * C);
  for (size_t j = 0; j <= t; ++j)
    for (size_t c = 0; c < C; ++c) {
      keys[j * C + c] = qkv[j * 3 * C + C + c];
      values[j * C + c] = qkv[j * 3 * C + 2 * C + c];
      if (j == t) q[c] = qkv[j * 3 * C + c];
    }
  attention::step(kLaunch, step.data(), q.data(), keys.data(), values.data(), t, C, H);
  report_fp32("attention_step", {{"output", {&step, &row}}});
}

void layernorm_checks(Rng& rng) {
  const size_t N = 11, C = 70;  // a row wider than a warp, and a block not filled with rows
  Kernels& ref = cpu_reference_kernels();
  Vec in = random_vec(N * C, rng, -2, 2), w = random_vec(C, rng), b = random_vec(C, rng), dout = random_vec(N * C, rng);
  Vec out_ref(N * C), mean_ref(N), rstd_ref(N), din_ref(N * C), dw(C), db(C);
  ref.layernorm_forward(out_ref.data(), mean_ref.data(), rstd_ref.data(), in.data(), w.data(), b.data(), N, C);
  ref.layernorm_backward(din_ref.data(), dw.data(), db.data(), dout.data(), in.data(), w.data(), mean_ref.data(), rstd_ref.data(), N, C, false);
  Vec out(N * C, NAN), mean(N, NAN), rstd(N, NAN), din(N * C, NAN);
  layernorm::forward(kLaunch, out.data(), mean.data(), rstd.data(), in.data(), w.data(), b.data(), N, C);
  layernorm::input_grad(kLaunch, din.data(), dout.data(), in.data(), w.data(), mean.data(), rstd.data(), N, C);
  report_fp32("layernorm", {{"output", {&out, &out_ref}}, {"mean", {&mean, &mean_ref}}, {"rstd", {&rstd, &rstd_ref}}, {"din", {&din, &din_ref}}});
  // bf16 activations (the input, the residual stream, stays fp32): the outputs are the fp32
  // kernels' rounded, within one bf16 step of what the reference's rounding gives.
  Buffer16 dout16(dout, Precision::BF16), out16(N * C, Precision::BF16), din16(N * C, Precision::BF16);
  Vec dout_rounded = dout16.values(), din_from_rounded(N * C), dw2(C), db2(C);
  ref.layernorm_backward(din_from_rounded.data(), dw2.data(), db2.data(), dout_rounded.data(), in.data(), w.data(), mean_ref.data(), rstd_ref.data(), N, C, false);
  layernorm::forward(kLaunch, out16.elements(), mean.data(), rstd.data(), in.data(), w.data(), b.data(), N, C);
  layernorm::input_grad(kLaunch, din16.elements(), dout16.elements(), in.data(), w.data(), mean.data(), rstd.data(), N, C);
  Vec out_b = out16.values(), din_b = din16.values();
  double worst = 0;
  std::string where = within("output", out_b, out_ref, 1.0 / 256, worst);
  if (where.empty()) where = within("din", din_b, din_from_rounded, 1.0 / 256, worst);
  report("emulated", "layernorm bf16 activations", "cuda-emulated", worst, where.empty(), where);
}

// Rows wider than the block (V = 300), a row whose maximum appears twice (the first position
// wins), and a label out of range, which must be named.
void cross_entropy_checks(Rng& rng) {
  const size_t N = 5, V = 300;
  Vec logits = random_vec(N * V, rng, -3, 3), dlogits_ref(N * V), dlogits(N * V, NAN);
  logits[2 * V + 17] = logits[2 * V + 260] = 9.0f;
  std::vector<int32_t> targets = {3, 299, 17, 0, 150};
  CrossEntropyResult want = cpu_reference_kernels().cross_entropy(dlogits_ref.data(), logits.data(), targets.data(), N, V, 0.5f);
  std::vector<double> losses(N, NAN);
  std::vector<int32_t> correct(N, -7);
  cross_entropy::rows(kLaunch, dlogits.data(), losses.data(), correct.data(), logits.data(), targets.data(), N, V, 0.5f);
  CrossEntropyResult got = cross_entropy::sum_rows(losses.data(), correct.data(), N, V, [&](size_t n) { return targets[n]; });
  Vec loss{float(got.loss_sum)}, loss_ref{float(want.loss_sum)};
  double worst = 0;
  std::string where = within("dlogits", dlogits, dlogits_ref, kFp32Tolerance, worst);
  if (where.empty()) where = within("loss", loss, loss_ref, kFp32Tolerance, worst);
  if (where.empty() && got.correct != want.correct) where = "hits " + std::to_string(got.correct) + " against " + std::to_string(want.correct);
  targets[4] = int32_t(V);
  cross_entropy::rows(kLaunch, Elements(), losses.data(), correct.data(), logits.data(), targets.data(), N, V, 0.5f);
  try {
    cross_entropy::sum_rows(losses.data(), correct.data(), N, V, [&](size_t n) { return targets[n]; });
    if (where.empty()) where = "a label out of range was not reported";
  } catch (const NativeError& e) {
    if (where.empty() && std::string(e.what()).find("label 300 at row 4") == std::string::npos) where = std::string("reported as: ") + e.what();
  }
  report("emulated", "cross_entropy", "cuda-emulated", worst, where.empty(), where);
  // bf16 logits and gradient (a 16-bit model's head): the reference on the same rounded logits,
  // its gradient rounded once more.
  targets[4] = 150;
  Buffer16 logits16(logits, Precision::BF16), dlogits16(N * V, Precision::BF16);
  Vec rounded_logits = logits16.values(), dref16(N * V);
  CrossEntropyResult want16 = cpu_reference_kernels().cross_entropy(dref16.data(), rounded_logits.data(), targets.data(), N, V, 0.5f);
  cross_entropy::rows(kLaunch, dlogits16.elements(), losses.data(), correct.data(), logits16.elements(), targets.data(), N, V, 0.5f);
  CrossEntropyResult got16 = cross_entropy::sum_rows(losses.data(), correct.data(), N, V, [&](size_t n) { return targets[n]; });
  Vec d16 = dlogits16.values();
  Vec loss16{float(got16.loss_sum)}, loss16_ref{float(want16.loss_sum)};
  worst = 0;
  where = within("dlogits", d16, dref16, 1.0 / 256, worst);
  if (where.empty()) where = within("loss", loss16, loss16_ref, kFp32Tolerance, worst);
  report("emulated", "cross_entropy bf16 logits", "cuda-emulated", worst, where.empty(), where);
}

void sum_squares_checks(Rng& rng) {
  const size_t n = 200000;  // more than the grid's threads: every thread strides
  Vec x = random_vec(n, rng);
  std::vector<double> partials(squares::kBlocks, NAN);
  squares::partials(kLaunch, partials.data(), x.data(), n);
  Vec got{float(squares::sum_partials(partials.data()))}, want{float(cpu_reference_kernels().sum_squares(x.data(), n))};
  report_fp32("sum_squares", {{"sum", {&got, &want}}});
}

}  // namespace

int main() {
  Rng rng(77);
  flash_checks(rng);
  attention_checks(rng);
  layernorm_checks(rng);
  cross_entropy_checks(rng);
  sum_squares_checks(rng);
  return failed_any ? 1 : 0;
}
