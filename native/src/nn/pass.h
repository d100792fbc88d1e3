// What a module needs while it runs: the kernels of its device, the model's parameters, the
// precision activations are stored in, the rows of this pass, and (backward) where parameter
// gradients go. Modules register their parameters through a Scope at construction, which
// names them PyTorch's way ("transformer.h.0.attn.c_attn.weight").
#pragma once

#include <string>
#include <vector>

#include "../core/linear_gradients.h"
#include "../core/parameters.h"
#include "../core/profiler.h"
#include "../core/tensor.h"
#include "../kernels/kernels.h"
#include "../precision/precision.h"

namespace rm {

// One parameter tensor of a module: its place in the model's flat buffers.
struct ParamSlot {
  size_t index = 0;  // in Parameters::list()
  size_t offset = 0;
  size_t count = 0;  // 0: absent (a layer built without bias)
  bool present() const { return count > 0; }
};

// Which of a model's parameters weight decay applies to: all of them (torch.optim's default, one
// parameter group: the mlp and cnn), or only matrices and embeddings, tensors of two or more
// dimensions (nanoGPT's rule for transformers: no decay on biases and LayerNorm gains).
enum class DecayRule { All, Matrices };

// Where a module registers its parameters (named under this scope's path, decayed by the
// model's rule) and allocates its activations (on this scope's device, in the model's activation
// type: Kernels::activation_dtype). A reusing scope finds
// parameters registered before under the same names instead: a second copy of a module that
// computes with the same weights into activations of its own (a pipeline stage keeps one copy
// per micro-batch in flight).
class Scope {
 public:
  Scope(Parameters& params, std::string prefix, DecayRule decay, Device& device = cpu_device(),
        DType activations = DType::F32, bool reuse = false)
      : params_(params), prefix_(std::move(prefix)), decay_(decay), device_(device), activations_(activations), reuse_(reuse) {}
  Scope child(const std::string& name) const { return Scope(params_, prefix_ + name + ".", decay_, device_, activations_, reuse_); }
  Scope reusing() const { return Scope(params_, prefix_, decay_, device_, activations_, true); }
  Device& device() const { return device_; }
  // A zero-filled activation tensor on this scope's device, in the model's activation type.
  Tensor activation(Shape shape) const { return Tensor(std::move(shape), activations_, device_); }
  // A zero-filled fp32 tensor on this scope's device: statistics kept for backward, and the
  // residual stream and its gradient (fp32 holding values rounded to the precision, as in
  // autocast, where a residual sum of fp32 and 16-bit values is fp32).
  Tensor fp32(Shape shape) const { return Tensor(std::move(shape), DType::F32, device_); }
  // This scope's module path: "transformer.h.0.attn" (the prefix without its dot).
  std::string path() const { return prefix_.empty() ? "" : prefix_.substr(0, prefix_.size() - 1); }
  ParamSlot param(const std::string& name, Shape shape) const {
    size_t count = numel(shape);
    if (reuse_) {
      const auto& list = params_.list();
      for (size_t i = 0; i < list.size(); ++i)
        if (list[i].name == prefix_ + name) return {i, list[i].offset, list[i].count};
      throw NativeError("INTERNAL", "no parameter " + prefix_ + name + " to reuse");
    }
    bool decay = decay_ == DecayRule::All || shape.size() >= 2;
    size_t offset = params_.add(prefix_ + name, std::move(shape), decay);
    return {params_.list().size() - 1, offset, count};
  }

 private:
  Parameters& params_;
  std::string prefix_;
  DecayRule decay_;
  Device& device_;
  DType activations_;
  bool reuse_;
};

// Parameter gradients of one backward. A tensor may receive several contributions (a tied
// weight, a later micro-batch); in mixed precision each contribution is rounded on its own
// before it joins the fp32 sum, as autocast's gradients are, so a contribution that must be
// added is computed apart in scratch and added at commit().
class GradientSink {
 public:
  GradientSink(Parameters& params, float* scratch, Kernels& k) : params_(params), scratch_(scratch), k_(k) {}
  // A new backward; `accumulate`: the gradients already hold earlier micro-batches'.
  void begin(bool accumulate) {
    accumulate_ = accumulate;
    written_.assign(params_.list().size(), false);
  }
  struct Target {
    float* data;      // where the kernel writes this contribution
    bool accumulate;  // whether it adds to what is there
  };
  Target target(ParamSlot s) {
    if (!s.present()) return {nullptr, false};
    bool adds = accumulate_ || written_[s.index];
    bool apart = adds && params_.precision() != Precision::F32;
    return {(apart ? scratch_ : params_.grads()) + s.offset, adds && !apart};
  }
  // After the kernel wrote its contribution to [begin, end) of the tensor (all of it by
  // default; a rank's own rows with sufficient factors).
  void commit(ParamSlot s) { commit(s, 0, s.count); }
  void commit(ParamSlot s, size_t begin, size_t end) {
    if (!s.present()) return;
    bool adds = accumulate_ || written_[s.index];
    written_[s.index] = true;
    Precision p = params_.precision();
    if (p == Precision::F32) return;
    float* own = (adds ? scratch_ : params_.grads()) + s.offset + begin;
    k_.round_values(own, end - begin, p);
    if (adds) k_.add_into(params_.grads() + s.offset + begin, own, end - begin);
  }

 private:
  Parameters& params_;
  float* scratch_;  // mixed precision: as large as the gradients
  Kernels& k_;
  bool accumulate_ = false;
  std::vector<bool> written_;
};

struct Pass {
  Kernels& k;
  Parameters& params;
  size_t B, T, N;               // N = B·T rows
  GradientSink* grads = nullptr;  // backward only
  Profiler* profiler = nullptr;   // null: not profiling
  LinearGradients* linear_gradients = nullptr;  // backward: who computes which Linear's gradients (null: each itself)
  const float* weight(ParamSlot s) const { return s.present() ? params.compute() + s.offset : nullptr; }
  // Rounds fp32 activations to the precision (16-bit ones were rounded as they were written).
  void round(View x, size_t n) const {
    if (x.is_f32()) k.round_values(x.f32(), n, params.precision());
  }
  ProfileScope forward_scope(const std::string& name, double flops, size_t activation_bytes) const {
    return ProfileScope(profiler, name, Profiler::Phase::Forward, flops, activation_bytes);
  }
  ProfileScope backward_scope(const std::string& name, double flops) const {
    return ProfileScope(profiler, name, Profiler::Phase::Backward, flops);
  }
};

}  // namespace rm
