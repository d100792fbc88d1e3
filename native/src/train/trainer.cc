#include "trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "../kernels/cpu/matmul_peak.h"

namespace rm {

static bool uses_bf16_kernels(const TrainerConfig& c) {
  if (c.precision != Precision::BF16 || c.impl != Impl::Fast) return false;
  using K = TrainerConfig::Bf16Kernels;
  return c.bf16_kernels == K::On || (c.bf16_kernels == K::Auto && bf16_probe().pays_off);
}

// The fused softmax cross-entropy (forward and its gradient in one pass), as the profiler names it.
static const std::string kLossName = "loss (softmax cross-entropy)";

static std::unique_ptr<Model> make_model(const TrainerConfig& c) {
  if (c.gpt.layers > 0) return std::make_unique<Gpt>(c.gpt, c.max_batch, c.impl, c.precision, uses_bf16_kernels(c));
  return std::make_unique<Sequential>(c.layers, c.input, c.max_batch, c.impl, c.precision, uses_bf16_kernels(c));
}

Trainer::Trainer(const TrainerConfig& config)
    : config_(config),
      model_(make_model(config)),
      optimizer_(config.optimizer, model_->parameters().count()),
      scaler_(config.loss_scale),
      inputs_(config.max_accumulate * config.max_batch * model_->input().elements),
      labels_(config.max_accumulate * config.max_batch * model_->positions(), 0),
      dlogits_(config.max_batch * model_->positions() * model_->classes()) {
  RM_CHECK(dtype_size(model_->input().dtype) == sizeof(float), "INTERNAL", "inputs are 4-byte elements");
  optimizer_.set_no_decay(params().no_decay());
  model_->init_params(config.seed);
}

StepResult Trainer::train_step(size_t B, size_t K, float lr, float clip_norm) {
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  RM_CHECK(K >= 1 && K <= config_.max_accumulate, "INVALID_ARGUMENT",
           "micro-batches per step " + std::to_string(K) + " is outside [1, " + std::to_string(config_.max_accumulate) + "]");
  auto t0 = clock::now();
  size_t exchanges = factors_ ? factors_->exchange().exchanges() : 0;
  double waited = factors_ ? factors_->exchange().waited_seconds() : 0.0;
  next_bucket_ = 0;
  shard_squares_ = 0;
  factor_squares_ = 0;
  if (factors_) factors_->new_step();
  double loss_sum = 0;
  size_t row = model_->input().elements, P = model_->positions(), V = model_->classes();
  float scale = scaler_.scale();
  bool squares_wanted = factors_ && (clip_norm > 0.0f || scaler_.enabled());
  try {
    for (size_t k = 0; k < K; ++k) {
      const float* logits = model_->forward(inputs_.data() + k * B * row, B);
      const int32_t* labels = labels_.data() + k * B * P;
      CrossEntropyResult ce;
      {
        ProfileScope timer(model_->profiler(), kLossName, Profiler::Phase::Forward, 5.0 * double(B * P * V));
        ce = model_->kernels().cross_entropy(dlogits_.data(), logits, labels, B * P, V, scale / float(K));
        round_to(params().precision(), dlogits_.data(), B * P * V);
      }
      loss_sum += ce.loss_sum;
      bool last = k + 1 == K;
      BackwardOptions o;
      o.accumulate = k > 0;
      if (reducer_ && last) {  // the last micro-batch only
        o.ready = [this, squares_wanted](size_t first) {
          launch_ready_buckets(first);
          if (squares_wanted) factor_squares_ += factors_->squares_from(first, params().grads());
        };
      }
      o.linear_gradients = factors_.get();
      model_->backward(dlogits_.data(), o);
    }
  } catch (...) {
    // A factor exchange that failed mid-backward: the buckets already launched finish (or time
    // out) before the step's state is left behind; the first error is the one reported.
    if (reducer_) {
      try {
        reducer_->wait();
      } catch (...) {
      }
    }
    throw;
  }
  double loss = loss_sum / double(K * B * P);
  auto t1 = clock::now();
  size_t n = params().count();
  std::vector<Range> mine = {Range{0, n}};  // the parameters this rank updates
  if (factors_) {
    waited = factors_->exchange().waited_seconds() - waited;
    exchanges = factors_->exchange().exchanges() - exchanges;
  }
  if (reducer_) reducer_->wait();
  // Σ g² of the scaled, averaged gradients: a sharded rank's shares pass through shared memory,
  // and when its machine holds every rank the loss is averaged in the same exchange.
  bool loss_with_norm = sharded_ && group_->topology().machines == 1;
  if (reducer_ && !loss_with_norm) group_->all_reduce(&loss, 1, DType::F64, ReduceOp::Avg);
  double squares = 0;
  if (sharded_) {
    double sums[2] = {shard_squares_ + factor_squares_, loss};
    group_->sum_over_shards(sums, loss_with_norm ? 2 : 1);
    squares = sums[0];
    if (loss_with_norm) loss = sums[1] / double(group_->size());
    mine = shards_;
    if (factors_) mine.insert(mine.end(), factors_->owned().begin(), factors_->owned().end());
  }
  auto t2 = clock::now();
  if (!sharded_ && (clip_norm > 0.0f || scaler_.enabled())) squares = global_squares(params().grads(), n);
  // All ranks hold the same gradients, so they agree on finiteness without a word.
  bool step = scaler_.update(std::isfinite(squares));
  double norm = std::sqrt(squares) / scale;
  if (step) {
    optimizer_.step(params().values(), params().grads(), lr, clip_scale(norm, clip_norm) / scale, mine, compute_copy());
  }
  if (sharded_) group_->publish_parameter_shards();
  if (clip_norm <= 0.0f) norm = std::numeric_limits<double>::quiet_NaN();
  // Waiting for the other ranks' factors counts as communication, not compute.
  return {loss, norm, seconds(t0, t1) - waited, seconds(t1, t2) + waited, seconds(t2, clock::now()), next_bucket_, exchanges, scale, !step};
}

void Trainer::launch_ready_buckets(size_t first) {
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].begin >= first) reducer_->launch(next_bucket_++);
}

