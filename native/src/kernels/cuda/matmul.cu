// Matrix products through cuBLASLt. Row-major X[r, c] is col-major Xᵀ (c × r, ld c), so each
// row-major product is written as the col-major product of the transposes:
//   out[N, OUT] = in · Wᵀ       ⇔  outᵀ (OUT × N) = W(T) · inᵀ
//   din[N, IN]  = dout · W      ⇔  dinᵀ (IN × N)  = Wᵀ(N) · doutᵀ
//   dW[OUT, IN] = doutᵀ · in    ⇔  dWᵀ (IN × OUT) = inᵀ · dout(T)
#include <cublasLt.h>

#include <cstdint>
#include <utility>

#include "../../cuda/libraries.h"
#include "cuda_common.cuh"
#include "cuda_kernels.h"

namespace rm {

namespace {

// Owns cuBLASLt's descriptors for one call.
struct LtCall {
  const CublasLt& lt = cublaslt();
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t preference = nullptr;
  ~LtCall() {
    if (preference) lt.preference_destroy(preference);
    if (c) lt.layout_destroy(c);
    if (b) lt.layout_destroy(b);
    if (a) lt.layout_destroy(a);
    if (desc) lt.desc_destroy(desc);
  }
};

// The largest power of two up to 256 that `p`'s address is a multiple of: what cuBLASLt may
// assume of it (its default is 256; parameters packed end to end, or a row offset, give less).
uint32_t alignment(const void* p) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uintptr_t lowest = a & (~a + 1);
  return uint32_t(a == 0 || lowest > 256 ? 256 : lowest);
}

}  // namespace

// The cuBLASLt type of a matrix of `dtype` elements.
static cudaDataType_t cuda_type(DType dtype) {
  switch (dtype) {
    case DType::F32: return CUDA_R_32F;
    case DType::BF16: return CUDA_R_16BF;
    case DType::F16: return CUDA_R_16F;
    default: throw NativeError("INTERNAL", std::string("a ") + dtype_name(dtype) + " matrix in a product");
  }
}

bool CudaKernels::gemm(bool ta, bool tb, size_t m, size_t n, size_t k, ConstView A, size_t lda, ConstView B, size_t ldb,
                       View C, size_t ldc, bool accumulate, const float* bias, After after, View aux) {
  if (gemm_inputs_ == Precision::F32) return gemm_operands(ta, tb, m, n, k, A.f32(), lda, B.f32(), ldb, C, ldc, accumulate, bias, after, aux);
  if (m == 0 || n == 0 || k == 0) return gemm_operands(ta, tb, m, n, k, A.data(), lda, B.data(), ldb, C, ldc, accumulate, bias, after, aux);
  // 16-bit operands: activations stored in 16 bits are used as they are; fp32 ones hold values of
  // that type already (the layers round them), so their copies are exact and the product is the
  // fp32 one's, on the tensor cores. A copy covers its operand's span, ld included. A 16-bit
  // result takes a 16-bit bias (cuBLASLt's rule; the bias is the parameters' rounded copy).
  size_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
  DType half = gemm_inputs_ == Precision::BF16 ? DType::BF16 : DType::F16;
  RM_CHECK(C.is_f32() || C.dtype() == half, "INTERNAL", std::string("a ") + dtype_name(C.dtype()) + " result of " + name() + " products");
  auto operand = [&](int slot, ConstView v, size_t span) -> const void* {
    RM_CHECK(v.is_f32() || v.dtype() == half, "INTERNAL", std::string("a ") + dtype_name(v.dtype()) + " operand of " + name() + " products");
    return v.is_f32() ? static_cast<const void*>(half_copy(slot, v.f32(), span)) : v.data();
  };
  const void* a = operand(0, A, lda * (a_cols - 1) + a_rows);
  const void* b = operand(1, B, ldb * (b_cols - 1) + b_rows);
  const void* typed_bias = bias && !C.is_f32() ? static_cast<const void*>(half_copy(2, bias, m)) : bias;
  return gemm_operands(ta, tb, m, n, k, a, lda, b, ldb, C, ldc, accumulate, typed_bias, after, aux);
}

