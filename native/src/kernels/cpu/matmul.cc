// out[N, OUT] = epilogue(in[N, IN] · weight[OUT, IN]ᵀ + bias) on oneDNN's matmul, primitives cached per
// shape. The weight gradient accumulates through a sum post-op (no separate pass); the bias
// gradient is a column sum vectorised along OUT.
#include <oneapi/dnnl/dnnl.hpp>

#include "../../core/common.h"
#include "dnnl_context.h"
#include "../../core/parallel.h"
#include "../../precision/precision.h"
#include "activation_elements.h"
#include "cpu_kernels.h"

namespace rm {

using dnnl::memory;
using tag = memory::format_tag;

// Destinations (out, din) in fp32 or, for 16-bit activations, bf16: [bf16] picks the primitive.
struct CpuKernels::Matmul {
  memory::desc in, weight_t, weight, bias, dout, dout_t, dweight;
  memory::desc out[2], din[2];
  dnnl::matmul forward[2][2][2];  // [bf16 out][with bias][with the ReLU epilogue]
  dnnl::matmul backward_data[2];  // [bf16 din]
  dnnl::matmul backward_weights, backward_weights_accumulate;
};

// Sufficient factors' product: R weight rows over a batch of N, dout read as rows of its
// transpose with OUT's stride.
struct CpuKernels::WeightRows {
  memory::desc dout_t, in, dweight;
  dnnl::matmul assign, accumulate;
};

static dnnl::primitive_attr accumulating() {
  dnnl::post_ops sum;
  sum.append_sum(1.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(sum);
  return attr;
}

dnnl::primitive_attr epilogue_attr(Epilogue e) {
  dnnl::primitive_attr attr;
  if (e == Epilogue::Relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  return attr;
}

CpuKernels::CpuKernels(bool bf16_matmuls) : bf16_(bf16_matmuls) {}
CpuKernels::~CpuKernels() = default;

const char* CpuKernels::name() const { return bf16_ ? "cpu-bf16" : "cpu"; }

CpuKernels::Matmul& CpuKernels::matmul(size_t N, size_t IN, size_t OUT) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = matmuls_[{omp_get_max_threads(), N, IN, OUT}];
  if (slot) return *slot;
  auto m = std::make_shared<Matmul>();
  memory::dim n = memory::dim(N), in = memory::dim(IN), out = memory::dim(OUT);
  // Operands in the kernels' input type (f32, or bf16); accumulators and outputs in f32.
  m->in = input_desc(bf16_, {n, in}, tag::ab);
  m->weight_t = input_desc(bf16_, {in, out}, tag::ba);  // weight[OUT, IN] read as its transpose
  m->weight = input_desc(bf16_, {out, in}, tag::ab);
  m->dout = input_desc(bf16_, {n, out}, tag::ab);
  m->dout_t = input_desc(bf16_, {out, n}, tag::ba);  // dout[N, OUT] read as its transpose
  m->bias = f32_desc({1, out}, tag::ab);
  m->dweight = f32_desc({out, in}, tag::ab);
  auto& eng = cpu_engine();
  for (int bf16_dst = 0; bf16_dst <= int(bf16_); ++bf16_dst) {  // bf16 destinations with bf16 kernels only
    m->out[bf16_dst] = input_desc(bf16_dst, {n, out}, tag::ab);
    m->din[bf16_dst] = input_desc(bf16_dst, {n, in}, tag::ab);
    for (Epilogue e : {Epilogue::None, Epilogue::Relu}) {
      const memory::desc& o = m->out[bf16_dst];
      m->forward[bf16_dst][0][e == Epilogue::Relu] = dnnl::matmul({{m->in, m->weight_t, o}, epilogue_attr(e), eng});
      m->forward[bf16_dst][1][e == Epilogue::Relu] = dnnl::matmul({{m->in, m->weight_t, m->bias, o}, epilogue_attr(e), eng});
    }
    m->backward_data[bf16_dst] = dnnl::matmul({{m->dout, m->weight, m->din[bf16_dst]}, eng});
  }
  m->backward_weights = dnnl::matmul({{m->dout_t, m->in, m->dweight}, eng});
  m->backward_weights_accumulate = dnnl::matmul({{m->dout_t, m->in, m->dweight}, accumulating(), eng});
  slot = std::move(m);
  return *slot;
}

static memory mem(const memory::desc& d, const float* p) { return memory(d, cpu_engine(), const_cast<float*>(p)); }

// An operand as the kernel reads it: the fp32 values; with bf16 kernels, bf16 activations as they
// are, or fp32 ones' 16-bit encodings packed into this thread's scratch slot `slot` (forward and
// backward each pack at most three).
memory CpuKernels::operand(const memory::desc& d, ConstView values, size_t n, int slot) const {
  if (!bf16_) return mem(d, values.f32());
  if (!values.is_f32()) return memory(d, cpu_engine(), const_cast<uint16_t*>(values.bf16()));
  thread_local std::vector<uint16_t> packed[3];
  auto& buffer = packed[slot];
  if (buffer.size() < n) buffer.resize(n);
  pack_bf16(buffer.data(), values.f32(), n);
  return memory(d, cpu_engine(), buffer.data());
}

// A destination of the bf16 kind [1] or fp32 [0]; bf16 ones with bf16 kernels only.
int CpuKernels::destination_kind(View v) const {
  RM_CHECK(v.is_f32() || (bf16_ && v.dtype() == DType::BF16), "INTERNAL",
           std::string("the ") + name() + " kernels cannot write " + dtype_name(v.dtype()) + " activations");
  return v.is_f32() ? 0 : 1;
}

DType CpuKernels::activation_dtype(Precision precision) const {
  return bf16_ && precision == Precision::BF16 ? DType::BF16 : DType::F32;
}

void CpuKernels::matmul_forward(View out, ConstView in, const float* weight, const float* bias, size_t N, size_t IN,
                                size_t OUT, Epilogue epilogue) {
  auto& m = matmul(N, IN, OUT);
  int kind = destination_kind(out);
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, operand(m.in, in, N * IN, 0)},
                                          {DNNL_ARG_WEIGHTS, operand(m.weight_t, weight, OUT * IN, 1)},
                                          {DNNL_ARG_DST, memory(m.out[kind], cpu_engine(), out.data())}};
  if (bias) args.insert({DNNL_ARG_BIAS, mem(m.bias, bias)});
  m.forward[kind][bias != nullptr][epilogue == Epilogue::Relu].execute(cpu_stream(), args);
}

