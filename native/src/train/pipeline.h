// Pipeline parallelism: the model's modules split into contiguous stages on different ranks (see
// Model::first_stage), possibly several chunks per rank (interleaved stages), and an optimizer
// step's micro-batches flowing through them in the order of pipeline_schedule.h. Activations go
// forward and their gradients backward by send and receive, each kind over links of its own
// (PipelineLinks): every receive of the step is posted when it starts, link by link in the order
// the sender sends, and every send returns at once, so transfers overlap compute. With several
// chunks the stages form a ring: the last rank's chunk c feeds the first rank's chunk c + 1.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "../collectives/process_group.h"
#include "../core/model.h"
#include "../core/tensor.h"
#include "pipeline_schedule.h"

namespace rm {

// What a step's micro-batches are, to the stage that runs them.
struct MicroBatches {
  size_t B = 0, K = 0;  // samples per micro-batch, micro-batches
  // The first stage: micro-batch k's samples.
  std::function<const void*(size_t k)> input;
  // The last stage: micro-batch k's loss gradient from its logits (the trainer adds up the loss).
  std::function<ConstView(size_t k, ConstView logits)> loss;
  // The last backward of each chunk reports its final gradients here (may be empty), and
  // `linear_gradients` takes over Linear layers' gradients in every backward (may be null).
  GradientsReady ready;
  LinearGradients* linear_gradients = nullptr;
};

// One stage's links to its neighbours: a group of the two ranks of each edge of the pipeline
// (stage i to i + 1, and the last to the first with interleaved chunks) for each direction, so a
// link carries one kind of transfer one way. NCCL runs each on a stream of its own and matches a
// link's sends and receives by their order alone: a receive posted early on one link never holds
// up a transfer on another, and the order is one the two ends agree on. Null where the stage has
// no such neighbour.
struct PipelineLinks {
  std::shared_ptr<ProcessGroup> activations_in, activations_out, gradients_in, gradients_out;
  // This stage's link of one kind, the one it sends on or the one it receives on.
  std::shared_ptr<ProcessGroup>& of(bool activations, bool sends) {
    return activations ? (sends ? activations_out : activations_in) : (sends ? gradients_out : gradients_in);
  }
};

// One link of a pipeline: the stage that sends on it, the stage that receives, what it carries.
struct PipelineLink {
  size_t sender, receiver;
  bool activations;  // else the gradients of activations
};

// Every link of a pipeline of `stages` stages holding `chunks` chunks each, edge by edge (stage e
// to e + 1, and the last to the first when there are several chunks), activations before
// gradients: the order every rank makes them in and first uses them in (Pipeline::connect_links).
std::vector<PipelineLink> pipeline_links(size_t stages, size_t chunks);

class Pipeline {
 public:
  // stages: this pipeline's ranks, one per stage in stage order, this rank's stage being its rank
  // in it (it sums the step's results over the stages); links: this stage's (see PipelineLinks);
  // tied: the first and the last stage, which sum the gradients of their shared weight
  // (Model::shared_weight) once per step (null: no weight is shared). The transfers' buffers are
  // on `device`, the model's.
  Pipeline(Model& model, Device& device, std::shared_ptr<ProcessGroup> stages, PipelineLinks links, std::shared_ptr<ProcessGroup> tied);

  // Runs this stage's forwards and backwards of one step; ready(0), the last report of the
  // step's gradients, comes once the shared weight's gradient is summed.
  void run(const MicroBatches& m);
  // A forward of one batch through every stage, no gradients; `loss` computes the last stage's
  // result from the logits, and every stage returns it.
  CrossEntropyResult evaluate(const void* input, size_t B, const std::function<CrossEntropyResult(ConstView logits)>& loss);
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
  void wait(WorkPtr& work);  // then null
  // Calls f on every transfer of the step that may be in flight.
  template <class F>
  void each_transfer(F&& f) {
    for (auto& chunk : slots_)
      for (auto& s : chunk) f(s.sending_output), f(s.sending_dinput);
    for (auto& r : receiving_) f(r);
  }

  float* received(size_t i);  // the buffer of a step's receive i
  // Where receive_of_ keeps the receive of chunk c's micro-batch k of K: its activations
  // (forward) or its output's gradient.
  size_t receive_index(bool forward, size_t c, size_t k, size_t K) const { return ((forward ? 0 : chunks_) + c) * K + k; }
  void connect_links();       // one transfer over each link (see there)
  // Posts every receive of a step of K micro-batches (see pipeline_arrivals).
  void post_receives(size_t K, size_t n_in, size_t n_out);

  Model& model_;
  Device& device_;
  std::shared_ptr<ProcessGroup> stages_, tied_;
  PipelineLinks links_;
  size_t stage_, count_, chunks_;
  double waited_s_ = 0;
  // Per chunk and activation set: this chunk's input gradient, the transfers in flight from it,
  // and (the last stage) the forward's output.
  struct Slot {
    Tensor dinput;
    WorkPtr sending_output, sending_dinput;
    ConstView logits;
  };
  std::vector<std::vector<Slot>> slots_;
  std::vector<Tensor> received_;  // one per receive of a step
  std::vector<WorkPtr> receiving_;
  std::vector<size_t> receive_of_;  // a step's receive of each chunk's micro-batch (receive_index)
};

}  // namespace rm
