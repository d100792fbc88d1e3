// 3×3 convolution (stride 1, padding 1) on oneDNN's direct convolutions, channels-last
// activations. Weights run in whatever blocked layout oneDNN prefers: reorders translate torch's
// [OC, IC, 3, 3] layout to and from it (and to bf16 for bf16 kernels) on every call, which costs
// little next to the convolution (the weights are OC·IC·9 floats). Primitives are cached per
// shape and shared between threads; what a call writes besides its outputs lives in scratch of
// the calling thread.
#include <oneapi/dnnl/dnnl.hpp>

#include <vector>

#include "../../core/common.h"
#include "cpu_kernels.h"
#include "dnnl_context.h"

namespace rm {

using dnnl::memory;
using tag = memory::format_tag;

struct CpuKernels::Conv {
  memory::desc src, dst, dout, din, weight_user, bias;
  memory::desc forward_weight, backward_data_weight, dweight;  // oneDNN's layouts
  dnnl::convolution_forward forward;
  dnnl::convolution_backward_data backward_data;
  dnnl::convolution_backward_weights backward_weights;
  dnnl::reorder to_forward_weight, to_backward_data_weight, from_dweight;
};

CpuKernels::Conv& CpuKernels::conv(size_t B, size_t H, size_t W, size_t IC, size_t OC, Epilogue epilogue) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = convs_[{omp_get_max_threads(), B, H, W, IC, OC, epilogue}];
  if (slot) return *slot;
  auto c = std::make_shared<Conv>();
  auto& eng = cpu_engine();
  memory::dim b = memory::dim(B), ic = memory::dim(IC), oc = memory::dim(OC), h = memory::dim(H), w = memory::dim(W);
  c->src = input_desc(bf16_, {b, ic, h, w}, tag::nhwc);
  c->dout = input_desc(bf16_, {b, oc, h, w}, tag::nhwc);
  c->dst = f32_desc({b, oc, h, w}, tag::nhwc);
  c->din = f32_desc({b, ic, h, w}, tag::nhwc);
  c->weight_user = f32_desc({oc, ic, 3, 3}, tag::oihw);
  c->bias = f32_desc({oc}, tag::x);
  auto weight_any = input_desc(bf16_, {oc, ic, 3, 3}, tag::any);
  auto dweight_any = f32_desc({oc, ic, 3, 3}, tag::any);
  memory::dims stride{1, 1}, pad{1, 1};
  auto algo = dnnl::algorithm::convolution_direct;
  dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, algo, c->src, weight_any, c->bias, c->dst,
                                     stride, pad, pad);
  dnnl::convolution_forward::primitive_desc fpd(fd, epilogue_attr(epilogue), eng);
  dnnl::convolution_backward_data::desc bdd(algo, c->din, weight_any, c->dout, stride, pad, pad);
  dnnl::convolution_backward_data::primitive_desc bdpd(bdd, eng, fpd);
  dnnl::convolution_backward_weights::desc bwd(algo, c->src, dweight_any, c->bias, c->dout, stride, pad, pad);
  dnnl::convolution_backward_weights::primitive_desc bwpd(bwd, eng, fpd);
  c->forward = dnnl::convolution_forward(fpd);
  c->backward_data = dnnl::convolution_backward_data(bdpd);
  c->backward_weights = dnnl::convolution_backward_weights(bwpd);
  c->forward_weight = fpd.weights_desc();
  c->backward_data_weight = bdpd.weights_desc();
  c->dweight = bwpd.diff_weights_desc();
  c->to_forward_weight = dnnl::reorder(dnnl::reorder::primitive_desc(eng, c->weight_user, eng, c->forward_weight));
  c->to_backward_data_weight = dnnl::reorder(dnnl::reorder::primitive_desc(eng, c->weight_user, eng, c->backward_data_weight));
  c->from_dweight = dnnl::reorder(dnnl::reorder::primitive_desc(eng, c->dweight, eng, c->weight_user));
  slot = std::move(c);
  return *slot;
}

// A memory object for `d` over this thread's scratch slot `slot`, grown as needed.
static memory scratch(const memory::desc& d, int slot) {
  thread_local std::vector<char> buffers[4];
  auto& buffer = buffers[slot];
  if (buffer.size() < d.get_size()) buffer.resize(d.get_size());
  return memory(d, cpu_engine(), buffer.data());
}

static memory user(const memory::desc& d, const float* p) { return memory(d, cpu_engine(), const_cast<float*>(p)); }

void CpuKernels::conv2d_forward(float* out, const float* in, const float* weight, const float* bias, size_t B, size_t H,
                                size_t W, size_t IC, size_t OC, Epilogue epilogue) {
  auto& c = conv(B, H, W, IC, OC, epilogue);
  auto& s = cpu_stream();
  memory blocked = scratch(c.forward_weight, 0), weight_user = user(c.weight_user, weight);
  c.to_forward_weight.execute(s, weight_user, blocked);
  c.forward.execute(s, {{DNNL_ARG_SRC, operand(c.src, in, B * H * W * IC, 0)},
                        {DNNL_ARG_WEIGHTS, blocked},
                        {DNNL_ARG_BIAS, user(c.bias, bias)},
                        {DNNL_ARG_DST, user(c.dst, out)}});
}

void CpuKernels::conv2d_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in,
                                 const float* weight, size_t B, size_t H, size_t W, size_t IC, size_t OC,
                                 bool accumulate) {
  // The backward primitives do not depend on the forward's epilogue: dout is already the
  // pre-activation gradient.
  auto& c = conv(B, H, W, IC, OC, Epilogue::None);
  auto& s = cpu_stream();
  size_t wsize = OC * IC * 9;
  memory dy = operand(c.dout, dout, B * H * W * OC, 0);
  memory dw = scratch(c.dweight, 1), db = scratch(c.bias, 2), dw_user = scratch(c.weight_user, 3);
  c.backward_weights.execute(s, {{DNNL_ARG_SRC, operand(c.src, in, B * H * W * IC, 1)},
                                 {DNNL_ARG_DIFF_DST, dy},
                                 {DNNL_ARG_DIFF_WEIGHTS, dw},
                                 {DNNL_ARG_DIFF_BIAS, db}});
  // The weight gradient is tiny: reorder into torch's layout in scratch, then add or copy,
  // instead of a second primitive with a sum post-op.
  c.from_dweight.execute(s, dw, dw_user);
  s.wait();
  const float* g = static_cast<const float*>(dw_user.get_data_handle());
  const float* gb = static_cast<const float*>(db.get_data_handle());
  for (size_t k = 0; k < wsize; ++k) dweight[k] = g[k] + (accumulate ? dweight[k] : 0.0f);
  for (size_t k = 0; k < OC; ++k) dbias[k] = gb[k] + (accumulate ? dbias[k] : 0.0f);
  if (din == nullptr) return;
  memory blocked = scratch(c.backward_data_weight, 0), weight_user = user(c.weight_user, weight);
  c.to_backward_data_weight.execute(s, weight_user, blocked);
  c.backward_data.execute(s, {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, blocked}, {DNNL_ARG_DIFF_SRC, user(c.din, din)}});
}

}  // namespace rm
