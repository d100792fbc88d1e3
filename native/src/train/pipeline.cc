#include "pipeline.h"

#include <algorithm>
#include <chrono>

namespace rm {

Pipeline::Pipeline(Model& model, std::shared_ptr<ProcessGroup> stages, std::shared_ptr<ProcessGroup> tied)
    : model_(model),
      stages_(std::move(stages)),
      tied_(std::move(tied)),
      stage_(size_t(stages_->rank())),
      count_(size_t(stages_->size())),
      chunks_(model.chunks()) {
  RM_CHECK(model.first_stage() == (stage_ == 0) && model.last_stage() == (stage_ + 1 == count_), "INTERNAL",
           "stage " + std::to_string(stage_) + " of " + std::to_string(count_) + " was built as another part of the model");
  size_t n = in_floats(model.max_batch());
  slots_.resize(chunks_);
  for (size_t c = 0; c < chunks_; ++c) {
    slots_[c].resize(model.slots());
    if (!takes_input(c))
      for (auto& s : slots_[c]) s.dinput = FloatBuffer(n);
  }
}

void Pipeline::wait(WorkPtr& work) {
  if (!work) return;
  WorkPtr w = std::move(work);
  auto t0 = std::chrono::steady_clock::now();
  w->wait(stages_->wait_bound());
  waited_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void Pipeline::run(const MicroBatches& m) {
  waited_s_ = 0;
  size_t n_in = in_floats(m.B), n_out = out_floats(m.B);
  int prev = int((stage_ + count_ - 1) % count_), next = int((stage_ + 1) % count_);
  std::vector<PipelineAction> actions = pipeline_schedule(count_, stage_, chunks_, m.K);
  // Every receive of the step, posted now, in the order the actions use them.
  receiving_.clear();
  for (const PipelineAction& a : actions) {
    if (a.forward ? takes_input(a.chunk) : takes_loss(a.chunk)) continue;
    if (received_.size() <= receiving_.size()) received_.emplace_back(std::max(in_floats(model_.max_batch()), out_floats(model_.max_batch())));
    float* into = received_[receiving_.size()].data();
    size_t vs = virtual_stage(a.chunk);
    receiving_.push_back(a.forward ? stages_->recv(into, n_in, DType::F32, prev, tag(a.micro_batch, vs, false))
                                   : stages_->recv(into, n_out, DType::F32, next, tag(a.micro_batch, vs, true)));
  }
  size_t used = 0;  // receives used so far
  auto take_received = [&]() -> const float* {
    wait(receiving_[used]);
    return received_[used++].data();
  };
  // Each chunk's free activation sets, and the set of each micro-batch in flight.
  std::vector<std::vector<size_t>> free(chunks_), slot_of(chunks_, std::vector<size_t>(m.K));
  for (auto& f : free)
    for (size_t s = model_.slots(); s-- > 0;) f.push_back(s);
  try {
    bool finished = false;  // the last backward of chunk 0 reported its gradients but the first group
    for (const PipelineAction& a : actions) {
      size_t c = a.chunk, k = a.micro_batch, vs = virtual_stage(c);
      if (a.forward) {
        RM_CHECK(!free[c].empty(), "INTERNAL", "pipeline chunk " + std::to_string(c) + " has no free activation set");
        size_t slot = slot_of[c][k] = free[c].back();
        free[c].pop_back();
        Slot& s = slots_[c][slot];
        const void* input = takes_input(c) ? m.input(k) : take_received();
        wait(s.sending_output);  // the forward overwrites what this set's last forward sent
        model_.select(c, slot);
        const float* out = model_.forward(input, m.B);
        if (takes_loss(c)) s.logits = out;
        else s.sending_output = stages_->send(out, n_out, DType::F32, next, tag(k, vs + 1, false));
      } else {
        size_t slot = slot_of[c][k];
        Slot& s = slots_[c][slot];
        model_.select(c, slot);
        const float* dout = takes_loss(c) ? m.loss(k, s.logits) : take_received();
        BackwardOptions o;
        o.accumulate = k > 0;
        o.linear_gradients = m.linear_gradients;
        if (k + 1 == m.K) {
          o.ready = [&](size_t offset) {
            if (offset > 0 && m.ready) m.ready(offset);
            finished = finished || offset == 0;
          };
        }
        if (!takes_input(c)) {
          wait(s.sending_dinput);
          o.dinput = s.dinput.data();
        }
        model_.backward(dout, o);
        if (!takes_input(c)) s.sending_dinput = stages_->send(s.dinput.data(), n_in, DType::F32, prev, tag(k, vs - 1, true));
        free[c].push_back(slot);
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
    each_transfer([this](WorkPtr& w) { wait(w); });
  } catch (...) {
    // Transfers still posted point into the buffers: let them finish or fail before anything moves on.
    each_transfer([this](WorkPtr& w) {
      try {
        wait(w);
      } catch (...) {
      }
    });
    throw;
  }
}

CrossEntropyResult Pipeline::evaluate(const void* input, size_t B, const std::function<CrossEntropyResult(const float* logits)>& loss) {
  size_t n_in = in_floats(B), n_out = out_floats(B);
  if (received_.empty()) received_.emplace_back(std::max(in_floats(model_.max_batch()), out_floats(model_.max_batch())));
  int prev = int((stage_ + count_ - 1) % count_), next = int((stage_ + 1) % count_);
  double result[2] = {0, 0};
  for (size_t c = 0; c < chunks_; ++c) {
    size_t vs = virtual_stage(c);
    if (!takes_input(c)) {
      stages_->recv(received_[0].data(), n_in, DType::F32, prev, tag(0, vs, false))->wait(stages_->wait_bound());
      input = received_[0].data();
    }
    model_.select(c, 0);
    const float* out = model_.forward(input, B);
    if (takes_loss(c)) {
      CrossEntropyResult r = loss(out);
      result[0] = r.loss_sum;
      result[1] = double(r.correct);
    } else {
      stages_->send(out, n_out, DType::F32, next, tag(0, vs + 1, false))->wait(stages_->wait_bound());
    }
  }
  sum_over_stages(result, 2);
  return {result[0], size_t(result[1])};
}

}  // namespace rm
