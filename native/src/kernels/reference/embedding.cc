// Reference token + position embedding: out[b, t] = wte[tokens[b, t]] + wpe[t].
#include <string>
#include <vector>

#include "../../core/common.h"
#include "reference_kernels.h"

namespace rm {

const char* ReferenceKernels::name() const { return "cpu-reference"; }

void ReferenceKernels::embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, size_t B,
                                         size_t T, size_t C) {
  for (size_t b = 0; b < B; ++b)
    for (size_t t = 0; t < T; ++t) {
      const float* e = wte + size_t(tokens[b * T + t]) * C;
      for (size_t c = 0; c < C; ++c) out[(b * T + t) * C + c] = e[c] + wpe[t * C + c];
    }
}

void ReferenceKernels::embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, size_t B,
                                          size_t T, size_t C, size_t V, bool accumulate_wte,
                                          bool accumulate_wpe) {
  std::vector<double> te(V * C, 0.0), pe(T * C, 0.0);
  for (size_t b = 0; b < B; ++b)
    for (size_t t = 0; t < T; ++t) {
      size_t v = size_t(tokens[b * T + t]);
      for (size_t c = 0; c < C; ++c) {
        te[v * C + c] += dout[(b * T + t) * C + c];
        pe[t * C + c] += dout[(b * T + t) * C + c];
      }
    }
  for (size_t i = 0; i < V * C; ++i) dwte[i] = float(te[i]) + (accumulate_wte ? dwte[i] : 0.0f);
  for (size_t i = 0; i < T * C; ++i) dwpe[i] = float(pe[i]) + (accumulate_wpe ? dwpe[i] : 0.0f);
}

Kernels& cpu_reference_kernels() {
  static ReferenceKernels kernels;
  return kernels;
}

}  // namespace rm
