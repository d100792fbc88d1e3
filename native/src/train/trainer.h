// One rank's training engine: the model, its optimizer, and the fused loss, as one object the
// N-API layer drives. A training step is forward → cross-entropy → backward → clip → update.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "data_parallel.h"
#include "pipeline.h"
#include "../precision/loss_scaler.h"
#include "../models/gpt.h"
#include "../models/sequential.h"
#include "../optimizer/optimizer.h"

namespace rm {

struct TrainerConfig {
  // The model: a GPT when gpt.layers > 0, otherwise the sequential network of `layers` over
  // samples shaped `input`.
  std::vector<LayerConfig> layers;
  SampleShape input;
  GptConfig gpt;
  // Pipeline parallelism: this rank holds part `gpt_part` (a GPT) or `sequential_part` of the
  // model, as stage `pipeline_stage` of `pipeline_stages`.
  size_t pipeline_stages = 1, pipeline_stage = 0;
  GptPart gpt_part;
  SequentialPart sequential_part;
  size_t max_batch = 0;       // samples per micro-batch
  size_t max_accumulate = 1;  // micro-batches per optimizer step
  // Where the model, its gradients and the optimizer's state live and compute: "cpu" or
  // "cuda:N" (core/device.h).
  std::string device = "cpu";
  Impl impl = Impl::Fast;
  Precision precision = Precision::F32;
  // bf16 precision on the CPU: whether matmuls and convolutions run oneDNN's bf16 kernels. Auto
  // picks them where they beat fp32 (bf16_probe: measured once); otherwise fp32 kernels on
  // bf16-rounded values compute the same products.
  Bf16Kernels bf16_kernels = Bf16Kernels::Auto;
  LossScalerConfig loss_scale;
  OptimizerConfig optimizer;
  uint64_t seed = 0;
  // Data parallel (data_parallel.h): bucket size, gradients on the network, sufficient factors.
  size_t bucket_floats = size_t(25) << 18;
  Precision gradient_wire = Precision::F32;
  bool sufficient_factors = true;
};

struct StepResult {
  double loss;       // mean over the step's samples (all micro-batches)
  double grad_norm;  // global norm before clipping; NaN when clipping is off (not computed)
  // Where the step's time went, in seconds: forward + loss + backward; gradient all-reduce
  // still running when backward ends (including waiting for the slowest rank); clipping +
  // optimizer. Buckets reduced while backward ran count as compute.
  double compute_s, communicate_s, optimize_s;
  double pipeline_wait_s;       // pipeline parallel: waiting for the neighbouring stages (the bubble), not in compute_s
  size_t gradient_all_reduces;  // buckets reduced: once per bucket per optimizer step
  size_t factor_exchanges;      // sufficient-factor exchanges: per factored layer and micro-batch
  size_t wire_bytes;            // gradient bytes this rank sent between machines
  float loss_scale;             // the scale this step ran with (1 without loss scaling)
  bool skipped;                 // inf/NaN gradients: no update (fp16 loss scaling)
  bool stop;                    // some rank of the job voted to stop after this step (its worker drains)
};

class Trainer {
 public:
  explicit Trainer(const TrainerConfig& config);

  Model& model() { return *model_; }
  Optimizer& optimizer() { return optimizer_; }
  LossScaler& loss_scaler() { return scaler_; }
  // Per-module timings of every forward and backward from now on (on), or none (off).
  void set_profiling(bool on) {
    profiler_.reset();
    model_->set_profiler(on ? &profiler_ : nullptr);
  }
  const Profiler& profiler() const { return profiler_; }
  // After the parameters were set from outside (restored, or by a test).
  void parameters_changed() { params().refresh_compute({Range{0, params().count()}}, model_->kernels()); }
  Device& device() const { return device_; }
  // Where a step's micro-batches go before train_step: up to max_accumulate × max_batch samples
  // (each model().input().elements fp32 values or int32 tokens) and their labels
  // (model().positions() per sample), micro-batch after micro-batch.
  void* inputs() { return inputs_.data(); }
  int32_t* labels() { return labels_.data(); }
  // Set once join_process_group has run: the state may live in shared memory from then on.
  bool joined() const { return joined_; }

  // Collective over every rank of the job. Data parallel: from now on gradients (and the
  // reported loss) are averaged over the ranks holding the same part of the model before
  // clipping, so they take the same step (see DataParallel). Pipeline parallel: the ranks form a
  // grid, rank d·P + s being stage s of pipeline d, P = pipeline_stages; each step runs its
  // micro-batches through the pipeline (see Pipeline), the gradient norm and the loss are the
  // whole model's, and every rank agrees on whether fp16 gradients are finite.
  void join_process_group(std::shared_ptr<ProcessGroup> group);

  // One optimizer step over K micro-batches of B samples in inputs() and labels(): gradients of
  // the mean loss over all K·B samples are accumulated (the loss of each micro-batch scaled by
  // 1/K), then averaged over the ranks once (DDP's no_sync semantics: buckets are reduced
  // during the last micro-batch's backward only). clip_norm ≤ 0 disables clipping.
  // `stop_vote`: this rank asks to stop after this step; the votes of every rank of the job
  // travel with the loss's reduction, so all of them learn it (StepResult::stop) in the same step.
  StepResult train_step(size_t B, size_t K, float lr, float clip_norm, bool stop_vote = false);
  // Loss sum and correct count over the B · positions predictions of the batch of B samples in
  // inputs() and labels(), no gradients.
  CrossEntropyResult evaluate(size_t B);
  // Clips the current gradients (clip_norm > 0) and updates the parameters; returns the norm.
  double optimizer_step(float lr, float clip_norm);
  static float clip_scale(double norm, float clip_norm);

 private:
  // Makes the pipeline's subgroups and the Pipeline; returns this stage's data-parallel replicas
  // (null when there is one pipeline).
  std::shared_ptr<ProcessGroup> join_pipeline(ProcessGroup& world, size_t D, size_t P, size_t rank);
  TrainerConfig config_;
  Device& device_;
  std::unique_ptr<Model> model_;
  Profiler profiler_;
  Optimizer optimizer_;
  LossScaler scaler_;
  FloatBuffer inputs_;  // 4-byte elements: fp32 features or int32 tokens
  std::vector<int32_t> labels_;
  Tensor device_labels_;  // on a GPU, the current step's labels, copied there before it runs
  Tensor dlogits_;
  // Where the loss reads the labels of the first `samples` samples: labels_ itself on the CPU,
  // a copy on a GPU. (The model copies its inputs to its device itself.)
  const int32_t* staged_labels(size_t samples);
  // Mixed precision: the optimizer refreshes the layers' rounded copy of what it updates.
  Parameters& params() { return model_->parameters(); }
  RoundedCopy compute_copy() {
    return params().precision() == Precision::F32 ? RoundedCopy{} : RoundedCopy{params().precision(), params().compute()};
  }
  // Σ g² over this rank's gradients, a weight shared between stages counted on the first only.
  double own_squares();
  bool joined_ = false;
  std::unique_ptr<Pipeline> pipeline_;           // null: the whole model on this rank
  std::unique_ptr<DataParallel> data_parallel_;  // null: no other rank holds this part
};

}  // namespace rm
