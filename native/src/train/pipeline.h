// Pipeline parallelism: the model's modules split into contiguous stages on different ranks (see
// Model::first_stage), possibly several chunks per rank (interleaved stages), and an optimizer
// step's micro-batches flowing through them in the order of pipeline_schedule.h. Activations go
// forward and their gradients backward by send and receive: every receive of the step is posted
// when it starts and every send returns at once, so transfers overlap compute. With several
// chunks the stages form a ring: the last rank's chunk c feeds the first rank's chunk c + 1.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "../collectives/process_group.h"
#include "../core/model.h"
#include "pipeline_schedule.h"

namespace rm {

// What a step's micro-batches are, to the stage that runs them.
struct MicroBatches {
  size_t B = 0, K = 0;  // samples per micro-batch, micro-batches
  // The first stage: micro-batch k's samples.
  std::function<const void*(size_t k)> input;
  // The last stage: micro-batch k's loss gradient from its logits (the trainer adds up the loss).
  std::function<const float*(size_t k, const float* logits)> loss;
  // The last backward of each chunk reports its final gradients here (may be empty), and
  // `linear_gradients` takes over Linear layers' gradients in every backward (may be null).
  GradientsReady ready;
  LinearGradients* linear_gradients = nullptr;
};

class Pipeline {
 public:
  // stages: this pipeline's ranks, one per stage in stage order, this rank's stage being its rank
  // in it; tied: the first and the last stage, which sum the gradients of their shared weight
  // (Model::shared_weight) once per step (null: no weight is shared).
  Pipeline(Model& model, std::shared_ptr<ProcessGroup> stages, std::shared_ptr<ProcessGroup> tied);

  // Runs this stage's forwards and backwards of one step; ready(0), the last report of the
  // step's gradients, comes once the shared weight's gradient is summed.
  void run(const MicroBatches& m);
  // A forward of one batch through every stage, no gradients; `loss` computes the last stage's
  // result from the logits, and every stage returns it.
  CrossEntropyResult evaluate(const void* input, size_t B, const std::function<CrossEntropyResult(const float* logits)>& loss);
  // values[n] ← Σ over the stages of each one's values[n].
  void sum_over_stages(double* values, size_t n) { stages_->all_reduce_now(values, n, DType::F64, ReduceOp::Sum); }
  // Seconds the last run() spent waiting for its neighbours instead of computing: the pipeline's
  // bubble, and any transfer that did not overlap compute.
  double waited_seconds() const { return waited_s_; }

 private:
  // Floats of B samples' activations coming into this stage, and going out of it.
  size_t in_floats(size_t B) const { return B * model_.positions() * model_.stage_input(); }
  size_t out_floats(size_t B) const { return B * model_.positions() * model_.stage_output(); }
  size_t virtual_stage(size_t chunk) const { return chunk * count_ + stage_; }
  size_t virtual_stages() const { return count_ * chunks_; }
  bool takes_input(size_t chunk) const { return virtual_stage(chunk) == 0; }
  bool takes_loss(size_t chunk) const { return virtual_stage(chunk) + 1 == virtual_stages(); }
  // The tag of micro-batch k's activations (or gradients) going into virtual stage vs.
  uint32_t tag(size_t k, size_t vs, bool gradient) const { return uint32_t(2 * (k * virtual_stages() + vs) + (gradient ? 1 : 0)); }
  void wait(WorkPtr& work);  // then null
  // Calls f on every transfer of the step that may be in flight.
  template <class F>
  void each_transfer(F&& f) {
    for (auto& chunk : slots_)
      for (auto& s : chunk) f(s.sending_output), f(s.sending_dinput);
    for (auto& r : receiving_) f(r);
  }

  Model& model_;
  std::shared_ptr<ProcessGroup> stages_, tied_;
  size_t stage_, count_, chunks_;
  double waited_s_ = 0;
  // Per chunk and activation set: this chunk's input gradient, the transfers in flight from it,
  // and (the last stage) the forward's output.
  struct Slot {
    FloatBuffer dinput;
    WorkPtr sending_output, sending_dinput;
    const float* logits = nullptr;
  };
  std::vector<std::vector<Slot>> slots_;
  std::vector<FloatBuffer> received_;  // one per receive of a step, in the order they are used
  std::vector<WorkPtr> receiving_;
};

}  // namespace rm
