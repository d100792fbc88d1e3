// The math of every layer, one interface per device and implementation: the CPU
// reference (plain loops in double, the test oracle), the CPU fast path (oneDNN matmuls,
// vectorised threaded loops) and, next, CUDA implement these same signatures. A layer holds a
// Kernels& and never asks which one it has.
//
// Conventions (llm.c's): outputs first, gradients prefixed d. Shape letters: B batch, T time,
// C channels, H heads, D = C / H per head, V vocabulary, N rows (B·T when a layer applies per
// token); for images H, W are height and width, IC, OC input and output channels, and
// activations are channels-last [B, H, W, C]. Activations and their gradients are View/ConstView
// where a model may store them in 16 bits (activation_dtype); a kernel given another type than it
// handles throws (the reference and CUDA kernels take fp32 for now). Activation gradients are assigned (=). Parameter gradients are accumulated (+=) when
// `accumulate` is true and assigned otherwise. Bias pointers (and their gradients) may be null
// for layers without a bias.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "../core/device.h"
#include "../core/view.h"
#include "../precision/precision.h"

namespace rm {

// A view's elements for the kernels that read and write them through Elements (precision.h).
inline Elements elements_of(ConstView v) {
  RM_CHECK(v.dtype() == DType::F32 || v.dtype() == DType::BF16 || v.dtype() == DType::F16, "INTERNAL",
           std::string("a ") + dtype_name(v.dtype()) + " activation");
  Precision type = v.dtype() == DType::F32 ? Precision::F32 : v.dtype() == DType::BF16 ? Precision::BF16 : Precision::F16;
  return {const_cast<void*>(v.data()), type};
}

// An activation a matrix product or convolution applies to its own output in the same pass (a
// oneDNN post-op on the fast path). Backward takes dout through its derivative first
// (relu_backward): the kernels' backward sees the pre-activation gradient.
enum class Epilogue { None, Relu };

struct CrossEntropyResult {
  double loss_sum;  // Σ over the rows of each row's loss (divide by N for the mean)
  size_t correct;   // rows whose arg-max is the target
};

class Kernels {
 public:
  virtual ~Kernels() = default;
  virtual const char* name() const = 0;  // "cpu-reference", "cpu"
  // The type a model stores its activations in under `precision`: bf16 where these kernels read
  // and write bf16 activations (a producer writes the rounded value once, no rounding pass, no
  // conversion before a product), fp32 (rounded to the precision) otherwise.
  virtual DType activation_dtype(Precision /*precision*/) const { return DType::F32; }

  // out[N, OUT] = epilogue(in[N, IN] · weight[OUT, IN]ᵀ + bias[OUT])
  virtual void matmul_forward(View out, ConstView in, const float* weight, const float* bias, size_t N, size_t IN,
                              size_t OUT, Epilogue epilogue) = 0;
  // din[N, IN] = dout · weight (skipped when din is null); dweight (+)= doutᵀ · in (skipped when
  // dweight is null); dbias (+)= Σ_n dout
  virtual void matmul_backward(View din, float* dweight, float* dbias, ConstView dout, ConstView in,
                               const float* weight, size_t N, size_t IN, size_t OUT, bool accumulate) = 0;
  // Rows [r0, r1) of matmul_backward's parameter gradients, nothing else: dweight[r0:r1, IN]
  // (+)= dout[:, r0:r1]ᵀ · in and dbias[r0:r1] (+)= Σ_n dout[n, r0:r1], with dweight[OUT, IN] and
  // dbias[OUT] (may be null) the whole tensors. Sufficient factors: a rank's own rows over a
  // batch stacked from every rank's factors. fp32 kernels only.
  virtual void matmul_weight_rows(float* dweight, float* dbias, const float* dout, const float* in, size_t N, size_t IN,
                                  size_t OUT, size_t r0, size_t r1, bool accumulate) = 0;

  // 3×3 convolution, stride 1, padding 1, as torch.nn.Conv2d(IC, OC, 3, padding=1):
  // out[B, H, W, OC] = epilogue(Σ_{ic,kh,kw} in[B, H+kh−1, W+kw−1, IC] · weight[OC, IC, 3, 3] + bias[OC])
  virtual void conv2d_forward(float* out, const float* in, const float* weight, const float* bias, size_t B, size_t H,
                              size_t W, size_t IC, size_t OC, Epilogue epilogue) = 0;
  // din[B, H, W, IC] (skipped when null); dweight, dbias (+)=
  virtual void conv2d_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in,
                               const float* weight, size_t B, size_t H, size_t W, size_t IC, size_t OC,
                               bool accumulate) = 0;

