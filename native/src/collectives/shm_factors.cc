#include "shm_factors.h"

#include <cstring>

#include "../core/common.h"

namespace rm {

// Per slot and area, one batch count per rank, ahead of the factor areas.
static size_t header_words(size_t slots) { return (slots * 2 * ShmSegment::kMaxRanks + 15) / 16 * 16; }

ShmFactorExchange::Layout ShmFactorExchange::layout(const std::vector<FactorShape>& shapes, size_t max_batch, int size) {
  Layout l;
  size_t at = header_words(shapes.size()) * sizeof(uint64_t) / sizeof(float);
  for (const FactorShape& s : shapes) {
    size_t area = (size_t(size) * max_batch * (s.in + s.out) + 15) / 16 * 16;  // 64-byte aligned areas
    l.slots.push_back(Slot{s, {at, at + area}});
    at += 2 * area;
  }
  l.bytes = at * sizeof(float);
  return l;
}

ShmFactorExchange::ShmFactorExchange(const std::string& name, const std::vector<FactorShape>& slots, size_t max_batch, int rank,
                                     int size, bool create, std::chrono::milliseconds timeout)
    : layout_(layout(slots, max_batch, size)), max_batch_(max_batch), rank_(rank), size_(size),
      segment_(name, rank, size, layout_.bytes, create, timeout) {}

float* ShmFactorExchange::floats() { return reinterpret_cast<float*>(segment_.data()); }

uint64_t* ShmFactorExchange::batches(size_t slot, size_t use) {
  return reinterpret_cast<uint64_t*>(segment_.data()) + (slot * 2 + (use & 1)) * ShmSegment::kMaxRanks;
}

Range ShmFactorExchange::rows(size_t slot) const {
  size_t out = layout_.slots.at(slot).shape.out, r = size_t(segment_.rank()), n = size_t(segment_.size());
  return {out * r / n, out * (r + 1) / n};
}

__attribute__((target_clones("avx512f", "avx2", "default")))
static void copy_scaled(float* __restrict to, const float* __restrict from, size_t n, float scale) {
  for (size_t i = 0; i < n; ++i) to[i] = from[i] * scale;
}

void ShmFactorExchange::check_usable() const {
  RM_CHECK(!broken_, "STATE", "the factor exchange failed earlier in this process group; the group has to be joined again");
}

void ShmFactorExchange::publish(size_t slot, const float* in, const float* dout, size_t B) {
  check_usable();
  RM_CHECK(slot < layout_.slots.size() && B >= 1 && B <= max_batch_, "INVALID_ARGUMENT",
           "factor slot " + std::to_string(slot) + " with batch " + std::to_string(B) + " (at most " + std::to_string(max_batch_) + ")");
  Slot& s = layout_.slots[slot];
  size_t r = size_t(segment_.rank());
  std::memcpy(area_in(s) + r * B * s.shape.in, in, B * s.shape.in * sizeof(float));
  copy_scaled(area_dout(s) + r * B * s.shape.out, dout, B * s.shape.out, 1.0f / float(segment_.size()));
  batches(slot, s.uses)[r] = B;
}

FactorExchange::Gathered ShmFactorExchange::gather(size_t slot) {
  check_usable();
  Slot& s = layout_.slots.at(slot);
  auto t0 = std::chrono::steady_clock::now();
  try {
    segment_.barrier();
  } catch (const NativeError& e) {
    broken_ = true;
    if (e.code() != "COLLECTIVE_TIMEOUT") throw;
    throw e.within("gather_factors #" + std::to_string(exchanges_ + 1) + " (Linear slot " + std::to_string(slot) + ") on rank " +
                   std::to_string(rank_) + " of " + std::to_string(size_) + ": ");
  }
  waited_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t* b = batches(slot, s.uses);
  for (int q = 1; q < segment_.size(); ++q)
    if (b[q] != b[0]) {
      broken_ = true;
      throw NativeError("STATE", "ranks published factors of different batches (" + std::to_string(b[0]) + " and " + std::to_string(b[q]) + ")");
    }
  Gathered g{area_in(s), area_dout(s), size_t(b[0]) * size_t(segment_.size())};
  ++s.uses;
  ++exchanges_;
  return g;
}

}  // namespace rm
