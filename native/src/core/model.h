// What a trainer needs of a model, whatever its architecture: parameters (core/parameters.h),
// a forward from a batch of samples to logits, and a backward that reports when each
// parameter's gradient is final. Nothing here knows about collectives: a data-parallel trainer
// listens to the "gradients ready" hook and starts reducing while backward goes on.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "../kernels/kernels.h"
#include "dtype.h"
#include "linear_gradients.h"
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
  // Computes the parameter gradients of the Linear layers (of linear_layers()) it takes()
  // (null: every layer computes its own).
  LinearGradients* linear_gradients = nullptr;
  float* dinput = nullptr;  // models with fp32 input: where ∂L/∂input goes, on the model's device (null: not wanted)
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
  // logits[B · positions(), classes()], in the model's device memory and output_dtype(), of the B
  // samples at `input` (host memory, laid out as input() says; the model copies it to its device;
  // a later pipeline stage's input is the previous stage's activations, on the device, fp32). A
  // stage before the last returns its output activations, fp32.
  virtual ConstView forward(const void* input, size_t B) = 0;
  // Backward from dlogits (shaped as forward's result, on the model's device; fp32, or the type
  // of forward's result) of the last forward.
  virtual void backward(ConstView dlogits, const BackwardOptions& options) = 0;
  // The type of forward's result and backward's gradient of it: fp32, or the last stage's logits
  // in 16 bits where its activations are.
  virtual DType output_dtype() const { return DType::F32; }
  // The offsets the ready hook reports, ascending: where each group of parameters that
  // finishes together begins (a layer, a transformer block).
  virtual const std::vector<size_t>& gradient_ready_offsets() const = 0;

  // The Linear layers whose gradients backward can take from a LinearGradients strategy
  // (none unless a model says so).
  virtual const std::vector<LinearLayer>& linear_layers() const { return no_linear_layers_; }

  // Pipeline parallelism. A model built as one stage of a larger one takes the previous stage's
  // activations instead of the job's input unless it is the first stage, [B · positions(),
  // stage_input()] floats (and backward's dinput is shaped so), and hands its own to the next
  // stage instead of logits unless it is the last, [B · positions(), stage_output()] floats (and
  // backward's dlogits is shaped so). What crosses a stage boundary lives on the model's device.
  virtual bool first_stage() const { return true; }
  virtual bool last_stage() const { return true; }
  virtual size_t stage_input() const { return 0; }
  virtual size_t stage_output() const { return 0; }
  // A weight this stage shares with another stage (the GPT's token embedding, tied to the head,
  // when the two ends of the model are on different stages): its range in parameters(), empty
  // when there is none.
  virtual Range shared_weight() const { return {0, 0}; }
  // A stage may hold several chunks of the model (interleaved pipeline stages), each taking the
  // previous virtual stage's activations. Forward and backward of up to slots() micro-batches per
  // chunk may be in flight at once, each in an activation set of its own; select picks the chunk
  // and the set the next forward or backward uses.
  virtual size_t chunks() const { return 1; }
  virtual size_t slots() const { return 1; }
  virtual void select(size_t chunk, size_t slot) {
    RM_CHECK(chunk == 0 && slot == 0, "INTERNAL", "this model keeps one micro-batch's activations");
  }

  // From now on forward and backward report each module's time and FLOPs to `profiler` (null:
  // stop).
  void set_profiler(Profiler* profiler) { profiler_ = profiler; }
  Profiler* profiler() const { return profiler_; }

 protected:
  Parameters params_;
  Profiler* profiler_ = nullptr;

 private:
  std::vector<LinearLayer> no_linear_layers_;
};

}  // namespace rm
