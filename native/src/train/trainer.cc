#include "trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

namespace rm {

// The fused softmax cross-entropy (forward and its gradient in one pass), as the profiler names it.
static const std::string kLossName = "loss (softmax cross-entropy)";

static std::unique_ptr<Model> make_model(const TrainerConfig& c, Device& device) {
  RM_CHECK(c.pipeline_stages >= 1 && c.pipeline_stage < c.pipeline_stages, "INVALID_ARGUMENT",
           "pipeline stage " + std::to_string(c.pipeline_stage) + " of " + std::to_string(c.pipeline_stages));
  size_t chunks = std::max<size_t>(1, c.gpt_part.chunks.size());
  size_t in_flight = pipeline_slots(c.pipeline_stages, c.pipeline_stage, chunks, c.max_accumulate);  // activation sets per chunk
  KernelChoice kernels = choose_kernels(device, c.impl, c.precision, c.bf16_kernels);
  if (c.gpt.layers > 0) return std::make_unique<Gpt>(c.gpt, c.max_batch, kernels, c.precision, device, c.gpt_part, in_flight);
  return std::make_unique<Sequential>(c.layers, c.input, c.max_batch, kernels, c.precision, device, c.sequential_part, in_flight);
}

Trainer::Trainer(const TrainerConfig& config)
    : config_(config),
      device_(device_named(config.device)),
      model_(make_model(config, device_)),
      optimizer_(config.optimizer, model_->parameters().count(), device_),
      scaler_(config.loss_scale),
      inputs_(config.max_accumulate * config.max_batch * model_->input().elements),
      labels_(config.max_accumulate * config.max_batch * model_->positions(), 0),
      dlogits_({config.max_batch * model_->positions() * model_->classes()}, model_->output_dtype(), device_) {
  RM_CHECK(dtype_size(model_->input().dtype) == sizeof(float), "INTERNAL", "inputs are 4-byte elements");
  if (device_.kind() != DeviceKind::Cpu) device_labels_ = Tensor({labels_.size()}, DType::I32, device_);
  optimizer_.set_no_decay(params().no_decay());
  model_->init_params(config.seed);
}

const int32_t* Trainer::staged_labels(size_t samples) {
  if (device_.kind() == DeviceKind::Cpu) return labels_.data();
  device_.copy_from_host(device_labels_.i32(), labels_.data(), samples * model_->positions() * sizeof(int32_t));
  return device_labels_.i32();
}

StepResult Trainer::train_step(size_t B, size_t K, float lr, float clip_norm, bool stop_vote) {
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  RM_CHECK(K >= 1 && K <= config_.max_accumulate, "INVALID_ARGUMENT",
           "micro-batches per step " + std::to_string(K) + " is outside [1, " + std::to_string(config_.max_accumulate) + "]");
  auto t0 = clock::now();
  DataParallel* dp = data_parallel_.get();
  if (dp) dp->begin_step();
  size_t row = model_->input().elements, P = model_->positions(), V = model_->classes();
  float scale = scaler_.scale();
  bool squares_wanted = clip_norm > 0.0f || scaler_.enabled();
  double loss_sum = 0;
  const float* inputs = inputs_.data();  // the model copies each micro-batch to its device
  const int32_t* labels = staged_labels(K * B);
  View dlogits = dlogits_.view();
  MicroBatches m;
  m.B = B;
  m.K = K;
  m.input = [&](size_t k) -> const void* { return inputs + k * B * row; };
  m.loss = [&](size_t k, ConstView logits) -> ConstView {
    ProfileScope timer(model_->profiler(), kLossName, Profiler::Phase::Forward, 5.0 * double(B * P * V));
    CrossEntropyResult ce = model_->kernels().cross_entropy(dlogits, logits, labels + k * B * P, B * P, V, scale / float(K));
    if (dlogits.is_f32()) model_->kernels().round_values(dlogits.f32(), B * P * V, params().precision());  // 16 bits: rounded as written
    loss_sum += ce.loss_sum;
    return dlogits;
  };
  if (dp) {
    m.ready = dp->ready_hook(squares_wanted);  // buckets go once per step, in the last backward
    m.linear_gradients = dp->linear_gradients();
  }
  try {
    if (pipeline_) {
      pipeline_->run(m);
    } else {
      for (size_t k = 0; k < K; ++k) {
        ConstView d = m.loss(k, model_->forward(m.input(k), B));
        BackwardOptions o;
        o.accumulate = k > 0;
        if (k + 1 == K) o.ready = m.ready;
        o.linear_gradients = m.linear_gradients;
        model_->backward(d, o);
      }
    }
  } catch (...) {
    // A factor exchange or a transfer that failed mid-backward: the buckets already launched
    // finish (or time out) before the step's state is left behind; the first error is reported.
    if (dp) dp->abandon();
    throw;
  }
  double loss = loss_sum / double(K * B * P);  // 0 on a stage without the loss
  auto t1 = clock::now();
  size_t n = params().count();
  ReducedStep reduced{loss, stop_vote ? 1.0 : 0.0, std::numeric_limits<double>::quiet_NaN(), {Range{0, n}}, 0, 0, 0.0, 0};
  if (dp) reduced = dp->finish(loss, stop_vote ? 1.0 : 0.0);
  double squares = reduced.squares;
  if (std::isnan(squares)) squares = squares_wanted ? own_squares() : 0.0;
  if (pipeline_) {
    double sums[3] = {squares, reduced.loss, reduced.stop};
    pipeline_->sum_over_stages(sums, 3);  // every stage gets the loss and the stop votes, and agrees on finiteness
    squares = sums[0];
    reduced.loss = sums[1];
    reduced.stop = sums[2];
  }
  auto t2 = clock::now();
  // The ranks of a stage hold the same gradients, and the stages' squares are summed, so every
  // rank agrees on finiteness.
  bool step = scaler_.update(!squares_wanted || std::isfinite(squares));
  double norm = std::sqrt(squares) / scale;
  if (step) {
    optimizer_.step(model_->kernels(), params().values(), params().grads(), lr, clip_scale(norm, clip_norm) / scale, reduced.owned, compute_copy());
  }
  if (dp) dp->publish();
  if (clip_norm <= 0.0f) norm = std::numeric_limits<double>::quiet_NaN();
  // Waiting for the other ranks' factors counts as communication, not compute.
  double waited = reduced.factor_wait_s, bubble = pipeline_ ? pipeline_->waited_seconds() : 0.0;
  return {reduced.loss, norm, seconds(t0, t1) - waited - bubble, seconds(t1, t2) + waited, seconds(t2, clock::now()), bubble,
          reduced.buckets, reduced.factor_exchanges, reduced.wire_bytes, scale, !step, reduced.stop > 0.0};
}

double Trainer::own_squares() {
  Range shared = model_->shared_weight();
  const float* g = params().grads();
  Kernels& k = model_->kernels();
  if (model_->first_stage() || shared.end == shared.begin) return k.sum_squares(g, params().count());
  return k.sum_squares(g, shared.begin) + k.sum_squares(g + shared.end, params().count() - shared.end);
}

void Trainer::join_process_group(std::shared_ptr<ProcessGroup> world) {
  bool gpu = device_.kind() != DeviceKind::Cpu;
  if (gpu) {
    std::string group = world->device_name();
    RM_CHECK(group != "cpu", "INVALID_ARGUMENT", "a model on " + device_.name() + " trains over an NCCL process group, not a Gloo one (join with backend nccl)");
    RM_CHECK(group == device_.name(), "INVALID_ARGUMENT",
             "a model on " + device_.name() + " trains over an NCCL group on its own GPU, not one on " + group +
                 " (a rank sees its GPU as cuda:0: run it with CUDA_VISIBLE_DEVICES set to it, as the agent does)");
  }
  joined_ = true;
  size_t P = config_.pipeline_stages, size = size_t(world->size()), rank = size_t(world->rank());
  RM_CHECK(size % P == 0, "INVALID_ARGUMENT", std::to_string(size) + " ranks do not form pipelines of " + std::to_string(P) + " stages");
  RM_CHECK(rank % P == config_.pipeline_stage, "INVALID_ARGUMENT",
           "rank " + std::to_string(rank) + " holds stage " + std::to_string(rank % P) + ", not " + std::to_string(config_.pipeline_stage));
  size_t D = size / P;
  std::shared_ptr<ProcessGroup> replicas = P > 1 ? join_pipeline(*world, D, P, rank) : world;  // the ranks holding this rank's part
  if (D < 2) return;
  DataParallelConfig c;
  c.bucket_floats = config_.bucket_floats;
  c.gradient_wire = config_.gradient_wire;
  c.sufficient_factors = config_.sufficient_factors;
  c.max_batch = config_.max_batch;
  c.max_accumulate = config_.max_accumulate;
  // A stage's shards would have to leave out the weight it shares with another stage from the
  // norm: pipelines reduce their stages' gradients whole.
  c.shard = P == 1 && !gpu;
  c.on_device = gpu;
  if (gpu) c.sufficient_factors = false, c.gradient_wire = Precision::F32;
  data_parallel_ = std::make_unique<DataParallel>(std::move(replicas), *model_, optimizer_, c);
}

// Every rank makes every subgroup, in the same order: the pipelines, their links, the ranks of
// each stage, and each pipeline's first and last stage. Returns this rank's stage's replicas
// (null without data parallelism).
std::shared_ptr<ProcessGroup> Trainer::join_pipeline(ProcessGroup& world, size_t D, size_t P, size_t rank) {
  std::shared_ptr<ProcessGroup> stages, tied, replicas;
  for (size_t d = 0; d < D; ++d) {
    std::vector<int> ranks;
    for (size_t s = 0; s < P; ++s) ranks.push_back(int(d * P + s));
    if (auto g = world.new_group(ranks)) stages = std::move(g);
  }
  PipelineLinks links;
  for (size_t d = 0; d < D; ++d) {
    for (const PipelineLink& l : pipeline_links(P, model_->chunks())) {
      size_t sender = d * P + l.sender, receiver = d * P + l.receiver;
      auto link = world.new_group({int(std::min(sender, receiver)), int(std::max(sender, receiver))});
      if (link) links.of(l.activations, rank == sender) = std::move(link);
    }
  }
  if (D > 1) {
    for (size_t s = 0; s < P; ++s) {
      std::vector<int> ranks;
      for (size_t d = 0; d < D; ++d) ranks.push_back(int(d * P + s));
      if (auto g = world.new_group(ranks)) replicas = std::move(g);
    }
  }
  if (config_.gpt.layers > 0)  // the tied token embedding
    for (size_t d = 0; d < D; ++d)
      if (auto g = world.new_group({int(d * P), int(d * P + P - 1)})) tied = std::move(g);
  pipeline_ = std::make_unique<Pipeline>(*model_, device_, std::move(stages), std::move(links), std::move(tied));
  return replicas;
}

CrossEntropyResult Trainer::evaluate(size_t B) {
  const int32_t* labels = staged_labels(B);
  auto loss = [&](ConstView logits) {
    return model_->kernels().cross_entropy(nullptr, logits, labels, B * model_->positions(), model_->classes(), 1.0f);
  };
  if (pipeline_) return pipeline_->evaluate(inputs_.data(), B, loss);
  return loss(model_->forward(inputs_.data(), B));
}

// torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), clamped to 1, folded into
// the optimizer's read of the gradient instead of a separate scaling pass.
float Trainer::clip_scale(double norm, float clip_norm) {
  return clip_norm > 0.0f ? float(std::min(1.0, double(clip_norm) / (norm + 1e-6))) : 1.0f;
}

double Trainer::optimizer_step(float lr, float clip_norm) {
  double norm = clip_norm > 0.0f ? std::sqrt(model_->kernels().sum_squares(params().grads(), params().count())) : std::numeric_limits<double>::quiet_NaN();
  std::vector<Range> all = {Range{0, params().count()}};
  optimizer_.step(model_->kernels(), params().values(), params().grads(), lr, clip_scale(norm, clip_norm), all, compute_copy());
  return norm;
}

}  // namespace rm
