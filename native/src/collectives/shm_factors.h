// The sufficient-factor exchange (factor_exchange.h) among the ranks of one machine, through a
// shared segment of its own (its barriers never interleave with the gradient buckets', which
// run on the reducer's thread at the same time).
//
// Each slot (a Linear whose factors are exchanged) has two areas, used alternately: rank r
// writes its factors into rows [r·B, (r+1)·B) of the area of this use, and a barrier makes
// them visible. A rank writes an area again only two uses later, after a barrier every peer
// passed once done reading it, so one barrier per exchange suffices.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "factor_exchange.h"
#include "shm_segment.h"

namespace rm {

class ShmFactorExchange : public FactorExchange {
 public:
  // rank, size: this rank and the group's (messages); local_rank, local_size: within the
  // machine, which is the whole group. The creator (local rank 0) makes the segment `name`.
  ShmFactorExchange(const std::string& name, const std::vector<FactorShape>& slots, size_t max_batch, int rank, int size,
                    bool create, std::chrono::milliseconds timeout);
  void unlink() { segment_.unlink(); }

  Range rows(size_t slot) const override;
  void publish(size_t slot, const float* in, const float* dout, size_t B) override;
  Gathered gather(size_t slot) override;
  size_t exchanges() const override { return exchanges_; }
  double waited_seconds() const override { return waited_s_; }

 private:
  struct Slot {
    FactorShape shape;
    size_t offset[2];  // floats from the data start: the two areas, each in[size·max_batch, IN] then dout
    size_t uses = 0;
  };
  float* area_in(const Slot& s) { return floats() + s.offset[s.uses & 1]; }
  float* area_dout(const Slot& s) { return area_in(s) + size_t(segment_.size()) * max_batch_ * s.shape.in; }
  uint64_t* batches(size_t slot, size_t use);  // per rank: the B it published in this area
  float* floats();
  struct Layout {
    std::vector<Slot> slots;
    size_t bytes = 0;  // of the segment's data
  };
  static Layout layout(const std::vector<FactorShape>& shapes, size_t max_batch, int size);

  Layout layout_;  // before segment_, which is sized by it
  size_t max_batch_;
  int rank_, size_;
  ShmSegment segment_;
  size_t exchanges_ = 0;
  double waited_s_ = 0;
  // Set by a failed gather: this rank's barrier count no longer matches its peers', so the
  // exchange refuses to go on (a later barrier could pair with another exchange's arrival).
  bool broken_ = false;
  void check_usable() const;
};

}  // namespace rm
