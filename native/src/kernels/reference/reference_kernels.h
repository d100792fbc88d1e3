// The CPU reference kernels: plain loops, sums in double, one thread. They are the oracle the
// fast kernels (and, later, CUDA's) are tested against, and are checked themselves against
// finite differences and PyTorch's values.
#pragma once

#include "../kernels.h"

namespace rm {

class ReferenceKernels final : public Kernels {
 public:
  RM_KERNELS_OVERRIDES
};

}  // namespace rm
