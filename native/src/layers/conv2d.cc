#include "conv2d.h"

#include <cmath>

#include "../core/common.h"
#include "../kernels/cpu/dnnl_context.h"
#include "../precision/precision.h"
#include "epilogue.h"

namespace rm {

using dnnl::memory;
using tag = memory::format_tag;
constexpr size_t K = Conv2d::K;

// Calls f(oy, ox, iy, ix, kh, kw) for every in-bounds tap of the padded 3×3 window.
template <class F>
static void for_each_tap(size_t H, size_t W, F&& f) {
  for (size_t oy = 0; oy < H; ++oy)
    for (size_t ox = 0; ox < W; ++ox)
      for (size_t kh = 0; kh < K; ++kh)
        for (size_t kw = 0; kw < K; ++kw) {
          long iy = long(oy + kh) - 1, ix = long(ox + kw) - 1;
          if (iy < 0 || ix < 0 || iy >= long(H) || ix >= long(W)) continue;
          f(oy, ox, size_t(iy), size_t(ix), kh, kw);
        }
}

void conv2d_forward_reference(float* out, const float* in, const float* weight, const float* bias,
                              size_t B, size_t H, size_t W, size_t IC, size_t OC) {
  std::vector<double> acc(H * W * OC);
  for (size_t b = 0; b < B; ++b) {
    const float* x = in + b * H * W * IC;
    for (size_t p = 0; p < H * W; ++p)
      for (size_t oc = 0; oc < OC; ++oc) acc[p * OC + oc] = bias[oc];
    for_each_tap(H, W, [&](size_t oy, size_t ox, size_t iy, size_t ix, size_t kh, size_t kw) {
      for (size_t oc = 0; oc < OC; ++oc)
        for (size_t ic = 0; ic < IC; ++ic)
          acc[(oy * W + ox) * OC + oc] +=
              double(x[(iy * W + ix) * IC + ic]) * weight[((oc * IC + ic) * K + kh) * K + kw];
    });
    for (size_t k = 0; k < H * W * OC; ++k) out[b * H * W * OC + k] = float(acc[k]);
  }
}

void conv2d_backward_reference(float* din, float* dweight, float* dbias, const float* dout,
                               const float* in, const float* weight, size_t B, size_t H,
                               size_t W, size_t IC, size_t OC, bool accumulate) {
  std::vector<double> dw(OC * IC * K * K, 0.0), db(OC, 0.0), dx(H * W * IC);
  for (size_t b = 0; b < B; ++b) {
    const float* x = in + b * H * W * IC;
    const float* g = dout + b * H * W * OC;
    std::fill(dx.begin(), dx.end(), 0.0);
    for (size_t p = 0; p < H * W; ++p)
      for (size_t oc = 0; oc < OC; ++oc) db[oc] += g[p * OC + oc];
    for_each_tap(H, W, [&](size_t oy, size_t ox, size_t iy, size_t ix, size_t kh, size_t kw) {
      for (size_t oc = 0; oc < OC; ++oc) {
        double go = g[(oy * W + ox) * OC + oc];
        for (size_t ic = 0; ic < IC; ++ic) {
          size_t wi = ((oc * IC + ic) * K + kh) * K + kw;
          dw[wi] += go * x[(iy * W + ix) * IC + ic];
          dx[(iy * W + ix) * IC + ic] += go * weight[wi];
        }
      }
    });
    if (din != nullptr)
      for (size_t k = 0; k < H * W * IC; ++k) din[b * H * W * IC + k] = float(dx[k]);
  }
  for (size_t k = 0; k < dw.size(); ++k) dweight[k] = float(dw[k]) + (accumulate ? dweight[k] : 0.0f);
  for (size_t k = 0; k < OC; ++k) dbias[k] = float(db[k]) + (accumulate ? dbias[k] : 0.0f);
}

// The forward, backward-data and backward-weights convolutions for one batch size. Weights run in
// whatever blocked layout oneDNN prefers; small reorders translate to and from torch's layout
// (and to bf16 for bf16 kernels, whose src and dout are packed into src16 and dout16 first).
struct Conv2d::Primitives {
  memory::desc src, dst, dout, din, weight_user, bias;
  memory src16, dout16;
  dnnl::convolution_forward forward;
  dnnl::convolution_backward_data backward_data;
  dnnl::convolution_backward_weights backward_weights;
  memory forward_weight, backward_data_weight, dweight, dbias;  // oneDNN-layout scratch
  dnnl::reorder to_forward_weight, to_backward_data_weight, from_dweight;
  FloatBuffer dweight_user;  // the weight gradient in torch's layout, before it lands in dparams
  FloatBuffer masked_dout;   // dout through the fused ReLU's derivative (Epilogue::Relu only)
};

Conv2d::Conv2d(SampleShape in, size_t out_channels, Impl impl, Epilogue epilogue, bool bf16_kernels)
    : IC_(in.c), OC_(out_channels), H_(in.h), W_(in.w), impl_(impl), epilogue_(epilogue), bf16_(bf16_kernels) {
  RM_CHECK(impl == Impl::Fast || (epilogue == Epilogue::None && !bf16_kernels), "INVALID_ARGUMENT",
           "only the fast conv2d fuses an activation or runs bf16 kernels");
}

Conv2d::~Conv2d() = default;

std::vector<ParamTensor> Conv2d::params() const {
  return {{"weight", {OC_, IC_, K, K}, 0}, {"bias", {OC_}, OC_ * IC_ * K * K}};
}

// torch.nn.Conv2d.reset_parameters: bound 1/√fan_in, fan_in = IC·KH·KW, for weight and bias.
void Conv2d::init_params(float* params, Rng& rng) const {
  float bound = 1.0f / std::sqrt(float(IC_ * K * K));
  for (size_t k = 0; k < OC_ * IC_ * K * K + OC_; ++k) params[k] = rng.uniform(-bound, bound);
}

Conv2d::Primitives& Conv2d::primitives(size_t B) {
  auto& slot = cache_[B];
  if (slot) return *slot;
  auto p = std::make_unique<Primitives>();
  auto& eng = cpu_engine();
  memory::dim b = memory::dim(B), ic = memory::dim(IC_), oc = memory::dim(OC_), h = memory::dim(H_),
              w = memory::dim(W_), k = memory::dim(K);
  p->src = input_desc(bf16_, {b, ic, h, w}, tag::nhwc);
  p->dout = input_desc(bf16_, {b, oc, h, w}, tag::nhwc);
  p->dst = f32_desc({b, oc, h, w}, tag::nhwc);
  p->din = f32_desc({b, ic, h, w}, tag::nhwc);
  p->weight_user = f32_desc({oc, ic, k, k}, tag::oihw);
  p->bias = f32_desc({oc}, tag::x);
  auto weight_any = input_desc(bf16_, {oc, ic, k, k}, tag::any);
  auto dweight_any = f32_desc({oc, ic, k, k}, tag::any);
  memory::dims stride{1, 1}, pad{1, 1};
  auto algo = dnnl::algorithm::convolution_direct;

  dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training, algo, p->src, weight_any,
                                     p->bias, p->dst, stride, pad, pad);
  dnnl::convolution_forward::primitive_desc fpd(fd, epilogue_attr(epilogue_), eng);
  dnnl::convolution_backward_data::desc bdd(algo, p->din, weight_any, p->dout, stride, pad, pad);
  dnnl::convolution_backward_data::primitive_desc bdpd(bdd, eng, fpd);
  dnnl::convolution_backward_weights::desc bwd(algo, p->src, dweight_any, p->bias, p->dout, stride,
                                               pad, pad);
  dnnl::convolution_backward_weights::primitive_desc bwpd(bwd, eng, fpd);

