// Reference causal self-attention, the textbook way: for each batch, head and query t, scores
// s_j = q_t·k_j / √D for j ≤ t, p = softmax(s), out_t = Σ_j p_j v_j.
//   backward: dv_j += p_j·dout_t; dp_j = dout_t·v_j; ds_j = p_j (dp_j − Σ_i p_i dp_i);
//             dq_t = Σ_j ds_j k_j / √D; dk_j += ds_j q_t / √D.
#include <cmath>
#include <vector>

#include "reference_kernels.h"

namespace rm {

namespace {

// Row t of head h of q (part 0), k (1) or v (2) of batch b.
const float* head_row(const float* qkv, size_t b, size_t t, size_t part, size_t h, size_t T, size_t C, size_t D) {
  return qkv + (b * T + t) * 3 * C + part * C + h * D;
}

// p[0..t] = softmax of the scaled scores of query t; returns log Σ exp.
double probabilities(std::vector<double>& p, const float* qkv, size_t b, size_t t, size_t h, size_t T, size_t C, size_t D) {
  const float* q = head_row(qkv, b, t, 0, h, T, C, D);
  double scale = 1.0 / std::sqrt(double(D)), max = -INFINITY;
  for (size_t j = 0; j <= t; ++j) {
    const float* k = head_row(qkv, b, j, 1, h, T, C, D);
    double s = 0;
    for (size_t d = 0; d < D; ++d) s += double(q[d]) * k[d];
    p[j] = s * scale;
    max = std::max(max, p[j]);
  }
  double sum = 0;
  for (size_t j = 0; j <= t; ++j) sum += (p[j] = std::exp(p[j] - max));
  for (size_t j = 0; j <= t; ++j) p[j] /= sum;
  return max + std::log(sum);
}

}  // namespace

void ReferenceKernels::attention_forward(View out_v, float* lse, ConstView qkv_v, size_t B, size_t T, size_t C,
                                         size_t H) {
  float* out = out_v.f32();
  const float* qkv = qkv_v.f32();
  size_t D = C / H;
  std::vector<double> p(T);
  for (size_t b = 0; b < B; ++b)
    for (size_t h = 0; h < H; ++h)
      for (size_t t = 0; t < T; ++t) {
        lse[(b * H + h) * T + t] = float(probabilities(p, qkv, b, t, h, T, C, D));
        for (size_t d = 0; d < D; ++d) {
          double acc = 0;
          for (size_t j = 0; j <= t; ++j) acc += p[j] * head_row(qkv, b, j, 2, h, T, C, D)[d];
          out[(b * T + t) * C + h * D + d] = float(acc);
        }
      }
}

void ReferenceKernels::attention_backward(View dqkv_v, ConstView dout_v, ConstView qkv_v, ConstView,
                                          const float*, size_t B, size_t T, size_t C, size_t H) {
  float* dqkv = dqkv_v.f32();
  const float* dout = dout_v.f32();
  const float* qkv = qkv_v.f32();
  size_t D = C / H;
  double scale = 1.0 / std::sqrt(double(D));
  std::vector<double> p(T), dp(T), grad(B * T * 3 * C, 0.0);
  for (size_t b = 0; b < B; ++b)
    for (size_t h = 0; h < H; ++h)
      for (size_t t = 0; t < T; ++t) {
        probabilities(p, qkv, b, t, h, T, C, D);
        const float* dy = dout + (b * T + t) * C + h * D;
        double pdp = 0;
        for (size_t j = 0; j <= t; ++j) {
          const float* v = head_row(qkv, b, j, 2, h, T, C, D);
          dp[j] = 0;
          for (size_t d = 0; d < D; ++d) dp[j] += double(dy[d]) * v[d];
          pdp += p[j] * dp[j];
          double* dv = grad.data() + (b * T + j) * 3 * C + 2 * C + h * D;
          for (size_t d = 0; d < D; ++d) dv[d] += p[j] * dy[d];
        }
        const float* q = head_row(qkv, b, t, 0, h, T, C, D);
        double* dq = grad.data() + (b * T + t) * 3 * C + h * D;
        for (size_t j = 0; j <= t; ++j) {
          double ds = p[j] * (dp[j] - pdp) * scale;
          const float* k = head_row(qkv, b, j, 1, h, T, C, D);
          double* dk = grad.data() + (b * T + j) * 3 * C + C + h * D;
          for (size_t d = 0; d < D; ++d) {
            dq[d] += ds * k[d];
            dk[d] += ds * q[d];
          }
        }
      }
  for (size_t i = 0; i < grad.size(); ++i) dqkv[i] = float(grad[i]);
}

void ReferenceKernels::attention_step(float* out, const float* q, const float* k, const float* v, size_t t, size_t C,
                                      size_t H) {
  size_t D = C / H;
  double scale = 1.0 / std::sqrt(double(D));
  std::vector<double> p(t + 1);
  for (size_t h = 0; h < H; ++h) {
    double max = -INFINITY, sum = 0;
    for (size_t j = 0; j <= t; ++j) {
      double s = 0;
      for (size_t d = 0; d < D; ++d) s += double(q[h * D + d]) * k[j * C + h * D + d];
      p[j] = s * scale;
      max = std::max(max, p[j]);
    }
    for (size_t j = 0; j <= t; ++j) sum += (p[j] = std::exp(p[j] - max));
    for (size_t d = 0; d < D; ++d) {
      double acc = 0;
      for (size_t j = 0; j <= t; ++j) acc += p[j] * v[j * C + h * D + d];
      out[h * D + d] = float(acc / sum);
    }
  }
}

}  // namespace rm
