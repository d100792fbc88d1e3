// One rank's training engine: the model, its optimizer, and the fused loss, as one object the
// N-API layer drives. A training step is forward → cross-entropy → backward → clip → update.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "../collectives/process_group.h"
#include "factor_gradients.h"
#include "gradient_buckets.h"
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
  size_t max_batch = 0;       // samples per micro-batch
  size_t max_accumulate = 1;  // micro-batches per optimizer step
  Impl impl = Impl::Fast;
  Precision precision = Precision::F32;
  // bf16 precision: whether matmuls and convolutions run oneDNN's bf16 kernels. Auto picks them
  // where they beat fp32 (bf16_probe: measured once); otherwise fp32 kernels on bf16-rounded values
  // compute the same products.
  enum class Bf16Kernels { Auto, On, Off } bf16_kernels = Bf16Kernels::Auto;
  LossScalerConfig loss_scale;
  OptimizerConfig optimizer;
  uint64_t seed = 0;
  size_t bucket_floats = size_t(25) << 18;  // data parallel: gradient bucket size (25 MiB)
  Precision gradient_wire = Precision::F32;  // data parallel: gradients on the network (see ProcessGroup)
  // Data parallel on one machine: Linear layers whose sufficient factors (factor_exchange.h)
  // are smaller than their weight gradient exchange those instead.
  bool sufficient_factors = true;
};

struct StepResult {
  double loss;       // mean over the step's samples (all micro-batches)
  double grad_norm;  // global norm before clipping; NaN when clipping is off (not computed)
  // Where the step's time went, in seconds: forward + loss + backward; gradient all-reduce
  // still running when backward ends (including waiting for the slowest rank); clipping +
  // optimizer. Buckets reduced while backward ran count as compute.
  double compute_s, communicate_s, optimize_s;
  size_t gradient_all_reduces;  // buckets reduced: once per bucket per optimizer step
  size_t factor_exchanges;      // sufficient-factor exchanges: per factored layer and micro-batch
  float loss_scale;             // the scale this step ran with (1 without loss scaling)
  bool skipped;                 // inf/NaN gradients: no update (fp16 loss scaling)
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
  void parameters_changed() { params().refresh_compute({Range{0, params().count()}}); }
  // Where a step's micro-batches go before train_step: up to max_accumulate × max_batch samples
  // (each model().input().elements fp32 values or int32 tokens) and their labels
  // (model().positions() per sample), micro-batch after micro-batch.
  void* inputs() { return inputs_.data(); }
  int32_t* labels() { return labels_.data(); }
  // Set once join_process_group has run: the state may live in shared memory from then on.
  bool joined() const { return group_ != nullptr; }

  // Data parallel, collective: from now on gradients (and the reported loss) are averaged over
  // the group's ranks, bucket by bucket while backward runs, before clipping, so every rank
  // takes the same step; every rank starts from rank 0's parameters. Where the ranks can share
  // memory (see ProcessGroup::share_training_buffers) gradients and parameters move into it and
  // each rank updates only its shards of the parameters (ZeRO stage 1: the optimizer's work is
  // divided, not repeated). Each rank's optimizer moments are then meaningful for its own
  // shards only: a checkpoint has to gather them.
  void join_process_group(std::shared_ptr<ProcessGroup> group);

  // One optimizer step over K micro-batches of B samples in inputs() and labels(): gradients of
  // the mean loss over all K·B samples are accumulated (the loss of each micro-batch scaled by
  // 1/K), then averaged over the ranks once (DDP's no_sync semantics: buckets are reduced
  // during the last micro-batch's backward only). clip_norm ≤ 0 disables clipping.
  StepResult train_step(size_t B, size_t K, float lr, float clip_norm);
  // Loss sum and correct count over the B · positions predictions of the batch of B samples in
  // inputs() and labels(), no gradients.
  CrossEntropyResult evaluate(size_t B);
  // Clips the current gradients (clip_norm > 0) and updates the parameters; returns the norm.
  double optimizer_step(float lr, float clip_norm);
  static float clip_scale(double norm, float clip_norm);

 private:
  TrainerConfig config_;
  std::unique_ptr<Model> model_;
  Profiler profiler_;
  Optimizer optimizer_;
  LossScaler scaler_;
  FloatBuffer inputs_;  // 4-byte elements: fp32 features or int32 tokens
  std::vector<int32_t> labels_;
  FloatBuffer dlogits_;
  // Data parallel: launches every bucket whose gradients are final once [first, n) are.
  void launch_ready_buckets(size_t first);
  void reduce_bucket(size_t bucket);  // on the reducer's thread
  // Mixed precision: the optimizer refreshes the layers' rounded copy of what it updates.
  Parameters& params() { return model_->parameters(); }
  RoundedCopy compute_copy() {
    return params().precision() == Precision::F32 ? RoundedCopy{} : RoundedCopy{params().precision(), params().compute()};
  }

  std::shared_ptr<ProcessGroup> group_;  // null or size 1: no communication
  bool sharded_ = false;  // gradients and parameters in the group's shared memory, optimizer sharded
  std::vector<Range> buckets_;  // in the order backward finishes them
  std::vector<Range> shards_;   // sharded: this rank's part of each bucket
  double shard_squares_ = 0;    // sharded: Σ g² over this step's shards so far
  size_t next_bucket_ = 0;      // the first bucket of this step not yet launched
  std::unique_ptr<FactorGradients> factors_;  // null: every gradient goes through the buckets
  double factor_squares_ = 0;                   // Σ g² over this step's factored rows so far
  // Which Linear layers exchange factors: those that finish on their own in backward (a ready
  // group of their own) and whose factors over the step's K micro-batches of every rank are
  // fewer floats than their gradient.
  std::vector<LinearLayer> pick_factored_layers(size_t world) const;
  std::unique_ptr<BucketReducer> reducer_;  // last: its thread uses the members above
};

}  // namespace rm