  p->forward = dnnl::convolution_forward(fpd);
  p->backward_data = dnnl::convolution_backward_data(bdpd);
  p->backward_weights = dnnl::convolution_backward_weights(bwpd);
  p->forward_weight = memory(fpd.weights_desc(), eng);
  p->backward_data_weight = memory(bdpd.weights_desc(), eng);
  p->dweight = memory(bwpd.diff_weights_desc(), eng);
  p->dbias = memory(p->bias, eng);
  p->dweight_user = FloatBuffer(OC_ * IC_ * K * K);
  if (epilogue_ == Epilogue::Relu) p->masked_dout = FloatBuffer(B * H_ * W_ * OC_);
  if (bf16_) {
    p->src16 = memory(p->src, eng);
    p->dout16 = memory(p->dout, eng);
  }
  p->to_forward_weight = dnnl::reorder(dnnl::reorder::primitive_desc(eng, p->weight_user, eng, fpd.weights_desc()));
  p->to_backward_data_weight =
      dnnl::reorder(dnnl::reorder::primitive_desc(eng, p->weight_user, eng, bdpd.weights_desc()));
  p->from_dweight = dnnl::reorder(dnnl::reorder::primitive_desc(eng, bwpd.diff_weights_desc(), eng, p->weight_user));
  slot = std::move(p);
  return *slot;
}

