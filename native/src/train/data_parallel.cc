#include "data_parallel.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace rm {

DataParallel::DataParallel(std::shared_ptr<ProcessGroup> group, Model& model, Optimizer& optimizer, const DataParallelConfig& config)
    : group_(std::move(group)), model_(model), config_(config), wire_(config.gradient_wire) {
  RM_CHECK(group_->size() >= 2, "INTERNAL", "data parallelism needs two ranks or more");
  Parameters& params = model.parameters();
  size_t n = params.count();
  group_->broadcast_now(params.values(), n, DType::F32, 0);
  params.refresh_compute({Range{0, n}}, model.kernels());
  if (config.shard && MachineShards::possible(*group_)) {
    TrainingState initial;
    initial.params = params.values();
    if (params.precision() != Precision::F32) initial.compute_params = params.compute();
    initial.moment_count = int(optimizer.moment_count());
    for (int i = 0; i < initial.moment_count; ++i) initial.moments[i] = optimizer.moment(size_t(i));
    shards_ = std::make_unique<MachineShards>(*group_, n, initial, config.gradient_wire);
    const TrainingState& shared = shards_->state();
    params.use_grad_buffer(shared.grads);
    params.use_value_buffer(shared.params);
    optimizer.use_moment_buffers(shared.moments);
    params.use_compute_buffer(shared.compute_params);
  }
  const std::vector<size_t>& groups = model.gradient_ready_offsets();
  std::vector<bool> factored(groups.size(), false);
  if (shards_) {
    std::vector<LinearLayer> layers = pick_factored_layers();
    std::vector<FactorShape> shapes;
    for (const auto& l : layers) shapes.push_back({l.in, l.out});
    std::unique_ptr<FactorExchange> exchange;
    if (!layers.empty()) exchange = shards_->share_factor_exchange(shapes, config.max_batch);
    if (exchange) {
      for (const auto& l : layers)
        factored[size_t(std::find(groups.begin(), groups.end(), l.weight_offset) - groups.begin())] = true;
      factors_ = std::make_unique<FactorGradients>(std::move(exchange), std::move(layers));
    }
  }
  buckets_ = plan_buckets(groups, n, config.bucket_floats, factored);
  shard_of_.assign(buckets_.size(), Range{0, 0});
  reducer_ = std::make_unique<BucketReducer>([this](size_t bucket) { reduce_bucket(bucket); }, group_->wait_bound());
}

DataParallel::~DataParallel() = default;

std::vector<LinearLayer> DataParallel::pick_factored_layers() const {
  std::vector<LinearLayer> picked;
  if (!config_.sufficient_factors) return picked;
  const std::vector<size_t>& groups = model_.gradient_ready_offsets();
  size_t n = model_.parameters().count();
  size_t rows = config_.max_accumulate * size_t(group_->size()) * config_.max_batch;  // samples of one step, all ranks
  for (const auto& l : model_.linear_layers()) {
    auto g = std::find(groups.begin(), groups.end(), l.weight_offset);
    size_t group_end = g == groups.end() ? 0 : g + 1 == groups.end() ? n : *(g + 1);
    bool own_group = g != groups.end() && group_end == l.bias_offset + l.out && l.bias_offset == l.weight_offset + l.in * l.out;
    if (own_group && rows * (l.in + l.out) < l.in * l.out) picked.push_back(l);
  }
  return picked;
}

void DataParallel::begin_step() {
  next_bucket_ = 0;
  shard_squares_ = 0;
  factor_squares_ = 0;
  exchanges_before_ = factors_ ? factors_->exchange().exchanges() : 0;
  waited_before_ = factors_ ? factors_->exchange().waited_seconds() : 0.0;
  wire_bytes_before_ = (shards_ ? shards_->wire_bytes() : 0) + wire_.bytes();
  if (factors_) factors_->new_step();
}

GradientsReady DataParallel::ready_hook(bool squares) {
  return [this, squares](size_t first) {
    launch_ready_buckets(first);
    if (squares && factors_) factor_squares_ += factors_->squares_from(first, model_.parameters().grads());
  };
}

void DataParallel::launch_ready_buckets(size_t first) {
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].begin >= first) reducer_->launch(next_bucket_++);
}

void DataParallel::reduce_bucket(size_t bucket) {
  Range b = buckets_[bucket];
  if (shards_) {
    shard_squares_ += shards_->reduce_gradient_shard(b, &shard_of_[bucket]);
    return;
  }
  float* data = model_.parameters().grads() + b.begin;
  size_t n = b.end - b.begin;
  if (group_->topology().machines == 1 || config_.on_device) return group_->all_reduce_now(data, n, DType::F32, ReduceOp::Avg);  // through memory, or NCCL
  float remaining = wire_.sum(*group_, data, n, 1.0f / float(group_->size()));
  if (remaining != 1.0f)
    for (size_t i = 0; i < n; ++i) data[i] *= remaining;
}

void DataParallel::abandon() {
  try {
    reducer_->wait();
  } catch (...) {
  }
}

ReducedStep DataParallel::finish(double loss, double stop_vote) {
  ReducedStep r;
  r.squares = std::numeric_limits<double>::quiet_NaN();
  r.owned = {Range{0, model_.parameters().count()}};
  reducer_->wait();
  // A sharded rank's share of Σ g² passes through shared memory, and when its machine holds
  // every rank the loss is averaged in the same exchange.
  // The stop votes (a draining worker's ranks) travel with the loss.
  bool loss_with_norm = shards_ && group_->topology().machines == 1;
  double loss_vote[2] = {loss, stop_vote};
  if (!loss_with_norm) group_->all_reduce_now(loss_vote, 2, DType::F64, ReduceOp::Avg);
  loss = loss_vote[0];
  r.stop = loss_vote[1];
  if (shards_) {
    double sums[3] = {shard_squares_ + factor_squares_, loss, stop_vote};
    shards_->sum_over_machine(sums, loss_with_norm ? 3 : 1);
    r.squares = sums[0];
    if (loss_with_norm) loss = sums[1] / double(group_->size()), r.stop = sums[2];
    r.owned = shard_of_;
    if (factors_) r.owned.insert(r.owned.end(), factors_->owned().begin(), factors_->owned().end());
  }
  r.loss = loss;
  r.buckets = next_bucket_;
  r.factor_exchanges = factors_ ? factors_->exchange().exchanges() - exchanges_before_ : 0;
  r.factor_wait_s = factors_ ? factors_->exchange().waited_seconds() - waited_before_ : 0.0;
  r.wire_bytes = (shards_ ? shards_->wire_bytes() : 0) + wire_.bytes() - wire_bytes_before_;
  return r;
}

void DataParallel::publish() {
  if (shards_) shards_->publish_parameter_shards();
}

}  // namespace rm
