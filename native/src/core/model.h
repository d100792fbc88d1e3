// What a trainer needs of a model, whatever its architecture: parameters (core/parameters.h),
// a forward from a batch of samples to logits, and a backward that reports when each
// parameter's gradient is final. Nothing here knows about collectives: a data-parallel trainer
// listens to the "gradients ready" hook and starts reducing while backward goes on.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "../kernels/kernels.h"
#include "../train/factor_exchange.h"
#include "dtype.h"
#include "parameters.h"
#include "profiler.h"

namespace rm {

// What one sample is: `elements` fp32 features (images, vectors) or int32 tokens.
struct ModelInput {
  DType dtype;
  size_t elements;
};

// Called during backward each time the gradients [first, count) are final, with `first`
// decreasing (parameters are laid out in forward order; backward finishes them in reverse).
using GradientsReady = std::function<void(size_t first)>;

struct BackwardOptions {
  bool accumulate = false;       // parameter gradients += (a later micro-batch) or = (the first)
  GradientsReady ready;          // may be empty
  // Data parallel with sufficient factors (Model::use_factor_exchange): whether the factored
  // layers take their gradients from the exchange, and where Σ g² of this rank's factored rows
  // is added (null: not wanted).
  bool exchange_factors = false;
  double* factor_squares = nullptr;
  float* dinput = nullptr;  // models with fp32 input: where ∂L/∂input goes (null: not wanted)
};

// A layer whose weight gradient can come from sufficient factors (factor_exchange.h).
struct FactorableLayer {
  size_t layer;  // index into gradient_ready_offsets()
  FactorShape shape;
};

class Model {
 public:
  virtual ~Model() = default;

  Parameters& parameters() { return params_; }
  const Parameters& parameters() const { return params_; }

  virtual ModelInput input() const = 0;
  virtual size_t positions() const = 0;  // predictions per sample: 1 (a classifier) or T (a language model)
  virtual size_t classes() const = 0;    // logits per prediction
  virtual size_t max_batch() const = 0;
  // The batch of the last forward whose activations backward can use; 0 before any (or after
  // something else overwrote them).
  virtual size_t last_batch() const = 0;
  virtual bool bf16_kernels() const { return false; }
  // The kernels of this model's device and implementation (the trainer's loss runs on them).
  virtual Kernels& kernels() const = 0;

  // Draws every parameter from one RNG seeded with `seed`, in registration order.
  virtual void init_params(uint64_t seed) = 0;
  // logits[B · positions(), classes()] of the B samples at `input` (laid out as input() says).
  virtual const float* forward(const void* input, size_t B) = 0;
  // Backward from dlogits (shaped as forward's logits) of the last forward.
  virtual void backward(const float* dlogits, const BackwardOptions& options) = 0;
  // The offsets the ready hook reports, ascending: where each group of parameters that
  // finishes together begins (a layer, a transformer block).
  virtual const std::vector<size_t>& gradient_ready_offsets() const = 0;

  // Sufficient factors: the layers that can exchange them (none unless a model says so); from
  // use_factor_exchange on, backward with exchange_factors takes their gradients from
  // `exchange`, and each rank's gradient buffer holds only the rows it owns of them, listed by
  // factored_ranges().
  virtual const std::vector<FactorableLayer>& factorable_layers() const { return no_factorable_; }
  virtual void use_factor_exchange(FactorExchange* exchange, const std::vector<FactorableLayer>& layers);
  virtual const std::vector<Range>& factored_ranges() const { return no_ranges_; }

  // From now on forward and backward report each module's time and FLOPs to `profiler` (null:
  // stop).
  void set_profiler(Profiler* profiler) { profiler_ = profiler; }
  Profiler* profiler() const { return profiler_; }

 protected:
  Parameters params_;
  Profiler* profiler_ = nullptr;

 private:
  std::vector<FactorableLayer> no_factorable_;
  std::vector<Range> no_ranges_;
};

}  // namespace rm
