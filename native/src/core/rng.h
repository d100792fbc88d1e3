// Seeded, platform-independent random numbers for parameter initialisation: splitmix64 seeding a
// xoshiro256** stream. Integer arithmetic only until the final scale, so the same seed gives the
// same model on every machine and every thread count.
#pragma once

#include <cmath>
#include <cstdint>

namespace rm {

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& s : state_) s = splitmix64(seed);
  }

  uint64_t next_u64() {
    uint64_t result = rotl(state_[1] * 5, 7) * 9;
    uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [lo, hi) with 24 random mantissa bits, as torch's float uniform_.
  float uniform(float lo, float hi) {
    float u = static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f);
    return lo + (hi - lo) * u;
  }

  // Normal(mean, std) by Box–Muller from two uniforms (one draw per call: the pair's sine half is
  // not kept, so a sequence of draws depends only on how many came before).
  float normal(float mean, float std) {
    double u1 = (double(next_u64() >> 11) + 1.0) * (1.0 / 9007199254740992.0);  // (0, 1]
    double u2 = double(next_u64() >> 11) * (1.0 / 9007199254740992.0);
    return mean + std * float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  // Moves on as `count` calls of uniform() would.
  void skip_uniforms(size_t count) {
    for (size_t i = 0; i < count; ++i) next_u64();
  }
  // Moves on as `count` calls of normal() would.
  void skip_normals(size_t count) {
    for (size_t i = 0; i < 2 * count; ++i) next_u64();
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t state_[4];
};

}  // namespace rm