bool CudaKernels::gemm_operands(bool ta, bool tb, size_t m, size_t n, size_t k, const void* A, size_t lda, const void* B,
                                size_t ldb, View C, size_t ldc, bool accumulate, const void* bias, After after,
                                View aux) {
  bool gelu = after == After::GeluKeepInput || after == After::GeluGradient;
  RM_CHECK(gelu == bool(aux), "INTERNAL", "a GELU epilogue, and only one, takes an aux matrix");
  RM_CHECK(C.is_f32() || gemm_inputs_ != Precision::F32, "INTERNAL", "a 16-bit result of fp32 operands");
  // cuBLASLt's terms for the aux matrix: in the result's type (its default), ld a multiple of 8.
  if (gelu && (aux.dtype() != C.dtype() || ldc % 8 != 0 || alignment(aux.data()) < 16)) return false;
  if (m == 0 || n == 0) return true;
  if (k == 0) {  // an empty product: C keeps what it holds, or becomes 0 (then the epilogue)
    size_t bytes = dtype_size(C.dtype());
    if (!accumulate) RM_CUDA_CHECK(cudaMemset2DAsync(C.data(), ldc * bytes, 0, m * bytes, n, stream()), "zeroing an empty product");
    RM_CHECK(bias == nullptr && after == After::Nothing, "INTERNAL", "an empty product with an epilogue");
    return true;
  }
  size_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
  const void* a_data = A;
  const void* b_data = B;
  cudaDataType_t operand = gemm_inputs_ == Precision::F32 ? CUDA_R_32F : gemm_inputs_ == Precision::BF16 ? CUDA_R_16BF : CUDA_R_16F;
  LtCall call;
  const CublasLt& lt = call.lt;
  check_cublas(lt.desc_create(&call.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cuBLASLt matmul descriptor");
  cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  check_cublas(lt.desc_set(call.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa), "cuBLASLt TRANSA");
  check_cublas(lt.desc_set(call.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb), "cuBLASLt TRANSB");
  RM_CHECK(!bias || after != After::GeluGradient, "INTERNAL", "a bias before GELU's derivative");
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  switch (after) {
    case After::Nothing: epilogue = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT; break;
    case After::Relu: epilogue = bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU; break;
    case After::GeluKeepInput: epilogue = bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX; break;
    case After::GeluGradient: epilogue = CUBLASLT_EPILOGUE_DGELU; break;
  }
  check_cublas(lt.desc_set(call.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue), "cuBLASLt epilogue");
  if (bias) check_cublas(lt.desc_set(call.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias), "cuBLASLt bias");
  if (gelu) {  // in the result's type (cuBLASLt's default)
    int64_t aux_ld = int64_t(ldc);
    void* aux_data = aux.data();
    check_cublas(lt.desc_set(call.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux_data, sizeof aux_data), "cuBLASLt aux matrix");
    check_cublas(lt.desc_set(call.desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &aux_ld, sizeof aux_ld), "cuBLASLt aux ld");
  }
  check_cublas(lt.layout_create(&call.a, operand, a_rows, a_cols, lda), "cuBLASLt layout of A");
  check_cublas(lt.layout_create(&call.b, operand, b_rows, b_cols, ldb), "cuBLASLt layout of B");
  check_cublas(lt.layout_create(&call.c, cuda_type(C.dtype()), m, n, ldc), "cuBLASLt layout of C");
  check_cublas(lt.preference_create(&call.preference), "cuBLASLt preference");
  uint64_t workspace = kWorkspaceBytes;
  check_cublas(lt.preference_set(call.preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof workspace),
               "cuBLASLt workspace size");
  const std::pair<cublasLtMatmulPreferenceAttributes_t, const void*> aligned[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, a_data}, {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, b_data},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, C.data()}, {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, C.data()}};
  for (const auto& [attribute, pointer] : aligned) {
    uint32_t bytes = alignment(pointer);
    check_cublas(lt.preference_set(call.preference, attribute, &bytes, sizeof bytes), "cuBLASLt alignment");
  }
  cublasLtMatmulHeuristicResult_t found{};
  int count = 0;
  auto handle = static_cast<cublasLtHandle_t>(lt_);
  cublasStatus_t searched = lt.heuristic(handle, call.desc, call.a, call.b, call.c, call.c, call.preference, 1, &found, &count);
  if (gelu && (searched != CUBLAS_STATUS_SUCCESS || count == 0)) return false;
  check_cublas(searched, "cuBLASLt algorithm search");
  RM_CHECK(count > 0, "CUDA_ERROR", "cuBLASLt has no algorithm for a " + std::to_string(m) + "×" + std::to_string(k) + "·" +
                                        std::to_string(k) + "×" + std::to_string(n) + " product (" + name() + ")");
  float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  check_cublas(lt.matmul(handle, call.desc, &alpha, a_data, call.a, b_data, call.b, &beta, C.data(), call.c, C.data(), call.c, &found.algo,
                         workspace_, workspace, stream()),
               "cuBLASLt matmul");
  return true;
}

