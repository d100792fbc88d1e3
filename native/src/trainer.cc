#include "trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

namespace rm {

Trainer::Trainer(const TrainerConfig& config)
    : net_(config.layers, config.input, config.max_batch, config.impl),
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
  net_.backward(dlogits_.data(), nullptr, false);
  double loss = ce.loss_sum / double(B);
  auto t1 = clock::now();
  if (sharded_) {
    size_t begin = 0, end = 0;
    double squares = group_->reduce_gradient_shard(&begin, &end);
    group_->all_reduce(&loss, 1, DType::F64, ReduceOp::Avg);
    auto t2 = clock::now();
    double norm = std::sqrt(squares);
    optimizer_.step(net_.params(), net_.grads(), lr, clip_scale(norm, clip_norm), begin, end);
    group_->publish_parameter_shards();
    return {loss, clip_norm > 0.0f ? norm : std::numeric_limits<double>::quiet_NaN(), seconds(t0, t1), seconds(t1, t2), seconds(t2, clock::now())};
  }
  if (group_ && group_->size() > 1) {
    group_->all_reduce(net_.grads(), net_.param_count(), DType::F32, ReduceOp::Avg);
    group_->all_reduce(&loss, 1, DType::F64, ReduceOp::Avg);
  }
  auto t2 = clock::now();
  double norm = optimizer_step(lr, clip_norm);
  auto t3 = clock::now();
  return {loss, norm, seconds(t0, t1), seconds(t1, t2), seconds(t2, t3)};
}

void Trainer::join_process_group(std::shared_ptr<ProcessGroup> group) {
  group_ = std::move(group);
  if (group_->size() < 2) return;
  size_t n = net_.param_count();
  group_->broadcast(net_.params(), n, DType::F32, 0);
  float *grads = nullptr, *params = nullptr;
  if (!group_->share_training_buffers(n, &grads, &params)) return;
  if (group_->rank() == 0) std::memcpy(params, net_.params(), n * sizeof(float));
  net_.use_gradient_buffer(grads);
  group_->publish_parameter_shards();  // rank 0's copy is in place before anyone reads it
  net_.use_parameter_buffer(params);
  sharded_ = true;
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
  optimizer_.step(net_.params(), net_.grads(), lr, clip_scale(norm, clip_norm), 0, net_.param_count());
  return norm;
}

}  // namespace rm
