// Per-kernel GPU times at GPT-2 small's training shapes (8 sequences of 1024 tokens, 768
// channels, 12 heads, a vocabulary of 50257): each CUDA kernel a training step calls, timed with
// CUDA events on the device's stream, the best of 5 runs after 2 untimed. Prints one JSON object
// per kernel with its milliseconds and its achieved TFLOP/s (matrix products, attention) or GB/s
// (the memory-bound rest), the numbers bench/RESULTS.md's per-kernel table is made of.
// ringmaster-gpu-check runs it after the checks.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "../src/cuda/cuda_check.h"
#include "../src/cuda/cuda_device.h"
#include "../src/kernels/cuda/cuda_kernels.h"

namespace rm::check {

/** Zero-filled device buffers, released together. */
class DeviceBuffers {
 public:
  explicit DeviceBuffers(CudaDevice& device) : device_(device) {}
  ~DeviceBuffers() {
    for (auto& [p, bytes] : owned_) device_.release(p, bytes);
  }
  float* floats(size_t n) { return static_cast<float*>(take(n * sizeof(float))); }
  int32_t* ints(size_t n) { return static_cast<int32_t*>(take(n * sizeof(int32_t))); }

 private:
  void* take(size_t bytes) {
    void* p = device_.allocate(bytes);
    owned_.push_back({p, bytes});
    return p;
  }
  CudaDevice& device_;
  std::vector<std::pair<void*, size_t>> owned_;
};

/** Best-of-5 milliseconds of `run` on the device's stream, after 2 untimed runs (cuBLASLt loads its kernels on first use). */
inline double best_ms(CudaDevice& device, const std::function<void()>& run) {
  cudaEvent_t start, stop;
  RM_CUDA_CHECK(cudaEventCreate(&start), "creating an event");
  RM_CUDA_CHECK(cudaEventCreate(&stop), "creating an event");
  double best = 1e300;
  for (int r = -2; r < 5; ++r) {
    RM_CUDA_CHECK(cudaEventRecord(start, device.stream()), "recording an event");
    run();
    RM_CUDA_CHECK(cudaEventRecord(stop, device.stream()), "recording an event");
    RM_CUDA_CHECK(cudaEventSynchronize(stop), "timing a kernel");
    float ms = 0;
    RM_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop), "timing a kernel");
    if (r >= 0) best = std::min(best, double(ms));
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return best;
}

/** One line: `flops` makes it a TFLOP/s figure, else `bytes` a GB/s one. */
inline void print_time(const std::string& kernel, const std::string& shape, double ms, double flops, double bytes) {
  double rate = flops > 0 ? flops / (ms * 1e-3) / 1e12 : bytes / (ms * 1e-3) / 1e9;
  std::printf("{\"check\":\"kernel-time\",\"ok\":true,\"kernel\":\"%s\",\"shape\":\"%s\",\"ms\":%.3f,\"%s\":%.1f}\n", kernel.c_str(),
              shape.c_str(), ms, flops > 0 ? "tflops" : "gbps", rate);
}

