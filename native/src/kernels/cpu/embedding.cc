// Token + position embedding. Backward scatters by token; threads split the channels (not the
// rows), so no two threads add into the same element and the sums keep a fixed order.
#include <cstring>

#include "../../core/parallel.h"
#include "cpu_kernels.h"

namespace rm {

void CpuKernels::embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, size_t B,
                                   size_t T, size_t C) {
  parallel_for(B * T, 64, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const float* e = wte + size_t(tokens[r]) * C;
      const float* p = wpe + (r % T) * C;
      float* y = out + r * C;
      for (size_t c = 0; c < C; ++c) y[c] = e[c] + p[c];
    }
  });
}

void CpuKernels::embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, size_t B,
                                    size_t T, size_t C, size_t V, bool accumulate_wte,
                                    bool accumulate_wpe) {
  if (!accumulate_wte) std::memset(dwte, 0, V * C * sizeof(float));
  if (!accumulate_wpe) std::memset(dwpe, 0, T * C * sizeof(float));
  parallel_for(C, 16, [&](size_t c0, size_t c1) {
    for (size_t r = 0; r < B * T; ++r) {
      const float* g = dout + r * C;
      float* te = dwte + size_t(tokens[r]) * C;
      float* pe = dwpe + (r % T) * C;
      for (size_t c = c0; c < c1; ++c) {
        te[c] += g[c];
        pe[c] += g[c];
      }
    }
  });
}

}  // namespace rm
