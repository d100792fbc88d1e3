#include "gradient_wire.h"

namespace rm {

template <Precision P>
static void encode(uint16_t* out, const float* in, size_t n, float scale) {
  for (size_t i = 0; i < n; ++i) {
    float x = scale * in[i];
    out[i] = P == Precision::BF16 ? bf16_bits(round_to_bf16(x)) : fp16_bits(round_to_fp16(x));
  }
}

template <Precision P>
static void decode(float* out, const uint16_t* in, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = P == Precision::BF16 ? bf16_value(in[i]) : fp16_value(in[i]);
}

float GradientWire::sum(ProcessGroup& group, float* data, size_t n, float scale) {
  if (wire_ == Precision::F32) {
    group.all_reduce_now(data, n, DType::F32, ReduceOp::Sum);
    bytes_ += n * sizeof(float);
    return scale;
  }
  staging_.resize(n);
  bool bf16 = wire_ == Precision::BF16;
  if (bf16) encode<Precision::BF16>(staging_.data(), data, n, scale);
  else encode<Precision::F16>(staging_.data(), data, n, scale);
  group.all_reduce_now(staging_.data(), n, bf16 ? DType::BF16 : DType::F16, ReduceOp::Sum);
  if (bf16) decode<Precision::BF16>(data, staging_.data(), n);
  else decode<Precision::F16>(data, staging_.data(), n);
  bytes_ += n * sizeof(uint16_t);
  return 1.0f;
}

}  // namespace rm
