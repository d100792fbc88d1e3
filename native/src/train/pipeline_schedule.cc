#include "pipeline_schedule.h"

#include <algorithm>
#include <string>

#include "../core/common.h"

namespace rm {

std::vector<PipelineAction> pipeline_schedule(size_t P, size_t r, size_t v, size_t m) {
  RM_CHECK(P >= 1 && r < P && v >= 1, "INVALID_ARGUMENT", "rank " + std::to_string(r) + " of " + std::to_string(P) + " stages");
  RM_CHECK(v == 1 || m % P == 0, "INVALID_ARGUMENT",
           "interleaved stages need micro-batches in multiples of the " + std::to_string(P) + " stages, not " + std::to_string(m));
  size_t total = m * v;
  // Virtual micro-batch k: its micro-batch and chunk.
  auto at = [&](size_t k, bool forward) {
    size_t group = k / (P * v), within = k % (P * v);
    size_t chunk = within / P;
    return PipelineAction{forward, group * P + within % P, forward ? chunk : v - 1 - chunk};
  };
  size_t warmup = v == 1 ? P - r - 1 : (P - r - 1) * 2 + (v - 1) * P;
  warmup = std::min(warmup, total);
  std::vector<PipelineAction> actions;
  size_t forwards = 0, backwards = 0;
  for (; forwards < warmup; ++forwards) actions.push_back(at(forwards, true));
  for (; forwards < total; ++forwards, ++backwards) {
    actions.push_back(at(forwards, true));
    actions.push_back(at(backwards, false));
  }
  for (; backwards < total; ++backwards) actions.push_back(at(backwards, false));
  return actions;
}

std::vector<PipelineAction> pipeline_arrivals(size_t P, size_t r, size_t v, size_t m, bool forward) {
  RM_CHECK(P >= 1 && r < P && v >= 1, "INVALID_ARGUMENT", "rank " + std::to_string(r) + " of " + std::to_string(P) + " stages");
  size_t sender = forward ? (r + P - 1) % P : (r + 1) % P, V = P * v;
  std::vector<PipelineAction> arrivals;
  for (const PipelineAction& a : pipeline_schedule(P, sender, v, m)) {
    size_t from = a.chunk * P + sender;  // the sender's virtual stage
    if (a.forward != forward || (forward ? from + 1 == V : from == 0)) continue;  // nothing goes past the model's ends
    size_t to = forward ? from + 1 : from - 1;  // a virtual stage of rank r
    arrivals.push_back({forward, a.micro_batch, to / P});
  }
  return arrivals;
}

size_t pipeline_slots(size_t P, size_t r, size_t v, size_t m) {
  if (v > 1) m = (m + P - 1) / P * P;  // the next multiple: never fewer than a shorter step needs
  std::vector<size_t> held(v, 0);
  size_t most = 1;
  for (const PipelineAction& a : pipeline_schedule(P, r, v, m)) {
    size_t& h = held[a.chunk];
    h = a.forward ? h + 1 : h - 1;
    most = std::max(most, h);
  }
  return most;
}

}  // namespace rm
