#include "pipeline.h"

#include <algorithm>
#include <chrono>

namespace rm {

std::vector<PipelineAction> one_forward_one_backward(size_t stages, size_t stage, size_t micro_batches) {
  std::vector<PipelineAction> actions;
  size_t warmup = std::min(stages - stage - 1, micro_batches);
  size_t forwards = 0, backwards = 0;
  for (; forwards < warmup; ++forwards) actions.push_back({true, forwards});
  for (; forwards < micro_batches; ++forwards, ++backwards) {
    actions.push_back({true, forwards});
    actions.push_back({false, backwards});
  }
  for (; backwards < micro_batches; ++backwards) actions.push_back({false, backwards});
  return actions;
}

// Tags of the transfers between neighbouring stages: micro-batch k's activations and gradients.
static uint32_t activation_tag(size_t k) { return uint32_t(2 * k); }
static uint32_t gradient_tag(size_t k) { return uint32_t(2 * k + 1); }

Pipeline::Pipeline(Model& model, std::shared_ptr<ProcessGroup> stages, std::shared_ptr<ProcessGroup> tied)
    : model_(model), stages_(std::move(stages)), tied_(std::move(tied)), stage_(size_t(stages_->rank())), count_(size_t(stages_->size())) {
  RM_CHECK(model.first_stage() == (stage_ == 0) && model.last_stage() == (stage_ + 1 == count_), "INTERNAL",
           "stage " + std::to_string(stage_) + " of " + std::to_string(count_) + " was built as another part of the model");
  slots_.resize(model.slots());
  size_t n = floats(model.max_batch());
  for (auto& s : slots_) {
    if (!model.first_stage()) s.activations = FloatBuffer(n), s.dinput = FloatBuffer(n);
    if (!model.last_stage()) s.gradients = FloatBuffer(n);
  }
}

void Pipeline::wait(WorkPtr& work) {
  if (!work) return;
  WorkPtr w = std::move(work);
  auto t0 = std::chrono::steady_clock::now();
  w->wait(stages_->wait_bound());
  waited_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void Pipeline::wait_all() {
  for (auto& s : slots_) {
    wait(s.receiving_activations);
    wait(s.receiving_gradients);
    wait(s.sending_output);
    wait(s.sending_dinput);
  }
}

void Pipeline::run(const MicroBatches& m) {
  bool first = model_.first_stage(), last = model_.last_stage();
  size_t S = slots_.size(), n = floats(m.B);
  int prev = int(stage_) - 1, next = int(stage_) + 1;
  auto post_receives = [&](size_t k) {
    Slot& s = slots_[k % S];
    if (!first) s.receiving_activations = stages_->recv(s.activations.data(), n, DType::F32, prev, activation_tag(k));
    if (!last) s.receiving_gradients = stages_->recv(s.gradients.data(), n, DType::F32, next, gradient_tag(k));
  };
  waited_s_ = 0;
  try {
    for (size_t k = 0; k < std::min(S, m.K); ++k) post_receives(k);
    bool finished = false;  // the last backward reported its final gradients but the first group
    for (const PipelineAction& a : one_forward_one_backward(count_, stage_, m.K)) {
      size_t k = a.micro_batch;
      Slot& s = slots_[k % S];
      model_.select_slot(k % S);
      if (a.forward) {
        const void* input;
        if (first) {
          input = m.input(k);
        } else {
          wait(s.receiving_activations);
          input = s.activations.data();
        }
        wait(s.sending_output);  // the forward overwrites what the last one sent
        const float* out = model_.forward(input, m.B);
        if (last) s.logits = out;
        else s.sending_output = stages_->send(out, n, DType::F32, next, activation_tag(k));
      } else {
        const float* dout;
        if (last) {
          dout = m.loss(k, s.logits);
        } else {
          wait(s.receiving_gradients);
          dout = s.gradients.data();
        }
        BackwardOptions o;
        o.accumulate = k > 0;
        o.linear_gradients = m.linear_gradients;
        if (k + 1 == m.K) {
          o.ready = [&](size_t offset) {
            if (offset > 0 && m.ready) m.ready(offset);
            finished = offset == 0;
          };
        }
        if (!first) {
          wait(s.sending_dinput);
          o.dinput = s.dinput.data();
        }
        model_.backward(dout, o);
        if (!first) s.sending_dinput = stages_->send(s.dinput.data(), n, DType::F32, prev, gradient_tag(k));
        if (k + S < m.K) post_receives(k + S);
      }
    }
    RM_CHECK(finished || m.K == 0, "INTERNAL", "the step's last backward did not report its gradients");
    // Every transfer of this stage is under way: the shared weight's sum cannot hold up a neighbour.
    Range shared = model_.shared_weight();
    if (tied_ && shared.end > shared.begin) {
      auto t0 = std::chrono::steady_clock::now();  // mostly the last stage waiting for the first one's backward
      tied_->all_reduce_now(model_.parameters().grads() + shared.begin, shared.end - shared.begin, DType::F32, ReduceOp::Sum);
      waited_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    if (m.ready) m.ready(0);
    wait_all();
  } catch (...) {
    // Transfers still posted point into the slots: let them finish or fail before anything moves on.
    for (auto& s : slots_) {
      for (WorkPtr* w : {&s.receiving_activations, &s.receiving_gradients, &s.sending_output, &s.sending_dinput}) {
        try {
          wait(*w);
        } catch (...) {
        }
      }
    }
    throw;
  }
}

CrossEntropyResult Pipeline::evaluate(const void* input, size_t B, const std::function<CrossEntropyResult(const float* logits)>& loss) {
  bool first = model_.first_stage(), last = model_.last_stage();
  size_t n = floats(B);
  Slot& s = slots_[0];
  model_.select_slot(0);
  if (!first) {
    stages_->recv(s.activations.data(), n, DType::F32, int(stage_) - 1, activation_tag(0))->wait(stages_->wait_bound());
    input = s.activations.data();
  }
  const float* out = model_.forward(input, B);
  double result[2] = {0, 0};
  if (last) {
    CrossEntropyResult r = loss(out);
    result[0] = r.loss_sum;
    result[1] = double(r.correct);
  } else {
    stages_->send(out, n, DType::F32, int(stage_) + 1, activation_tag(0))->wait(stages_->wait_bound());
  }
  sum_over_stages(result, 2);
  return {result[0], size_t(result[1])};
}

}  // namespace rm
