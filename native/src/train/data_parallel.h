// How data-parallel ranks agree on their gradients, composed over a process group that offers
// only the small interface of collectives/process_group.h:
// - buckets, as DDP cuts them, each averaged on a thread of its own as soon as backward has
//   finished it, so the exchange of the last layers' gradients overlaps the backward pass of
//   the first ones;
// - where every machine holds as many ranks: ZeRO stage 1 over shared memory (machine_shards.h),
//   hierarchical across machines, and sufficient factors for Linear layers whose factors are
//   smaller than their gradient (factor_gradients.h) when the ranks share one machine;
// - otherwise an all-reduce of every bucket over the whole group, optionally 16-bit on the
//   network (gradient_wire.h).
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "../collectives/process_group.h"
#include "../core/model.h"
#include "../optimizer/optimizer.h"
#include "factor_gradients.h"
#include "gradient_buckets.h"
#include "gradient_wire.h"
#include "machine_shards.h"

namespace rm {

struct DataParallelConfig {
  size_t bucket_floats = size_t(25) << 18;  // gradient bucket size (25 MiB)
  Precision gradient_wire = Precision::F32;  // gradients on the network, between machines
  bool sufficient_factors = true;
  bool shard = true;  // ZeRO-1 over shared memory where the ranks allow it
  size_t max_batch = 0, max_accumulate = 1;  // samples per micro-batch, micro-batches per step
  // The gradients are on a GPU: each bucket is averaged by the group (NCCL) in place, in fp32,
  // with no sharding, factors or 16-bit wire (those work on host memory).
  bool on_device = false;
};

// What the ranks agreed on after a step's backward.
struct ReducedStep {
  double loss;                 // averaged over the ranks
  double stop;                 // the ranks' stop votes averaged: > 0 when any rank asked to stop
  double squares;              // Σ g² of the averaged gradient; NaN when the caller sums it itself
  std::vector<Range> owned;    // the parameters this rank updates
  size_t buckets;              // buckets reduced this step
  size_t factor_exchanges;     // sufficient-factor exchanges this step
  double factor_wait_s;        // seconds spent waiting for the other ranks' factors
  size_t wire_bytes;           // gradient bytes this rank sent between machines this step
};

class DataParallel {
 public:
  // Collective over `group` (two ranks or more): every rank starts from rank 0's parameters.
  // Where the ranks can share memory, the model's gradients and parameters and the optimizer's
  // moments move into it, and each rank updates only its shards; each rank's moments are then
  // meaningful for its own shards only, and a checkpoint gathers them.
  DataParallel(std::shared_ptr<ProcessGroup> group, Model& model, Optimizer& optimizer, const DataParallelConfig& config);
  ~DataParallel();

  // For every micro-batch's backward: the strategy that computes factored layers' gradients (or null).
  LinearGradients* linear_gradients() { return factors_.get(); }

  // Before a step's first micro-batch.
  void begin_step();
  // The ready hook of the step's last backward: launches each bucket once its gradients are
  // final; with `squares`, also sums the factored rows' squares while they are in cache.
  GradientsReady ready_hook(bool squares);
  // After the step's backward: waits for every bucket, and averages the loss (and, sharded, the
  // gradient's squared norm) over the ranks.
  ReducedStep finish(double loss, double stop_vote = 0.0);
  // After a failed backward: lets the launched buckets finish (or fail) before the step is left.
  void abandon();
  // After the optimizer has updated this rank's parameters.
  void publish();

 private:
  void launch_ready_buckets(size_t first);
  void reduce_bucket(size_t bucket);  // on the reducer's thread
  // Which Linear layers exchange factors: those that finish on their own in backward (a ready
  // group of their own) and whose factors over the step's micro-batches of every rank are fewer
  // floats than their gradient.
  std::vector<LinearLayer> pick_factored_layers() const;

  std::shared_ptr<ProcessGroup> group_;
  Model& model_;
  DataParallelConfig config_;
  std::unique_ptr<MachineShards> shards_;  // null: every rank holds and updates all parameters
  GradientWire wire_;                      // unsharded, across machines
  std::vector<Range> buckets_;             // in the order backward finishes them
  std::vector<Range> shard_of_;            // sharded: this rank's part of each bucket
  double shard_squares_ = 0;               // sharded: Σ g² over this step's shards so far
  size_t next_bucket_ = 0;                 // the first bucket of this step not yet launched
  std::unique_ptr<FactorGradients> factors_;  // null: every gradient goes through the buckets
  double factor_squares_ = 0;              // Σ g² over this step's factored rows so far
  size_t exchanges_before_ = 0, wire_bytes_before_ = 0;
  double waited_before_ = 0;
  std::unique_ptr<BucketReducer> reducer_;  // last: its thread uses the members above
};

}  // namespace rm
