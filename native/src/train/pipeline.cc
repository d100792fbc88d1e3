#include "pipeline.h"

#include <algorithm>
#include <chrono>

namespace rm {

// The other rank of a link (a group of two).
static int peer(const ProcessGroup& link) { return 1 - link.rank(); }

Pipeline::Pipeline(Model& model, Device& device, std::shared_ptr<ProcessGroup> stages, PipelineLinks links, std::shared_ptr<ProcessGroup> tied)
    : model_(model),
      device_(device),
      stages_(std::move(stages)),
      tied_(std::move(tied)),
      links_(std::move(links)),
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
      for (auto& s : slots_[c]) s.dinput = Tensor({n}, DType::F32, device_);
  }
  connect_links();
}

std::vector<PipelineLink> pipeline_links(size_t stages, size_t chunks) {
  std::vector<PipelineLink> links;
  size_t edges = chunks > 1 ? stages : stages - 1;
  for (size_t e = 0; e < edges; ++e) {
    size_t next = (e + 1) % stages;
    links.push_back({e, next, true});
    links.push_back({next, e, false});
  }
  return links;
}

// NCCL connects a link on its first transfer, and that waits for the peer to connect it too: a
// stage whose first receive of a step is on one link while its peer's is on another would wait
// forever. So each link carries one transfer now, every rank taking the links in one order: the
// two ranks of a link meet there, and no rank waits on a link whose peer is held up by a later
// one.
void Pipeline::connect_links() {
  float* one = received(0);
  for (const PipelineLink& l : pipeline_links(count_, chunks_)) {
    if (stage_ != l.sender && stage_ != l.receiver) continue;
    bool sends = stage_ == l.sender;
    const std::shared_ptr<ProcessGroup>& link = links_.of(l.activations, sends);
    RM_CHECK(link != nullptr, "INTERNAL", "stage " + std::to_string(stage_) + " lacks its link to stage " + std::to_string(sends ? l.receiver : l.sender));
    (sends ? link->send(one, 1, DType::F32, peer(*link), 0) : link->recv(one, 1, DType::F32, peer(*link), 0))->wait(stages_->wait_bound());
  }
}

float* Pipeline::received(size_t i) {
  while (received_.size() <= i)
    received_.emplace_back(Shape{std::max(in_floats(model_.max_batch()), out_floats(model_.max_batch()))}, DType::F32, device_);
  return received_[i].f32();
}

// A link's transfers in a step are numbered in the order its sender sends them, and that number
// is each one's tag: Gloo matches a receive to a send by it, NCCL by the order alone, and
// receives posted in that order mean the same to both.
void Pipeline::post_receives(size_t K, size_t n_in, size_t n_out) {
  receiving_.clear();
  receive_of_.assign(2 * chunks_ * K, 0);
  for (bool forward : {true, false}) {
    const std::shared_ptr<ProcessGroup>& link = links_.of(forward, false);
    std::vector<PipelineAction> arrivals = pipeline_arrivals(count_, stage_, chunks_, K, forward);
    RM_CHECK(arrivals.empty() || link, "INTERNAL", std::string("stage ") + std::to_string(stage_) + " has no link for its incoming " + (forward ? "activations" : "gradients"));
    for (size_t j = 0; j < arrivals.size(); ++j) {
      const PipelineAction& a = arrivals[j];
      size_t i = receiving_.size();
      receive_of_[receive_index(forward, a.chunk, a.micro_batch, K)] = i;
      receiving_.push_back(link->recv(received(i), forward ? n_in : n_out, DType::F32, peer(*link), uint32_t(j)));
    }
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
  std::vector<PipelineAction> actions = pipeline_schedule(count_, stage_, chunks_, m.K);
  auto take_received = [&](bool forward, size_t c, size_t k) -> const float* {
    size_t i = receive_of_[receive_index(forward, c, k, m.K)];
    wait(receiving_[i]);
    return received_[i].f32();
  };
  // What each outgoing link has sent this step: the next send's tag.
  uint32_t activations_sent = 0, gradients_sent = 0;
  // Each chunk's free activation sets, and the set of each micro-batch in flight.
  std::vector<std::vector<size_t>> free(chunks_), slot_of(chunks_, std::vector<size_t>(m.K));
  for (auto& f : free)
    for (size_t s = model_.slots(); s-- > 0;) f.push_back(s);
  try {
    post_receives(m.K, n_in, n_out);
    bool finished = false;  // the last backward of chunk 0 reported its gradients but the first group
    for (const PipelineAction& a : actions) {
      size_t c = a.chunk, k = a.micro_batch;
      if (a.forward) {
        RM_CHECK(!free[c].empty(), "INTERNAL", "pipeline chunk " + std::to_string(c) + " has no free activation set");
        size_t slot = slot_of[c][k] = free[c].back();
        free[c].pop_back();
        Slot& s = slots_[c][slot];
        const void* input = takes_input(c) ? m.input(k) : take_received(true, c, k);
        wait(s.sending_output);  // the forward overwrites what this set's last forward sent
        model_.select(c, slot);
        ConstView out = model_.forward(input, m.B);
        if (takes_loss(c)) s.logits = out;
        else s.sending_output = links_.activations_out->send(out.f32(), n_out, DType::F32, peer(*links_.activations_out), activations_sent++);
      } else {
        size_t slot = slot_of[c][k];
        Slot& s = slots_[c][slot];
        model_.select(c, slot);
        ConstView dout = takes_loss(c) ? m.loss(k, s.logits) : ConstView(take_received(false, c, k));
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
          o.dinput = s.dinput.f32();
        }
        model_.backward(dout, o);
        if (!takes_input(c)) s.sending_dinput = links_.gradients_out->send(s.dinput.f32(), n_in, DType::F32, peer(*links_.gradients_out), gradients_sent++);
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

CrossEntropyResult Pipeline::evaluate(const void* input, size_t B, const std::function<CrossEntropyResult(ConstView logits)>& loss) {
  size_t n_in = in_floats(B), n_out = out_floats(B);
  uint32_t received_count = 0, sent = 0;  // this evaluation's transfers on each link: their tags
  double result[2] = {0, 0};
  for (size_t c = 0; c < chunks_; ++c) {
    if (!takes_input(c)) {
      ProcessGroup& link = *links_.activations_in;
      float* into = received(0);
      link.recv(into, n_in, DType::F32, peer(link), received_count++)->wait(stages_->wait_bound());
      input = into;
    }
    model_.select(c, 0);
    ConstView out = model_.forward(input, B);
    if (takes_loss(c)) {
      CrossEntropyResult r = loss(out);
      result[0] = r.loss_sum;
      result[1] = double(r.correct);
    } else {
      ProcessGroup& link = *links_.activations_out;
      link.send(out.f32(), n_out, DType::F32, peer(link), sent++)->wait(stages_->wait_bound());
    }
  }
  sum_over_stages(result, 2);
  return {result[0], size_t(result[1])};
}

}  // namespace rm