// dbias[o] (+)= Σ_n dout[n, o] for o in [o0, o1), dout fp32 or bf16
template <class Dout>
__attribute__((target_clones("avx512f", "avx2", "default")))
void column_sums(float* dbias, const Dout* dout, size_t N, size_t OUT, size_t o0, size_t o1, bool accumulate) {
  if (!accumulate)
    for (size_t o = o0; o < o1; ++o) dbias[o] = 0.0f;
  for (size_t n = 0; n < N; ++n) {
    const Dout* row = dout + n * OUT;
    for (size_t o = o0; o < o1; ++o) dbias[o] += load(row[o]);
  }
}

void CpuKernels::matmul_backward(View din, float* dweight, float* dbias, ConstView dout, ConstView in,
                                 const float* weight, size_t N, size_t IN, size_t OUT, bool accumulate) {
  auto& m = matmul(N, IN, OUT);
  auto& s = cpu_stream();
  memory dy = operand(m.dout, dout, N * OUT, 0);
  memory dy_t(m.dout_t, cpu_engine(), dy.get_data_handle());  // the same elements, read transposed
  if (dweight)
    (accumulate ? m.backward_weights_accumulate : m.backward_weights)
        .execute(s, {{DNNL_ARG_SRC, dy_t}, {DNNL_ARG_WEIGHTS, operand(m.in, in, N * IN, 1)}, {DNNL_ARG_DST, mem(m.dweight, dweight)}});
  if (dbias)
    typed(dout, [&](auto* d) { parallel_for(OUT, 64, [&](size_t o0, size_t o1) { column_sums(dbias, d, N, OUT, o0, o1, accumulate); }); });
  if (din) {
    int kind = destination_kind(din);
    m.backward_data[kind].execute(s, {{DNNL_ARG_SRC, dy},
                                      {DNNL_ARG_WEIGHTS, operand(m.weight, weight, OUT * IN, 2)},
                                      {DNNL_ARG_DST, memory(m.din[kind], cpu_engine(), din.data())}});
  }
}

CpuKernels::WeightRows& CpuKernels::weight_rows(size_t N, size_t IN, size_t OUT, size_t R) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = weight_rows_[{omp_get_max_threads(), N, IN, OUT, R}];
  if (slot) return *slot;
  auto w = std::make_shared<WeightRows>();
  memory::dim n = memory::dim(N), in = memory::dim(IN), r = memory::dim(R);
  w->dout_t = memory::desc({r, n}, memory::data_type::f32, memory::dims{1, memory::dim(OUT)});
  w->in = f32_desc({n, in}, tag::ab);
  w->dweight = f32_desc({r, in}, tag::ab);
  w->assign = dnnl::matmul({{w->dout_t, w->in, w->dweight}, cpu_engine()});
  w->accumulate = dnnl::matmul({{w->dout_t, w->in, w->dweight}, accumulating(), cpu_engine()});
  slot = std::move(w);
  return *slot;
}

void CpuKernels::matmul_weight_rows(float* dweight, float* dbias, const float* dout, const float* in, size_t N,
                                    size_t IN, size_t OUT, size_t r0, size_t r1, bool accumulate) {
  RM_CHECK(!bf16_, "INVALID_ARGUMENT", "matmul_weight_rows runs on fp32 kernels only");
  if (r1 <= r0) return;
  auto& w = weight_rows(N, IN, OUT, r1 - r0);
  (accumulate ? w.accumulate : w.assign)
      .execute(cpu_stream(), {{DNNL_ARG_SRC, mem(w.dout_t, dout + r0)},
                              {DNNL_ARG_WEIGHTS, mem(w.in, in)},
                              {DNNL_ARG_DST, mem(w.dweight, dweight + r0 * IN)}});
  if (dbias)
    parallel_for(r1 - r0, 64, [&](size_t o0, size_t o1) { column_sums(dbias, dout, N, OUT, r0 + o0, r0 + o1, accumulate); });
}

Kernels& cpu_kernels(Impl impl, bool bf16_matmuls) {
  RM_CHECK(!bf16_matmuls || impl == Impl::Fast, "INVALID_ARGUMENT", "bf16 kernels are fast-path kernels");
  if (impl == Impl::Reference) return cpu_reference_kernels();
  return bf16_matmuls ? cpu_fast_bf16_kernels() : cpu_fast_kernels();
}

Kernels& cpu_fast_kernels() {
  static CpuKernels kernels(false);
  return kernels;
}

Kernels& cpu_fast_bf16_kernels() {
  static CpuKernels kernels(true);
  return kernels;
}

}  // namespace rm