void Trainer::reduce_bucket(size_t bucket) {
  Range b = buckets_[bucket];
  if (sharded_) {
    shard_squares_ += group_->reduce_gradient_shard(b, &shards_[bucket]);
  } else {
    group_->all_reduce_gradients(params().grads() + b.begin, b.end - b.begin);
  }
}

void Trainer::join_process_group(std::shared_ptr<ProcessGroup> group) {
  group_ = std::move(group);
  if (group_->size() < 2) return;
  group_->set_gradient_wire(config_.gradient_wire);
  size_t n = params().count();
  group_->broadcast(params().values(), n, DType::F32, 0);
  parameters_changed();
  TrainingState initial, shared;
  initial.params = params().values();
  if (params().precision() != Precision::F32) initial.compute_params = params().compute();
  initial.moment_count = int(optimizer_.moment_count());
  for (int i = 0; i < initial.moment_count; ++i) initial.moments[i] = optimizer_.moment(size_t(i));
  if (group_->share_training_state(n, initial, &shared)) {
    params().use_grad_buffer(shared.grads);
    params().use_value_buffer(shared.params);
    optimizer_.use_moment_buffers(shared.moments);
    params().use_compute_buffer(shared.compute_params);
    sharded_ = true;
  }
  const std::vector<size_t>& groups = model_->gradient_ready_offsets();
  std::vector<bool> factored(groups.size(), false);
  if (sharded_) {
    std::vector<LinearLayer> layers = pick_factored_layers(size_t(group_->size()));
    std::vector<FactorShape> shapes;
    for (const auto& l : layers) shapes.push_back({l.in, l.out});
    std::unique_ptr<FactorExchange> exchange;
    if (!layers.empty()) exchange = group_->share_factor_exchange(shapes, config_.max_batch);
    if (exchange) {
      for (const auto& l : layers)
        factored[size_t(std::find(groups.begin(), groups.end(), l.weight_offset) - groups.begin())] = true;
      factors_ = std::make_unique<FactorGradients>(std::move(exchange), std::move(layers));
    }
  }
  buckets_ = plan_buckets(groups, n, config_.bucket_floats, factored);
  shards_.assign(buckets_.size(), Range{0, 0});
  reducer_ = std::make_unique<BucketReducer>([this](size_t bucket) { reduce_bucket(bucket); }, 2 * group_->timeout() + std::chrono::seconds(1));
}

std::vector<LinearLayer> Trainer::pick_factored_layers(size_t world) const {
  std::vector<LinearLayer> picked;
  if (!config_.sufficient_factors) return picked;
  const std::vector<size_t>& groups = model_->gradient_ready_offsets();
  size_t n = model_->parameters().count();
  size_t rows = config_.max_accumulate * world * config_.max_batch;  // samples of one step, all ranks
  for (const auto& l : model_->linear_layers()) {
    auto g = std::find(groups.begin(), groups.end(), l.weight_offset);
    size_t group_end = g == groups.end() ? 0 : g + 1 == groups.end() ? n : *(g + 1);
    bool own_group = g != groups.end() && group_end == l.bias_offset + l.out && l.bias_offset == l.weight_offset + l.in * l.out;
    if (own_group && rows * (l.in + l.out) < l.in * l.out) picked.push_back(l);
  }
  return picked;
}

CrossEntropyResult Trainer::evaluate(size_t B) {
  const float* logits = model_->forward(inputs_.data(), B);
  return model_->kernels().cross_entropy(nullptr, logits, labels_.data(), B * model_->positions(), model_->classes(), 1.0f);
}

// torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), clamped to 1, folded into
// the optimizer's read of the gradient instead of a separate scaling pass.
float Trainer::clip_scale(double norm, float clip_norm) {
  return clip_norm > 0.0f ? float(std::min(1.0, double(clip_norm) / (norm + 1e-6))) : 1.0f;
}

double Trainer::optimizer_step(float lr, float clip_norm) {
  double norm = clip_norm > 0.0f ? std::sqrt(global_squares(params().grads(), params().count())) : std::numeric_limits<double>::quiet_NaN();
  std::vector<Range> all = {Range{0, params().count()}};
  optimizer_.step(params().values(), params().grads(), lr, clip_scale(norm, clip_norm), all, compute_copy());
  return norm;
}

}  // namespace rm
