// Element-wise kernels (ReLU, GELU, residual adds), 2×2 max-pool, flatten and the embeddings.
// The per-element math is core/math.h's, the same functions the CPU loops call.
#include "../../core/math.h"
#include "cuda_common.cuh"
#include "cuda_kernels.h"

namespace rm {

namespace {

__global__ void relu_forward_kernel(float* out, const float* in, size_t n) {
  RM_FOR_EACH(i, n) out[i] = relu(in[i]);
}
__global__ void relu_backward_kernel(float* din, const float* dout, const float* out, size_t n) {
  RM_FOR_EACH(i, n) din[i] = dout[i] * relu_grad(out[i]);
}
__global__ void gelu_forward_kernel(float* out, const float* in, size_t n) {
  RM_FOR_EACH(i, n) out[i] = gelu(in[i]);
}
__global__ void gelu_backward_kernel(float* din, const float* dout, const float* in, size_t n) {
  RM_FOR_EACH(i, n) din[i] = dout[i] * gelu_grad(in[i]);
}
__global__ void residual_kernel(float* out, const float* a, const float* b, size_t n) {
  RM_FOR_EACH(i, n) out[i] = a[i] + b[i];
}
__global__ void add_into_kernel(float* dst, const float* src, size_t n) {
  RM_FOR_EACH(i, n) dst[i] += src[i];
}

// Window tap k (row-major 0 1 / 2 3) of output (b, oy, ox, c), as the CPU kernels index it.
__device__ size_t tap(size_t k, size_t b, size_t oy, size_t ox, size_t c, size_t H, size_t W, size_t C) {
  return ((b * H + 2 * oy + k / 2) * W + 2 * ox + k % 2) * C + c;
}

__global__ void maxpool_forward_kernel(float* out, const float* in, size_t B, size_t H, size_t W, size_t C) {
  size_t OH = H / 2, OW = W / 2;
  RM_FOR_EACH(o, B * OH * OW * C) {
    size_t c = o % C, ox = (o / C) % OW, oy = (o / (C * OW)) % OH, b = o / (C * OW * OH);
    float m = in[tap(0, b, oy, ox, c, H, W, C)];
    for (size_t k = 1; k < 4; ++k) m = fmaxf(m, in[tap(k, b, oy, ox, c, H, W, C)]);
    out[o] = m;
  }
}

// Each window's gradient as maxpool_window_grad routes it.
__global__ void maxpool_backward_kernel(float* din, const float* dout, const float* in, const float* out, size_t B,
                                        size_t H, size_t W, size_t C, bool relu_input) {
  size_t OH = H / 2, OW = W / 2;
  RM_FOR_EACH(o, B * OH * OW * C) {
    size_t c = o % C, ox = (o / C) % OW, oy = (o / (C * OW)) % OH, b = o / (C * OW * OH);
    float taps[4], grads[4];
    for (size_t k = 0; k < 4; ++k) taps[k] = in[tap(k, b, oy, ox, c, H, W, C)];
    maxpool_window_grad(grads, taps, out[o], dout[o], relu_input);
    for (size_t k = 0; k < 4; ++k) din[tap(k, b, oy, ox, c, H, W, C)] = grads[k];
  }
}

// The rows and columns an odd height or width leaves outside every window get no gradient.
__global__ void maxpool_edges_kernel(float* din, size_t B, size_t H, size_t W, size_t C) {
  RM_FOR_EACH(i, B * H * W * C) {
    size_t x = (i / C) % W, y = (i / (C * W)) % H;
    if (y >= H / 2 * 2 || x >= W / 2 * 2) din[i] = 0.0f;
  }
}

__global__ void flatten_forward_kernel(float* out, const float* in, size_t B, size_t HW, size_t C) {
  RM_FOR_EACH(i, B * HW * C) {
    size_t c = i % C, p = (i / C) % HW, b = i / (C * HW);
    out[(b * C + c) * HW + p] = in[i];
  }
}
__global__ void flatten_backward_kernel(float* din, const float* dout, size_t B, size_t HW, size_t C) {
  RM_FOR_EACH(i, B * HW * C) {
    size_t c = i % C, p = (i / C) % HW, b = i / (C * HW);
    din[i] = dout[(b * C + c) * HW + p];
  }
}

__global__ void embedding_forward_kernel(float* out, const int32_t* tokens, const float* wte, const float* wpe, size_t B,
                                         size_t T, size_t C) {
  RM_FOR_EACH(i, B * T * C) {
    size_t c = i % C, bt = i / C, t = bt % T;
    out[i] = wte[size_t(tokens[bt]) * C + c] + wpe[t * C + c];
  }
}

// dwte: one thread per channel walks every position in order (the sums of a token's rows are
// always taken in the same order); rows of tokens that do not occur were zeroed before.
__global__ void embedding_wte_kernel(float* dwte, const float* dout, const int32_t* tokens, size_t N, size_t C) {
  size_t c = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  for (size_t n = 0; n < N; ++n) dwte[size_t(tokens[n]) * C + c] += dout[n * C + c];
}

__global__ void embedding_wpe_kernel(float* dwpe, const float* dout, size_t B, size_t T, size_t C, bool accumulate) {
  RM_FOR_EACH(i, T * C) {
    float s = 0.0f;
    for (size_t b = 0; b < B; ++b) s += dout[b * T * C + i];
    dwpe[i] = accumulate ? dwpe[i] + s : s;
  }
}

}  // namespace

#define RM_LAUNCH(kernel, n, ...)                                                  \
  do {                                                                             \
    if ((n) > 0) {                                                                 \
      kernel<<<blocks_for(n), kThreads, 0, stream()>>>(__VA_ARGS__);               \
      RM_CUDA_LAUNCHED(#kernel);                                                   \
    }                                                                              \
  } while (0)

void CudaKernels::relu_forward(float* out, const float* in, size_t n) { RM_LAUNCH(relu_forward_kernel, n, out, in, n); }
void CudaKernels::relu_backward(float* din, const float* dout, const float* out, size_t n) {
  RM_LAUNCH(relu_backward_kernel, n, din, dout, out, n);
}
void CudaKernels::gelu_forward(float* out, const float* in, size_t n) { RM_LAUNCH(gelu_forward_kernel, n, out, in, n); }
void CudaKernels::gelu_backward(float* din, const float* dout, const float* in, size_t n) {
  RM_LAUNCH(gelu_backward_kernel, n, din, dout, in, n);
}
void CudaKernels::residual_forward(float* out, const float* a, const float* b, size_t n) {
  RM_LAUNCH(residual_kernel, n, out, a, b, n);
}
void CudaKernels::add_into(float* dst, const float* src, size_t n) { RM_LAUNCH(add_into_kernel, n, dst, src, n); }

void CudaKernels::maxpool2d_forward(float* out, const float* in, size_t B, size_t H, size_t W, size_t C) {
  RM_LAUNCH(maxpool_forward_kernel, B * (H / 2) * (W / 2) * C, out, in, B, H, W, C);
}
void CudaKernels::maxpool2d_backward(float* din, const float* dout, const float* in, const float* out, size_t B, size_t H,
                                     size_t W, size_t C, bool relu_input) {
  if (H % 2 || W % 2) RM_LAUNCH(maxpool_edges_kernel, B * H * W * C, din, B, H, W, C);
  RM_LAUNCH(maxpool_backward_kernel, B * (H / 2) * (W / 2) * C, din, dout, in, out, B, H, W, C, relu_input);
}

void CudaKernels::flatten_forward(float* out, const float* in, size_t B, size_t HW, size_t C) {
  RM_LAUNCH(flatten_forward_kernel, B * HW * C, out, in, B, HW, C);
}
void CudaKernels::flatten_backward(float* din, const float* dout, size_t B, size_t HW, size_t C) {
  RM_LAUNCH(flatten_backward_kernel, B * HW * C, din, dout, B, HW, C);
}

void CudaKernels::embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, size_t B,
                                    size_t T, size_t C) {
  RM_LAUNCH(embedding_forward_kernel, B * T * C, out, tokens, wte, wpe, B, T, C);
}

void CudaKernels::embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, size_t B,
                                     size_t T, size_t C, size_t V, bool accumulate_wte, bool accumulate_wpe) {
  if (dwte) {
    if (!accumulate_wte) RM_CUDA_CHECK(cudaMemsetAsync(dwte, 0, V * C * sizeof(float), stream()), "zeroing dwte");
    RM_LAUNCH(embedding_wte_kernel, C, dwte, dout, tokens, B * T, C);
  }
  if (dwpe) RM_LAUNCH(embedding_wpe_kernel, T * C, dwpe, dout, B, T, C, accumulate_wpe);
}

}  // namespace rm