// `k16`: the bf16 kernels, for the products and attention that bf16 precision runs.
inline void kernel_timings(CudaKernels& k, CudaKernels& k16, CudaDevice& device) {
  const size_t B = 8, T = 1024, C = 768, H = 12, V = 50257, N = B * T, F = 4 * C;
  const size_t params = 124'439'808;  // GPT-2 small's, biases included
  DeviceBuffers buf(device);
  float *x = buf.floats(N * F), *y = buf.floats(N * F), *dy = buf.floats(N * F), *dx = buf.floats(N * F);
  float *w = buf.floats(V * C), *dw = buf.floats(V * C), *bias = buf.floats(F), *dbias = buf.floats(F);
  float *logits = buf.floats(N * V), *dlogits = buf.floats(N * V);
  float *qkv = buf.floats(N * 3 * C), *dqkv = buf.floats(N * 3 * C), *lse = buf.floats(B * H * T);
  float *mean = buf.floats(N), *rstd = buf.floats(N), *wpe = buf.floats(T * C), *dwpe = buf.floats(T * C);
  int32_t* tokens = buf.ints(N);
  const float f = 4;  // bytes per float
  struct Gemm {
    const char* name;
    size_t in, out;
  };
  for (Gemm g : {Gemm{"attn.c_attn", C, 3 * C}, Gemm{"attn.c_proj", C, C}, Gemm{"mlp.c_fc", C, F}, Gemm{"mlp.c_proj", F, C}, Gemm{"lm_head", C, V}}) {
    std::string shape = std::to_string(N) + "x" + std::to_string(g.in) + " · " + std::to_string(g.out) + "x" + std::to_string(g.in);
    float* out = g.out == V ? logits : y;
    double flops = 2.0 * N * g.in * g.out;
    print_time(std::string("matmul_forward ") + g.name, shape, best_ms(device, [&] { k.matmul_forward(out, x, w, g.out == V ? nullptr : bias, N, g.in, g.out, Epilogue::None); }), flops, 0);
    float* dout = g.out == V ? dlogits : dy;
    print_time(std::string("matmul_backward ") + g.name, shape,
               best_ms(device, [&] { k.matmul_backward(dx, dw, g.out == V ? nullptr : dbias, dout, x, w, N, g.in, g.out, false); }), 2 * flops, 0);
  }
  std::string bthc = std::to_string(B) + "x" + std::to_string(T) + "x" + std::to_string(C) + ", " + std::to_string(H) + " heads";
  double attention_flops = 4.0 * B * H * (T * (T + 1) / 2.0) * (C / H);  // QKᵀ and PV over the causal half
  print_time("attention_forward", bthc, best_ms(device, [&] { k.attention_forward(y, lse, qkv, B, T, C, H); }), attention_flops, 0);
  print_time("attention_backward", bthc, best_ms(device, [&] { k.attention_backward(dqkv, dy, qkv, y, lse, B, T, C, H); }), 2.5 * attention_flops, 0);
  // Flash attention's backward runs seven products' worth (S and dO·Vᵀ twice); the figure counts
  // the five a backward needs, so it compares with the fp32 kernels' and with other libraries'.
  print_time("attention_forward (flash bf16)", bthc, best_ms(device, [&] { k16.attention_forward(y, lse, qkv, B, T, C, H); }), attention_flops, 0);
  print_time("attention_backward (flash bf16)", bthc, best_ms(device, [&] { k16.attention_backward(dqkv, dy, qkv, y, lse, B, T, C, H); }), 2.5 * attention_flops, 0);
  std::string nc = std::to_string(N) + "x" + std::to_string(C);
  print_time("layernorm_forward", nc, best_ms(device, [&] { k.layernorm_forward(y, mean, rstd, x, w, bias, N, C); }), 0, 2.0 * N * C * f);
  print_time("layernorm_backward", nc, best_ms(device, [&] { k.layernorm_backward(dx, dw, dbias, dy, x, w, mean, rstd, N, C, false); }), 0, 3.0 * N * C * f);
  std::string nf = std::to_string(N) + "x" + std::to_string(F);
  print_time("gelu_forward", nf, best_ms(device, [&] { k.gelu_forward(y, x, N * F); }), 0, 2.0 * N * F * f);
  print_time("gelu_backward", nf, best_ms(device, [&] { k.gelu_backward(dx, dy, x, N * F); }), 0, 3.0 * N * F * f);
  print_time("residual_forward", nc, best_ms(device, [&] { k.residual_forward(y, x, dy, N * C); }), 0, 3.0 * N * C * f);
  print_time("add_into", nc, best_ms(device, [&] { k.add_into(y, x, N * C); }), 0, 3.0 * N * C * f);
  print_time("embedding_forward", nc, best_ms(device, [&] { k.embedding_forward(y, tokens, w, wpe, B, T, C); }), 0, 3.0 * N * C * f);
  print_time("embedding_backward", nc, best_ms(device, [&] { k.embedding_backward(dw, dwpe, dy, tokens, B, T, C, V, true, false); }), 0, 3.0 * N * C * f);
  std::string nv = std::to_string(N) + "x" + std::to_string(V);
  print_time("cross_entropy", nv, best_ms(device, [&] { k.cross_entropy(dlogits, logits, tokens, N, V, 1.0f); }), 0, 2.0 * N * V * f);
  // The optimizer over every parameter: p, m, v read and written, g read, the bf16 copy written.
  float* state = buf.floats(4 * params);
  std::string all = std::to_string(params) + " parameters";
  AdamWCoefficients c{0.9999f, 0.9f, 0.95f, 1e-4f, 1.0f, 1e-8f};
  print_time("adamw_step (bf16 copy)", all,
             best_ms(device, [&] { k.adamw_step(state, state + params, state + 2 * params, state + 3 * params, logits, params, 1.0f, c, Precision::BF16); }),
             0, 8.0 * params * f);
  print_time("sum_squares", all, best_ms(device, [&] { k.sum_squares(state + 3 * params, params); }), 0, 1.0 * params * f);
}

}  // namespace rm::check