  // 2×2 max-pool, stride 2 (torch.nn.MaxPool2d(2)): out[B, H/2, W/2, C] = the window's maximum.
  // Backward routes each output gradient to the first tap (row-major in the window) holding the
  // maximum, recomputed from in and out, and writes every din element (0 outside every window: the
  // last row or column of an odd height or width). `relu_input`: the input
  // is a fused ReLU's output whose derivative backward applies too (a window whose maximum is 0
  // passes nothing on), sparing a masking pass.
  virtual void maxpool2d_forward(float* out, const float* in, size_t B, size_t H, size_t W, size_t C) = 0;
  virtual void maxpool2d_backward(float* din, const float* dout, const float* in, const float* out, size_t B,
                                  size_t H, size_t W, size_t C, bool relu_input) = 0;

  // Flatten for a Linear after a convolution: channels-last in[B, HW, C] → out[B, C, HW], torch's
  // (C, H, W) order, so the Linear's weight columns line up with a torch model's; backward
  // moves the gradient back.
  virtual void flatten_forward(float* out, const float* in, size_t B, size_t HW, size_t C) = 0;
  virtual void flatten_backward(float* din, const float* dout, size_t B, size_t HW, size_t C) = 0;

  // out[n] = max(in, 0); din[n] = dout · relu'(out) (through the output: a fused ReLU keeps
  // only that)
  virtual void relu_forward(float* out, const float* in, size_t n) = 0;
  virtual void relu_backward(float* din, const float* dout, const float* out, size_t n) = 0;

  // out[N, C] = (in − mean) · rstd · weight + bias per row; mean[N], rstd[N] kept for backward
  // (torch.nn.LayerNorm, eps 1e-5, biased variance).
  virtual void layernorm_forward(View out, float* mean, float* rstd, ConstView in, const float* weight,
                                 const float* bias, size_t N, size_t C) = 0;
  virtual void layernorm_backward(View din, float* dweight, float* dbias, ConstView dout, ConstView in,
                                  const float* weight, const float* mean, const float* rstd, size_t N, size_t C,
                                  bool accumulate) = 0;

  // Causal multi-head scaled dot-product attention. qkv[B, T, 3C] holds q, k, v side by side
  // (head h in channels [h·D, (h+1)·D) of each); out[B, T, C]; lse[B, H, T] is each query row's
  // log Σ exp of its scaled scores, all backward needs to recompute the probabilities (no
  // T×T matrix is kept).
  virtual void attention_forward(View out, float* lse, ConstView qkv, size_t B, size_t T, size_t C, size_t H) = 0;
  virtual void attention_backward(View dqkv, ConstView dout, ConstView qkv, ConstView out, const float* lse, size_t B,
                                  size_t T, size_t C, size_t H) = 0;

  // One new query against a KV cache (decoding): q[C] (heads side by side), k, v [t+1, C] rows
  // 0..t of the cache (the query's own position last); out[C].
  virtual void attention_step(float* out, const float* q, const float* k, const float* v, size_t t, size_t C,
                              size_t H) = 0;

  // out[n] = gelu(in) (tanh form); din[n] = dout · gelu'(in)
  virtual void gelu_forward(float* out, const float* in, size_t n) = 0;
  virtual void gelu_backward(float* din, const float* dout, const float* in, size_t n) = 0;