void CudaKernels::matmul_forward(View out, ConstView in, const float* weight, const float* bias, size_t N, size_t IN,
                                 size_t OUT, Epilogue epilogue) {
  gemm(true, false, OUT, N, IN, weight, IN, in, IN, out, OUT, false, bias, epilogue == Epilogue::Relu ? After::Relu : After::Nothing);
}

// GELU in the first product's epilogue, its input kept; where cuBLASLt cannot (an OUT that is not
// a multiple of 8, or no algorithm), the product into fp32 scratch and a pass writing both.
void CudaKernels::matmul_gelu_forward(View out, View pre, ConstView in, const float* weight, const float* bias, size_t N,
                                      size_t IN, size_t OUT) {
  if (gemm(true, false, OUT, N, IN, weight, IN, in, IN, out, OUT, false, bias, After::GeluKeepInput, pre)) return;
  float* x = scratch(0, N * OUT);
  gemm(true, false, OUT, N, IN, weight, IN, in, IN, x, OUT, false, bias);
  launch_elements(elements::GeluKeepInput{elements_of(out), elements_of(pre), x}, N * OUT, stream(), "gelu_keep_input");
}

void CudaKernels::matmul_gelu_backward_data(View dpre, ConstView dout, const float* weight, ConstView pre, size_t N,
                                            size_t IN, size_t OUT) {
  View gelu_input(const_cast<void*>(pre.data()), pre.dtype());  // read by DGELU, not written
  if (gemm(false, false, IN, N, OUT, weight, IN, dout, OUT, dpre, IN, false, nullptr, After::GeluGradient, gelu_input)) return;
  float* g = scratch(0, N * IN);
  gemm(false, false, IN, N, OUT, weight, IN, dout, OUT, g, IN, false);
  launch_elements(elements::GeluGradientOf{elements_of(dpre), g, elements_of(pre)}, N * IN, stream(), "gelu_gradient_of");
}

// An fp32 dout (the residual stream's gradient, the logits') feeds both products: with 16-bit
// inputs it is converted once, not once per product.
void CudaKernels::matmul_backward(View din, float* dweight, float* dbias, ConstView dout, ConstView in, const float* weight,
                                  size_t N, size_t IN, size_t OUT, bool accumulate) {
  ConstView dy = dout;
  if (din && dweight && dout.is_f32() && gemm_inputs_ != Precision::F32)
    dy = ConstView(half_copy(3, dout.f32(), N * OUT), gemm_inputs_ == Precision::BF16 ? DType::BF16 : DType::F16);
  if (din) gemm(false, false, IN, N, OUT, weight, IN, dy, OUT, din, IN, false);
  if (dweight) gemm(false, true, IN, OUT, N, in, IN, dy, OUT, dweight, IN, accumulate);
  column_sums(dbias, dout, N, OUT, 0, OUT, accumulate);
}

void CudaKernels::column_sums(float* dbias, ConstView dout, size_t N, size_t OUT, size_t o0, size_t o1, bool accumulate) {
  if (!dbias || o1 <= o0) return;
  launch_elements(elements::ColumnSums{dbias, elements_of(dout), N, OUT, o0, accumulate}, o1 - o0, stream(), "column_sums");
}

void CudaKernels::matmul_weight_rows(float* dweight, float* dbias, const float* dout, const float* in, size_t N,
                                     size_t IN, size_t OUT, size_t r0, size_t r1, bool accumulate) {
  if (r1 <= r0) return;
  gemm(false, true, IN, r1 - r0, N, in, IN, dout + r0, OUT, dweight + r0 * IN, IN, accumulate);
  column_sums(dbias, dout, N, OUT, r0, r1, accumulate);
}

}  // namespace rm
