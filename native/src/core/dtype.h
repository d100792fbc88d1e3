// The element types tensors and collectives hold. bf16 and fp16 values are stored in fp32
// buffers rounded to the narrow type (precision.h), or as their 16-bit encodings where they
// travel, feed bf16 kernels, or are a model's activations on kernels that store them in 16 bits
// (Kernels::activation_dtype).
#pragma once

#include <cstddef>

namespace rm {

enum class DType { F32, F64, BF16, F16, I32 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // torch's names: float32, float64, bfloat16, float16, int32

}  // namespace rm