  // A product and the GELU after it (a transformer MLP's first Linear), in one call where the
  // device fuses them (cuBLASLt's GELU epilogue): out[N, OUT] = gelu(x), x = in · weight[OUT, IN]ᵀ +
  // bias, taken before x is stored in out's type (as an epilogue does). aux[N, OUT] keeps what
  // backward needs of x, in the kernels' own form: x itself here and on CUDA (cuBLASLt's GELU_AUX),
  // gelu'(x) on the CPU's fast kernels (computed with gelu(x) from one exp, so backward needs none).
  // Only matmul_gelu_backward_data of the same kernels reads it.
  virtual void matmul_gelu_forward(View out, View aux, ConstView in, const float* weight, const float* bias, size_t N,
                                   size_t IN, size_t OUT) {
    matmul_forward(aux, in, weight, bias, N, IN, OUT, Epilogue::None);
    gelu_forward(out.f32(), aux.f32(), N * OUT);
  }
  // The input gradient of a product whose input was gelu(x) (the MLP's second Linear), through
  // the GELU (cuBLASLt's DGELU epilogue): dx[N, IN] = gelu'(x) ⊙ (dout[N, OUT] · weight[OUT, IN]),
  // x known by the aux its matmul_gelu_forward kept.
  virtual void matmul_gelu_backward_data(View dx, ConstView dout, const float* weight, ConstView aux, size_t N,
                                         size_t IN, size_t OUT) {
    matmul_backward(dx, nullptr, nullptr, dout, nullptr, weight, N, IN, OUT, false);
    gelu_backward(dx.f32(), dx.f32(), aux.f32(), N * IN);  // element by element: in place is fine
  }

  // out[B, T, C] = wte[tokens[b, t]] + wpe[t]
  virtual void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, size_t B,
                                 size_t T, size_t C) = 0;
  // dwte (+)= scatter of dout by token; dwpe (+)= Σ_b dout (each with its own flag: a tied
  // wte already holds the output head's contribution)
  virtual void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, size_t B,
                                  size_t T, size_t C, size_t V,
                          bool accumulate_wte, bool accumulate_wpe) = 0;

  // out[n] = a + b (a residual connection; its backward passes dout to both)
  virtual void residual_forward(View out, ConstView a, ConstView b, size_t n) = 0;
  // dst[n] += src (a second path's gradient joining a residual stream)
  virtual void add_into(View dst, ConstView src, size_t n) = 0;

  // Softmax cross-entropy over logits[N, V] with targets[N] (torch's cross_entropy, fused and
  // numerically stable): loss_n = logsumexp(logits_n) − logits_n[target_n]; dlogits[N, V] =
  // (softmax − one-hot) · grad_scale / N, skipped when dlogits is null. A target outside [0, V)
  // is INVALID_ARGUMENT naming its row.
  virtual CrossEntropyResult cross_entropy(View dlogits, ConstView logits, const int32_t* targets, size_t N, size_t V,
                                           float grad_scale) = 0;

  // The optimizer's and mixed precision's passes over flat buffers of n floats.
  // x[n] ← x rounded to bf16 or fp16 (precision/precision.h; nothing for fp32).
  virtual void round_values(float* x, size_t n, Precision p) = 0;
  // Σ x², summed in an order fixed by n (and the compute threads): the global gradient norm's
  // squares, inf or NaN when a gradient is (the loss scaler's overflow check).
  virtual double sum_squares(const float* x, size_t n) = 0;
  // One AdamW (SGD) update of p[n] and its moments (momentum buffer) from the gradient
  // g · grad_scale (clipping and the loss scale's division folded in), math.h's formulas; `low`
  // (may be null) receives each new value rounded to `low_precision`, the copy the layers read.
  virtual void adamw_step(float* p, float* m, float* v, const float* g, float* low, size_t n, float grad_scale,
                          const AdamWCoefficients& c, Precision low_precision) = 0;
  virtual void sgd_step(float* p, float* b, const float* g, float* low, size_t n, float grad_scale,
                        const SgdCoefficients& c, Precision low_precision) = 0;
};

