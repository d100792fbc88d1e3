// A Kernels adapter for checking device kernels with host buffers: each call copies its inputs
// to device memory, poisons the outputs it must write whole with NaN (so an element a kernel
// forgets shows up), keeps what it must add to or leave alone, runs the device's kernel, and
// copies the outputs back. Slow, and only for checks (ringmaster-gpu-check).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "../src/core/device.h"
#include "../src/kernels/kernels.h"

namespace rm::check {

class Staging {
 public:
  explicit Staging(Device& device) : device_(device) {}
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  ~Staging() {
    for (auto& b : buffers_) device_.release(b.device, b.bytes);
  }
  template <class T>
  const T* in(const T* host, size_t n) {
    return static_cast<const T*>(stage(const_cast<T*>(host), n * sizeof(T), Role::In));
  }
  // An output: poisoned with NaN, or (keep) holding what the host buffer holds.
  float* out(float* host, size_t n, bool keep) { return static_cast<float*>(stage(host, n * sizeof(float), keep ? Role::Keep : Role::Out)); }
  // Activations of any type (fp32, or 16-bit encodings), as inputs and outputs.
  ConstView in(ConstView host, size_t n) {
    return {stage(const_cast<void*>(host.data()), n * dtype_size(host.dtype()), Role::In), host.dtype()};
  }
  View out(View host, size_t n, bool keep) { return {stage(host.data(), n * dtype_size(host.dtype()), keep ? Role::Keep : Role::Out), host.dtype()}; }
  // Waits for the device and copies every output back.
  void finish() {
    device_.synchronize();
    for (auto& b : buffers_)
      if (b.role != Role::In) device_.copy_to_host(b.host, b.device, b.bytes);
  }

 private:
  enum class Role { In, Out, Keep };
  struct Buffer {
    void* host;
    void* device;
    size_t bytes;
    Role role;
  };
  void* stage(void* host, size_t bytes, Role role) {
    if (host == nullptr || bytes == 0) return nullptr;
    void* device = device_.allocate(bytes);
    buffers_.push_back({host, device, bytes, role});
    if (role == Role::Out) {
      std::vector<uint8_t> poison(bytes, 0xff);  // all ones: NaN in fp32, bf16 and fp16 alike
      device_.copy_from_host(device, poison.data(), bytes);
    } else {
      device_.copy_from_host(device, host, bytes);
    }
    return device;
  }
  Device& device_;
  std::vector<Buffer> buffers_;
};

class StagedKernels final : public Kernels {
 public:
  StagedKernels(Kernels& inner, Device& device) : k_(inner), device_(device) {}
  const char* name() const override { return k_.name(); }
  DType activation_dtype(Precision precision) const override { return k_.activation_dtype(precision); }

