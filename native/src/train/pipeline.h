// Pipeline parallelism: the model's modules split into contiguous stages on different ranks (see
// Model::first_stage), and an optimizer step's micro-batches flow through them with the 1F1B
// schedule (PipeDream-Flush, as Megatron runs it): each stage runs a few forwards to fill the
// pipeline, then alternates one forward and one backward, then drains the backwards. Activations
// go forward and their gradients backward by send and receive: every receive is posted as soon
// as its buffer is free and every send returns at once, so the transfers overlap compute.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "../collectives/process_group.h"
#include "../core/model.h"

namespace rm {

struct PipelineAction {
  bool forward;  // else backward
  size_t micro_batch;
};

// Stage `stage` of `stages`, over `micro_batches`: min(stages − stage − 1, m) warm-up forwards,
// then forward and backward in turn, then the remaining backwards. Each micro-batch's forward
// and backward run once, backwards in micro-batch order, and at most stages − stage
// micro-batches are between their forward and their backward at any time.
std::vector<PipelineAction> one_forward_one_backward(size_t stages, size_t stage, size_t micro_batches);

// What a step's micro-batches are, to the stage that runs them.
struct MicroBatches {
  size_t B = 0, K = 0;  // samples per micro-batch, micro-batches
  // The first stage: micro-batch k's samples.
  std::function<const void*(size_t k)> input;
  // The last stage: micro-batch k's loss gradient from its logits (the trainer adds up the loss).
  std::function<const float*(size_t k, const float* logits)> loss;
  // The backward of the step's last micro-batch reports its final gradients here (may be empty),
  // and `linear_gradients` takes over Linear layers' gradients in every backward (may be null).
  GradientsReady ready;
  LinearGradients* linear_gradients = nullptr;
};

class Pipeline {
 public:
  // stages: this pipeline's ranks, one per stage in stage order, this rank's stage being its rank
  // in it; tied: the first and the last stage, which sum the gradients of their shared weight
  // (Model::shared_weight) once per step (null: no weight is shared).
  Pipeline(Model& model, std::shared_ptr<ProcessGroup> stages, std::shared_ptr<ProcessGroup> tied);

  ProcessGroup& stages() { return *stages_; }
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
  size_t floats(size_t B) const { return B * model_.positions() * model_.boundary(); }
  void wait(WorkPtr& work);  // then null
  void wait_all();

  Model& model_;
  std::shared_ptr<ProcessGroup> stages_, tied_;
  size_t stage_, count_;
  double waited_s_ = 0;
  // Per activation slot: what arrives from the previous stage, what arrives from the next one,
  // this stage's input gradient, and the transfers in flight on each.
  struct Slot {
    FloatBuffer activations, gradients, dinput;
    WorkPtr receiving_activations, receiving_gradients, sending_output, sending_dinput;
    const float* logits = nullptr;  // the last stage: the forward's output
  };
  std::vector<Slot> slots_;
};

}  // namespace rm
