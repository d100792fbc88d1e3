#include "compressed_sum.h"

#include <gloo/allreduce.h>

#include <vector>

namespace rm {

template <Precision P>
static uint16_t encode(float x) {
  return P == Precision::BF16 ? bf16_bits(round_to_bf16(x)) : fp16_bits(round_to_fp16(x));
}

template <Precision P>
static float decode(uint16_t h) {
  return P == Precision::BF16 ? bf16_value(h) : fp16_value(h);
}

// Gloo's reduce function: c[i] = a[i] + b[i], in 16 bits.
template <Precision P>
static void sum16(void* c, const void* a, const void* b, size_t n) {
  auto* out = static_cast<uint16_t*>(c);
  auto* x = static_cast<const uint16_t*>(a);
  auto* y = static_cast<const uint16_t*>(b);
  for (size_t i = 0; i < n; ++i) out[i] = encode<P>(decode<P>(x[i]) + decode<P>(y[i]));
}

template <Precision P>
static void sum_through(const std::shared_ptr<gloo::Context>& context, float* data, size_t n, float scale, uint32_t tag,
                        std::chrono::milliseconds timeout) {
  std::vector<uint16_t> wire(n);
  for (size_t i = 0; i < n; ++i) wire[i] = encode<P>(scale * data[i]);
  gloo::AllreduceOptions opts(context);
  opts.setOutput(wire.data(), n);
  opts.setReduceFunction(&sum16<P>);
  opts.setTag(tag);
  opts.setTimeout(timeout);
  gloo::allreduce(opts);
  for (size_t i = 0; i < n; ++i) data[i] = decode<P>(wire[i]);
}

size_t compressed_sum(const std::shared_ptr<gloo::Context>& context, float* data, size_t n, float scale, Precision wire,
                      uint32_t tag, std::chrono::milliseconds timeout) {
  if (wire == Precision::BF16) sum_through<Precision::BF16>(context, data, n, scale, tag, timeout);
  else sum_through<Precision::F16>(context, data, n, scale, tag, timeout);
  return n * sizeof(uint16_t);
}

}  // namespace rm