  void matmul_forward(View out, ConstView in, const float* weight, const float* bias, size_t N, size_t IN, size_t OUT,
                      Epilogue e) override {
    Staging s(device_);
    k_.matmul_forward(s.out(out, N * OUT, false), s.in(in, N * IN), s.in(weight, OUT * IN), s.in(bias, OUT), N, IN, OUT, e);
    s.finish();
  }
  void matmul_backward(View din, float* dweight, float* dbias, ConstView dout, ConstView in, const float* weight,
                       size_t N, size_t IN, size_t OUT, bool acc) override {
    Staging s(device_);
    k_.matmul_backward(s.out(din, N * IN, false), s.out(dweight, OUT * IN, acc), s.out(dbias, OUT, acc), s.in(dout, N * OUT),
                       s.in(in, N * IN), s.in(weight, OUT * IN), N, IN, OUT, acc);
    s.finish();
  }
  void matmul_gelu_forward(View out, View aux, ConstView in, const float* weight, const float* bias, size_t N,
                           size_t IN, size_t OUT) override {
    Staging s(device_);
    k_.matmul_gelu_forward(s.out(out, N * OUT, false), s.out(aux, N * OUT, false), s.in(in, N * IN), s.in(weight, OUT * IN),
                           s.in(bias, OUT), N, IN, OUT);
    s.finish();
  }
  void matmul_gelu_backward_data(View dx, ConstView dout, const float* weight, ConstView aux, size_t N,
                                 size_t IN, size_t OUT) override {
    Staging s(device_);
    k_.matmul_gelu_backward_data(s.out(dx, N * IN, false), s.in(dout, N * OUT), s.in(weight, OUT * IN), s.in(aux, N * IN),
                                 N, IN, OUT);
    s.finish();
  }
  void matmul_weight_rows(float* dweight, float* dbias, const float* dout, const float* in, size_t N, size_t IN, size_t OUT,
                          size_t r0, size_t r1, bool acc) override {
    Staging s(device_);  // every other row must stay as it was: both keep
    k_.matmul_weight_rows(s.out(dweight, OUT * IN, true), s.out(dbias, OUT, true), s.in(dout, N * OUT), s.in(in, N * IN), N, IN,
                          OUT, r0, r1, acc);
    s.finish();
  }
  void conv2d_forward(float* out, const float* in, const float* weight, const float* bias, size_t B, size_t H, size_t W,
                      size_t IC, size_t OC, Epilogue e) override {
    Staging s(device_);
    k_.conv2d_forward(s.out(out, B * H * W * OC, false), s.in(in, B * H * W * IC), s.in(weight, OC * IC * 9), s.in(bias, OC), B, H,
                      W, IC, OC, e);
    s.finish();
  }
  void conv2d_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in, const float* weight,
                       size_t B, size_t H, size_t W, size_t IC, size_t OC, bool acc) override {
    Staging s(device_);
    k_.conv2d_backward(s.out(din, B * H * W * IC, false), s.out(dweight, OC * IC * 9, acc), s.out(dbias, OC, acc),
                       s.in(dout, B * H * W * OC), s.in(in, B * H * W * IC), s.in(weight, OC * IC * 9), B, H, W, IC, OC, acc);
    s.finish();
  }
  void maxpool2d_forward(float* out, const float* in, size_t B, size_t H, size_t W, size_t C) override {
    Staging s(device_);
    k_.maxpool2d_forward(s.out(out, B * (H / 2) * (W / 2) * C, false), s.in(in, B * H * W * C), B, H, W, C);
    s.finish();
  }
  void maxpool2d_backward(float* din, const float* dout, const float* in, const float* out, size_t B, size_t H, size_t W,
                          size_t C, bool relu_input) override {
    Staging s(device_);
    size_t pooled = B * (H / 2) * (W / 2) * C;
    k_.maxpool2d_backward(s.out(din, B * H * W * C, false), s.in(dout, pooled), s.in(in, B * H * W * C), s.in(out, pooled), B, H,
                          W, C, relu_input);
    s.finish();
  }
  void flatten_forward(float* out, const float* in, size_t B, size_t HW, size_t C) override {
    Staging s(device_);
    k_.flatten_forward(s.out(out, B * HW * C, false), s.in(in, B * HW * C), B, HW, C);
    s.finish();
  }
  void flatten_backward(float* din, const float* dout, size_t B, size_t HW, size_t C) override {
    Staging s(device_);
    k_.flatten_backward(s.out(din, B * HW * C, false), s.in(dout, B * HW * C), B, HW, C);
    s.finish();
  }
  void relu_forward(float* out, const float* in, size_t n) override {
    Staging s(device_);
    k_.relu_forward(s.out(out, n, false), s.in(in, n), n);
    s.finish();
  }
  void relu_backward(float* din, const float* dout, const float* out, size_t n) override {
    Staging s(device_);
    k_.relu_backward(s.out(din, n, false), s.in(dout, n), s.in(out, n), n);
    s.finish();
  }
  void layernorm_forward(View out, float* mean, float* rstd, ConstView in, const float* weight, const float* bias, size_t N,
                         size_t C) override {
    Staging s(device_);
    k_.layernorm_forward(s.out(out, N * C, false), s.out(mean, N, false), s.out(rstd, N, false), s.in(in, N * C), s.in(weight, C),
                         s.in(bias, C), N, C);
    s.finish();
  }
  void layernorm_backward(View din, float* dweight, float* dbias, ConstView dout, ConstView in, const float* weight,
                          const float* mean, const float* rstd, size_t N, size_t C, bool acc) override {
    Staging s(device_);
    k_.layernorm_backward(s.out(din, N * C, false), s.out(dweight, C, acc), s.out(dbias, C, acc), s.in(dout, N * C), s.in(in, N * C),
                          s.in(weight, C), s.in(mean, N), s.in(rstd, N), N, C, acc);
    s.finish();
  }
  void attention_forward(View out, float* lse, ConstView qkv, size_t B, size_t T, size_t C, size_t H) override {
    Staging s(device_);
    k_.attention_forward(s.out(out, B * T * C, false), s.out(lse, B * H * T, false), s.in(qkv, B * T * 3 * C), B, T, C, H);
    s.finish();
  }
  void attention_backward(View dqkv, ConstView dout, ConstView qkv, ConstView out, const float* lse, size_t B,
                          size_t T, size_t C, size_t H) override {
    Staging s(device_);
    k_.attention_backward(s.out(dqkv, B * T * 3 * C, false), s.in(dout, B * T * C), s.in(qkv, B * T * 3 * C), s.in(out, B * T * C),
                          s.in(lse, B * H * T), B, T, C, H);
    s.finish();
  }
  void attention_step(float* out, const float* q, const float* k, const float* v, size_t t, size_t C, size_t H) override {
    Staging s(device_);
    k_.attention_step(s.out(out, C, false), s.in(q, C), s.in(k, (t + 1) * C), s.in(v, (t + 1) * C), t, C, H);
    s.finish();
  }
  void gelu_forward(float* out, const float* in, size_t n) override {
    Staging s(device_);
    k_.gelu_forward(s.out(out, n, false), s.in(in, n), n);
    s.finish();
  }
  void gelu_backward(float* din, const float* dout, const float* in, size_t n) override {
    Staging s(device_);
    k_.gelu_backward(s.out(din, n, false), s.in(dout, n), s.in(in, n), n);
    s.finish();
  }
  void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, size_t B, size_t T,
                         size_t C) override {
    Staging s(device_);
    size_t rows = B * T == 0 ? 0 : size_t(*std::max_element(tokens, tokens + B * T)) + 1;  // the rows of wte the tokens reach
    k_.embedding_forward(s.out(out, B * T * C, false), s.in(tokens, B * T), s.in(wte, rows * C), s.in(wpe, T * C), B, T, C);
    s.finish();
  }
  void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, size_t B, size_t T, size_t C,
                          size_t V, bool acc_wte, bool acc_wpe) override {
    Staging s(device_);
    k_.embedding_backward(s.out(dwte, V * C, acc_wte), s.out(dwpe, T * C, acc_wpe), s.in(dout, B * T * C), s.in(tokens, B * T), B, T,
                          C, V, acc_wte, acc_wpe);
    s.finish();
  }
  void residual_forward(View out, ConstView a, ConstView b, size_t n) override {
    Staging s(device_);
    k_.residual_forward(s.out(out, n, false), s.in(a, n), s.in(b, n), n);
    s.finish();
  }
  void add_into(View dst, ConstView src, size_t n) override {
    Staging s(device_);
    k_.add_into(s.out(dst, n, true), s.in(src, n), n);
    s.finish();
  }
  CrossEntropyResult cross_entropy(View dlogits, ConstView logits, const int32_t* targets, size_t N, size_t V,
                                   float grad_scale) override {
    Staging s(device_);
    CrossEntropyResult r = k_.cross_entropy(s.out(dlogits, N * V, false), s.in(logits, N * V), s.in(targets, N), N, V, grad_scale);
    s.finish();
    return r;
  }
  void round_values(float* x, size_t n, Precision p) override {
    Staging s(device_);
    k_.round_values(s.out(x, n, true), n, p);
    s.finish();
  }
  double sum_squares(const float* x, size_t n) override {
    Staging s(device_);
    double r = k_.sum_squares(s.in(x, n), n);
    s.finish();
    return r;
  }
  void adamw_step(float* p, float* m, float* v, const float* g, float* low, size_t n, float grad_scale, const AdamWCoefficients& c,
                  Precision low_precision) override {
    Staging s(device_);
    k_.adamw_step(s.out(p, n, true), s.out(m, n, true), s.out(v, n, true), s.in(g, n), s.out(low, n, false), n, grad_scale, c,
                  low_precision);
    s.finish();
  }
  void sgd_step(float* p, float* b, const float* g, float* low, size_t n, float grad_scale, const SgdCoefficients& c,
                Precision low_precision) override {
    Staging s(device_);
    k_.sgd_step(s.out(p, n, true), s.out(b, n, true), s.in(g, n), s.out(low, n, false), n, grad_scale, c, low_precision);
    s.finish();
  }

 private:
  Kernels& k_;
  Device& device_;
};

}  // namespace rm::check