// Every override of a Kernels implementation, declared once for all of them (see kernels.h).
#define RM_KERNELS_OVERRIDES \
  const char* name() const override; \
  void matmul_forward(View out, ConstView in, const float* weight, const float* bias, size_t N, size_t IN, size_t OUT, \
                      Epilogue epilogue) override; \
  void matmul_backward(View din, float* dweight, float* dbias, ConstView dout, ConstView in, const float* weight, \
                       size_t N, size_t IN, size_t OUT, bool accumulate) override; \
  void matmul_weight_rows(float* dweight, float* dbias, const float* dout, const float* in, size_t N, size_t IN, \
                          size_t OUT, size_t r0, size_t r1, bool accumulate) override; \
  void conv2d_forward(float* out, const float* in, const float* weight, const float* bias, size_t B, size_t H, \
                      size_t W, size_t IC, size_t OC, Epilogue epilogue) override; \
  void conv2d_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in, \
                       const float* weight, size_t B, size_t H, size_t W, size_t IC, size_t OC, bool accumulate) override; \
  void maxpool2d_forward(float* out, const float* in, size_t B, size_t H, size_t W, size_t C) override; \
  void maxpool2d_backward(float* din, const float* dout, const float* in, const float* out, size_t B, size_t H, \
                          size_t W, size_t C, bool relu_input) override; \
  void flatten_forward(float* out, const float* in, size_t B, size_t HW, size_t C) override; \
  void flatten_backward(float* din, const float* dout, size_t B, size_t HW, size_t C) override; \
  void relu_forward(float* out, const float* in, size_t n) override; \
  void relu_backward(float* din, const float* dout, const float* out, size_t n) override; \
  void layernorm_forward(View out, float* mean, float* rstd, ConstView in, const float* weight, const float* bias, \
                         size_t N, size_t C) override; \
  void layernorm_backward(View din, float* dweight, float* dbias, ConstView dout, ConstView in, \
                          const float* weight, const float* mean, const float* rstd, size_t N, size_t C, \
                          bool accumulate) override; \
  void attention_forward(View out, float* lse, ConstView qkv, size_t B, size_t T, size_t C, size_t H) override; \
  void attention_backward(View dqkv, ConstView dout, ConstView qkv, ConstView out, const float* lse, size_t B, \
                          size_t T, size_t C, size_t H) override; \
  void attention_step(float* out, const float* q, const float* k, const float* v, size_t t, size_t C, \
                      size_t H) override; \
  void gelu_forward(float* out, const float* in, size_t n) override; \
  void gelu_backward(float* din, const float* dout, const float* in, size_t n) override; \
  void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, size_t B, size_t T, \
                         size_t C) override; \
  void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, size_t B, size_t T, size_t C, size_t V, \
                          bool accumulate_wte, bool accumulate_wpe) override; \
  void residual_forward(View out, ConstView a, ConstView b, size_t n) override; \
  void add_into(View dst, ConstView src, size_t n) override; \
  CrossEntropyResult cross_entropy(View dlogits, ConstView logits, const int32_t* targets, size_t N, size_t V, \
                                   float grad_scale) override; \
  void round_values(float* x, size_t n, Precision p) override; \
  double sum_squares(const float* x, size_t n) override; \
  void adamw_step(float* p, float* m, float* v, const float* g, float* low, size_t n, float grad_scale, \
                  const AdamWCoefficients& c, Precision low_precision) override; \
  void sgd_step(float* p, float* b, const float* g, float* low, size_t n, float grad_scale, const SgdCoefficients& c, \
                Precision low_precision) override;

// The CPU implementations, alive for the whole process. The bf16 one is the fast path with its
// matrix products on oneDNN's bf16 kernels: for bf16 precision, whose values are bf16-rounded
// already, so packing fp32 ones to 16 bits is exact; it stores a GPT's activations in bf16
// (activation_dtype), which its products, LayerNorm, attention, GELU and residual kernels read and
// write as they are; accumulation stays fp32.
Kernels& cpu_reference_kernels();
Kernels& cpu_fast_kernels();
Kernels& cpu_fast_bf16_kernels();

// Which CPU kernels a model runs: the reference (the oracle tests compare against) or the fast
// ones, with bf16 matrix products when `bf16_matmuls` (bf16 precision, where they pay off).
enum class Impl { Fast, Reference };
Kernels& cpu_kernels(Impl impl, bool bf16_matmuls);

// The kernels a model on a device runs, and whether its matrix products take bf16 operands.
struct KernelChoice {
  Kernels& kernels;
  bool bf16_matmuls = false;
};

// bf16 precision on the CPU's fast path: oneDNN's bf16 matrix kernels on, off, or where they
// measure faster than fp32 here (kernels/cpu/matmul_peak.h's probe).
enum class Bf16Kernels { Auto, On, Off };

// The kernels for `device`: the CPU's (`impl`, bf16 matrix products as `bf16` and the precision
// decide) or a GPU's (CUDA_UNAVAILABLE in a build without CUDA). kernels/cpu/select.cc; a build
// without the CPU fast path (ringmaster-gpu-check's) links kernels/reference/select.cc, whose CPU
// kernels are the reference.
KernelChoice choose_kernels(Device& device, Impl impl, Precision precision, Bf16Kernels bf16);

}  // namespace rm