void Conv2d::forward(float* out, const float* in, const float* params, size_t B) {
  const float* weight = params;
  const float* bias = params + OC_ * IC_ * K * K;
  if (impl_ == Impl::Reference) return conv2d_forward_reference(out, in, weight, bias, B, H_, W_, IC_, OC_);
  auto& p = primitives(B);
  auto& eng = cpu_engine();
  auto& s = cpu_stream();
  memory user_weight(p.weight_user, eng, const_cast<float*>(weight));
  p.to_forward_weight.execute(s, user_weight, p.forward_weight);
  if (bf16_) pack_bf16(bf16_data(p.src16), in, B * H_ * W_ * IC_);
  p.forward.execute(s, {{DNNL_ARG_SRC, input_memory(bf16_, p.src, p.src16, in)},
                        {DNNL_ARG_WEIGHTS, p.forward_weight},
                        {DNNL_ARG_BIAS, memory(p.bias, eng, const_cast<float*>(bias))},
                        {DNNL_ARG_DST, memory(p.dst, eng, out)}});
}

void Conv2d::backward(float* din, float* dparams, const float* dout, const float* in,
                      const float* out, const float* params, size_t B, bool accumulate) {
  const float* weight = params;
  size_t wsize = OC_ * IC_ * K * K;
  if (impl_ == Impl::Reference)
    return conv2d_backward_reference(din, dparams, dparams + wsize, dout, in, weight, B, H_, W_,
                                     IC_, OC_, accumulate);
  auto& p = primitives(B);
  auto& eng = cpu_engine();
  auto& s = cpu_stream();
  dout = epilogue_backward(epilogue_, p.masked_dout.data(), dout, out, B * H_ * W_ * OC_);
  if (bf16_) pack_bf16(bf16_data(p.dout16), dout, B * H_ * W_ * OC_);
  memory dout_mem = input_memory(bf16_, p.dout, p.dout16, dout);
  p.backward_weights.execute(s, {{DNNL_ARG_SRC, input_memory(bf16_, p.src, p.src16, in)},
                                 {DNNL_ARG_DIFF_DST, dout_mem},
                                 {DNNL_ARG_DIFF_WEIGHTS, p.dweight},
                                 {DNNL_ARG_DIFF_BIAS, p.dbias}});
  // The weight gradient is tiny (OC·IC·9 floats): reorder into a user-layout scratch, then add
  // or copy, instead of a second primitive with a sum post-op.
  memory dweight_user(p.weight_user, eng, p.dweight_user.data());
  p.from_dweight.execute(s, p.dweight, dweight_user);
  s.wait();
  const float* db = static_cast<const float*>(p.dbias.get_data_handle());
  float* dbias = dparams + wsize;
  for (size_t k = 0; k < wsize; ++k) dparams[k] = p.dweight_user.data()[k] + (accumulate ? dparams[k] : 0.0f);
  for (size_t k = 0; k < OC_; ++k) dbias[k] = db[k] + (accumulate ? dbias[k] : 0.0f);
  if (din == nullptr) return;
  memory user_weight(p.weight_user, eng, const_cast<float*>(weight));
  p.to_backward_data_weight.execute(s, user_weight, p.backward_data_weight);
  p.backward_data.execute(s, {{DNNL_ARG_DIFF_DST, dout_mem},
                              {DNNL_ARG_WEIGHTS, p.backward_data_weight},
                              {DNNL_ARG_DIFF_SRC, memory(p.din, eng, din)}});
}

}  // namespace rm
