#include "linear.h"

#include <cmath>

#include "../core/common.h"
#include "../kernels/cpu/dnnl_context.h"
#include "../kernels/kernels.h"
#include "../core/parallel.h"
#include "../precision/precision.h"
#include "epilogue.h"

namespace rm {

using dnnl::memory;
using tag = memory::format_tag;

// dbias[o] (+)= Σ_b dout[b, o], vectorised along o and split across threads by columns.
__attribute__((target_clones("avx512f", "avx2", "default")))
static void column_sums(float* dbias, const float* dout, size_t B, size_t OUT, size_t o0,
                        size_t o1, bool accumulate) {
  if (!accumulate)
    for (size_t o = o0; o < o1; ++o) dbias[o] = 0.0f;
  for (size_t b = 0; b < B; ++b) {
    const float* row = dout + b * OUT;
    for (size_t o = o0; o < o1; ++o) dbias[o] += row[o];
  }
}

// The matmuls' operand descriptors are in the kernels' input type (f32, or bf16); src, weight
// and dout each have a bf16 copy in bf16 mode, packed before the matmuls that read them (src and
// weight in forward, for its backward too: backward follows the forward of its batch).
struct Linear::Primitives {
  memory::desc src, weight_t, weight, bias, dst, dout, dout_t, din, dweight;
  dnnl::matmul forward, backward_data, backward_weights, backward_weights_accumulate;
  FloatBuffer masked_dout;  // dout through the fused ReLU's derivative (Epilogue::Relu only)
  memory src16, weight16, dout16;
  // Sufficient factors: this rank's weight rows over the gathered batch, made on first use.
  struct Gathered {
    memory::desc dout_t, in, dweight;
    dnnl::matmul assign, accumulate;
  };
  std::unique_ptr<Gathered> gathered;
};

static dnnl::primitive_attr accumulating() {
  dnnl::post_ops sum;
  sum.append_sum(1.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(sum);
  return attr;
}

Linear::Linear(SampleShape in, size_t out_features, Impl impl, Epilogue epilogue, bool bf16_kernels)
    : IN_(in.size()), OUT_(out_features), impl_(impl), epilogue_(epilogue), bf16_(bf16_kernels) {
  RM_CHECK(impl == Impl::Fast || (epilogue == Epilogue::None && !bf16_kernels), "INVALID_ARGUMENT",
           "only the fast linear fuses an activation or runs bf16 kernels");
}

Linear::~Linear() = default;

std::vector<ParamTensor> Linear::params() const {
  return {{"weight", {OUT_, IN_}, 0}, {"bias", {OUT_}, OUT_ * IN_}};
}

// torch.nn.Linear.reset_parameters: kaiming_uniform_(a=√5) gives bound 1/√fan_in for the weight;
// the bias is uniform in ±1/√fan_in too.
void Linear::init_params(float* params, Rng& rng) const {
  float bound = 1.0f / std::sqrt(float(IN_));
  for (size_t k = 0; k < OUT_ * IN_ + OUT_; ++k) params[k] = rng.uniform(-bound, bound);
}

Linear::Primitives& Linear::primitives(size_t B) {
  auto& slot = cache_[B];
  if (slot) return *slot;
  auto p = std::make_unique<Primitives>();
  memory::dim b = memory::dim(B), in = memory::dim(IN_), out = memory::dim(OUT_);
  p->src = input_desc(bf16_, {b, in}, tag::ab);
  p->weight_t = input_desc(bf16_, {in, out}, tag::ba);  // weight[OUT, IN] read as its transpose
  p->weight = input_desc(bf16_, {out, in}, tag::ab);
  p->dout = input_desc(bf16_, {b, out}, tag::ab);
  p->dout_t = input_desc(bf16_, {out, b}, tag::ba);  // dout[B, OUT] read as its transpose
  p->bias = f32_desc({1, out}, tag::ab);
  p->dst = f32_desc({b, out}, tag::ab);
  p->din = f32_desc({b, in}, tag::ab);
  p->dweight = f32_desc({out, in}, tag::ab);
  auto& eng = cpu_engine();
  p->forward = dnnl::matmul({{p->src, p->weight_t, p->bias, p->dst}, epilogue_attr(epilogue_), eng});
  if (epilogue_ == Epilogue::Relu) p->masked_dout = FloatBuffer(B * OUT_);
  p->backward_data = dnnl::matmul({{p->dout, p->weight, p->din}, eng});
  p->backward_weights = dnnl::matmul({{p->dout_t, p->src, p->dweight}, eng});
  p->backward_weights_accumulate = dnnl::matmul({{p->dout_t, p->src, p->dweight}, accumulating(), eng});
  if (bf16_) {
    p->src16 = memory(p->src, eng);
    p->weight16 = memory(p->weight, eng);
    p->dout16 = memory(p->dout, eng);
  }
  slot = std::move(p);
  return *slot;
}

void Linear::forward(float* out, const float* in, const float* params, size_t B) {
  const float* weight = params;
  const float* bias = params + OUT_ * IN_;
  if (impl_ == Impl::Reference) return cpu_reference_kernels().matmul_forward(out, in, weight, bias, B, IN_, OUT_);
  auto& p = primitives(B);
  auto& eng = cpu_engine();
  if (bf16_) {
    pack_bf16(bf16_data(p.src16), in, B * IN_);
    pack_bf16(bf16_data(p.weight16), weight, OUT_ * IN_);
  }
  p.forward.execute(cpu_stream(), {{DNNL_ARG_SRC, input_memory(bf16_, p.src, p.src16, in)},
                                   {DNNL_ARG_WEIGHTS, input_memory(bf16_, p.weight_t, p.weight16, weight)},
                                   {DNNL_ARG_BIAS, memory(p.bias, eng, const_cast<float*>(bias))},
                                   {DNNL_ARG_DST, memory(p.dst, eng, out)}});
}

void Linear::backward(float* din, float* dparams, const float* dout, const float* in,
                      const float* out, const float* params, size_t B, bool accumulate) {
  const float* weight = params;
  float* dweight = dparams;
  float* dbias = dparams + OUT_ * IN_;
  if (impl_ == Impl::Reference)
    return cpu_reference_kernels().matmul_backward(din, dweight, dbias, dout, in, weight, B, IN_, OUT_, accumulate);
  auto& p = primitives(B);
  auto& eng = cpu_engine();
  auto& s = cpu_stream();
  dout = epilogue_backward(epilogue_, p.masked_dout.data(), dout, out, B * OUT_);
  if (bf16_) pack_bf16(bf16_data(p.dout16), dout, B * OUT_);
  auto& dw = accumulate ? p.backward_weights_accumulate : p.backward_weights;
  dw.execute(s, {{DNNL_ARG_SRC, input_memory(bf16_, p.dout_t, p.dout16, dout)},
                 {DNNL_ARG_WEIGHTS, input_memory(bf16_, p.src, p.src16, in)},
                 {DNNL_ARG_DST, memory(p.dweight, eng, dweight)}});
  parallel_for(OUT_, 256, [&](size_t o0, size_t o1) { column_sums(dbias, dout, B, OUT_, o0, o1, accumulate); });
  if (din != nullptr) input_gradient(p, din, dout, weight);
}

void Linear::input_gradient(Primitives& p, float* din, const float* dout, const float* weight) {
  p.backward_data.execute(cpu_stream(), {{DNNL_ARG_SRC, input_memory(bf16_, p.dout, p.dout16, dout)},
                                         {DNNL_ARG_WEIGHTS, input_memory(bf16_, p.weight, p.weight16, weight)},
                                         {DNNL_ARG_DST, memory(p.din, cpu_engine(), din)}});
}

void Linear::backward_factored(float* din, float* dparams, const float* dout, const float* in, const float* out,
                               const float* params, size_t B, bool accumulate, FactorExchange& exchange, size_t slot) {
  RM_CHECK(impl_ == Impl::Fast && !bf16_, "INVALID_ARGUMENT", "sufficient factors need the fast fp32-kernel linear");
  auto& p = primitives(B);
  auto& eng = cpu_engine();
  dout = epilogue_backward(epilogue_, p.masked_dout.data(), dout, out, B * OUT_);
  exchange.publish(slot, in, dout, B);
  if (din != nullptr) input_gradient(p, din, dout, params);  // while the other ranks publish
  FactorExchange::Gathered g = exchange.gather(slot);
  Range rows = exchange.rows(slot);
  memory::dim n = memory::dim(g.batch), r = memory::dim(rows.end - rows.begin), in_f = memory::dim(IN_);
  if (!p.gathered) {
    auto q = std::make_unique<Primitives::Gathered>();
    q->dout_t = memory::desc({r, n}, memory::data_type::f32, memory::dims{1, memory::dim(OUT_)});  // rows of doutᵀ
    q->in = f32_desc({n, in_f}, tag::ab);
    q->dweight = f32_desc({r, in_f}, tag::ab);
    q->assign = dnnl::matmul({{q->dout_t, q->in, q->dweight}, eng});
    q->accumulate = dnnl::matmul({{q->dout_t, q->in, q->dweight}, accumulating(), eng});
    p.gathered = std::move(q);
  }
  auto& q = *p.gathered;
  float* dweight = dparams + rows.begin * IN_;
  float* dbias = dparams + OUT_ * IN_;
  (accumulate ? q.accumulate : q.assign)
      .execute(cpu_stream(), {{DNNL_ARG_SRC, memory(q.dout_t, eng, const_cast<float*>(g.dout + rows.begin))},
                              {DNNL_ARG_WEIGHTS, memory(q.in, eng, const_cast<float*>(g.in))},
                              {DNNL_ARG_DST, memory(q.dweight, eng, dweight)}});
  parallel_for(rows.end - rows.begin, 256, [&](size_t o0, size_t o1) {
    column_sums(dbias, g.dout, g.batch, OUT_, rows.begin + o0, rows.begin + o1, accumulate);
  });
}

}  // namespace rm
