// Constants the LayerNorm kernels of every device share.
#pragma once

namespace rm {

constexpr float kLayerNormEps = 1e-5f;  // torch.nn.LayerNorm's default

}  // namespace rm
