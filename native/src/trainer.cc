#include "trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

namespace rm {

Trainer::Trainer(const TrainerConfig& config)
    : config_(config),
      net_(config.layers, config.input, config.max_batch, config.impl),
      optimizer_(config.optimizer, net_.param_count()),
      labels_(config.max_batch, 0),
      dlogits_(config.max_batch * net_.output_size()) {
  net_.init_params(config.seed);
}

StepResult Trainer::train_step(size_t B, float lr, float clip_norm) {
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  auto t0 = clock::now();
  const float* logits = net_.forward(B);
  auto ce = cross_entropy_forward_backward(dlogits_.data(), logits, labels_.data(), B,
                                           net_.output_size(), 1.0f);
  double loss = ce.loss_sum / double(B);
  if (!reducer_) {
    net_.backward(dlogits_.data(), nullptr, false);
    auto t1 = clock::now();
    double norm = optimizer_step(lr, clip_norm);
    return {loss, norm, seconds(t0, t1), 0.0, seconds(t1, clock::now())};
  }
  next_bucket_ = 0;
  shard_squares_ = 0;
  net_.backward(dlogits_.data(), nullptr, false, [this](size_t first) { launch_ready_buckets(first); });
  auto t1 = clock::now();
  reducer_->wait();
  group_->all_reduce(&loss, 1, DType::F64, ReduceOp::Avg);
  auto t2 = clock::now();
  double norm;
  if (sharded_) {
    norm = std::sqrt(group_->sum_over_shards(shard_squares_));
    optimizer_.step(net_.params(), net_.grads(), lr, clip_scale(norm, clip_norm), shards_);
    group_->publish_parameter_shards();
  } else {
    norm = optimizer_step(lr, clip_norm);
  }
  if (clip_norm <= 0.0f) norm = std::numeric_limits<double>::quiet_NaN();
  return {loss, norm, seconds(t0, t1), seconds(t1, t2), seconds(t2, clock::now())};
}

void Trainer::launch_ready_buckets(size_t first) {
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].begin >= first) reducer_->launch(next_bucket_++);
}

void Trainer::reduce_bucket(size_t bucket) {
  Range b = buckets_[bucket];
  if (sharded_) {
    shard_squares_ += group_->reduce_gradient_shard(b, &shards_[bucket]);
  } else {
    group_->all_reduce(net_.grads() + b.begin, b.end - b.begin, DType::F32, ReduceOp::Avg);
  }
}

void Trainer::join_process_group(std::shared_ptr<ProcessGroup> group) {
  group_ = std::move(group);
  if (group_->size() < 2) return;
  size_t n = net_.param_count();
  group_->broadcast(net_.params(), n, DType::F32, 0);
  float *grads = nullptr, *params = nullptr;
  if (group_->share_training_buffers(n, net_.params(), &grads, &params)) {
    net_.use_gradient_buffer(grads);
    net_.use_parameter_buffer(params);
    sharded_ = true;
  }
  buckets_ = plan_buckets(net_.layer_param_offsets(), n, config_.bucket_floats);
  shards_.assign(buckets_.size(), Range{0, 0});
  reducer_ = std::make_unique<BucketReducer>([this](size_t bucket) { reduce_bucket(bucket); }, 2 * group_->timeout() + std::chrono::seconds(1));
}

CrossEntropyResult Trainer::evaluate(size_t B) {
  const float* logits = net_.forward(B);
  return cross_entropy_forward_backward(nullptr, logits, labels_.data(), B, net_.output_size(), 1.0f);
}

// torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), clamped to 1, folded into
// the optimizer's read of the gradient instead of a separate scaling pass.
float Trainer::clip_scale(double norm, float clip_norm) {
  return clip_norm > 0.0f ? float(std::min(1.0, double(clip_norm) / (norm + 1e-6))) : 1.0f;
}

double Trainer::optimizer_step(float lr, float clip_norm) {
  double norm = clip_norm > 0.0f ? global_norm(net_.grads(), net_.param_count()) : std::numeric_limits<double>::quiet_NaN();
  optimizer_.step(net_.params(), net_.grads(), lr, clip_scale(norm, clip_norm), {Range{0, net_.param_count()}});
  return norm;
}

}  // namespace rm
