// philox.h: the counter-based generator Philox4x32-10 (Salmon, Moraes, Dror,
// Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11; constants and
// known-answer vectors from the Random123 library). A draw is a pure function
// of (seed, purpose, index, counter), so the CPU and the GPU produce the same
// bits for the same key whatever the thread layout, and a run is reproducible
// from its seed.
#pragma once

#include "kernels/runtime/common.h"

#include <cmath>

namespace acx {

struct Philox4 {
  uint32_t v[4];
};

namespace philox_detail {
constexpr uint32_t kM0 = 0xD2511F53u;
constexpr uint32_t kM1 = 0xCD9E8D57u;
constexpr uint32_t kW0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t kW1 = 0xBB67AE85u;  // sqrt(3) - 1
}  // namespace philox_detail

// The raw bijection: 10 rounds over a 128-bit counter with a 64-bit key.
ACX_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t key0, uint32_t key1) {
  using namespace philox_detail;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * ctr.v[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * ctr.v[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = Philox4{{hi1 ^ ctr.v[1] ^ key0, lo1, hi0 ^ ctr.v[3] ^ key1, lo0}};
    key0 += kW0;
    key1 += kW1;
  }
  return ctr;
}

// What a stream of random numbers is for. Two purposes never share a counter,
// so adding a new consumer of randomness never shifts an existing one.
enum class RngPurpose : uint32_t {
  kTest = 0,
  kEnvReset = 1,
  kInit = 2,
  kExploration = 3,
  kTargetSmoothing = 4,
  kReplaySample = 5,
  kWarmup = 6,
  kEval = 7,
  kSacPolicy = 8,  // SAC's reparameterized samples in updates (kernels/sac.h)
  kExploreScale = 9,  // per-env exploration scales redrawn at episode ends (kernels/explore.h)
  kPbt = 10,          // population-based training's choices (host/learn/pbt.h)
};

// Four 32-bit words keyed by (seed, purpose, index, counter): the counter
// holds (counter low, counter high, index, purpose) and the key the seed.
ACX_HD Philox4 philox_draw(uint64_t seed, uint32_t purpose, uint32_t index, uint64_t counter) {
  Philox4 ctr{{static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), index, purpose}};
  return philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// A uniform float in (0, 1): the top 23 bits, offset by half a step so that
// neither 0 nor 1 is produced (log(u) stays finite). With 24 bits the top
// value, (2^24 - 0.5) / 2^24, would round to 1.0f.
ACX_HD float uniform_from_bits(uint32_t bits) {
  return (static_cast<float>(bits >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

// Two standard normals from two words (Box-Muller). The transcendental
// functions may differ by an ulp between the CPU and the GPU math libraries.
ACX_HD void normal2_from_bits(uint32_t b0, uint32_t b1, float* n0, float* n1) {
  const float u0 = uniform_from_bits(b0);
  const float u1 = uniform_from_bits(b1);
  const float r = sqrtf(-2.0f * logf(u0));
  const float theta = 6.28318530717958647692f * u1;
  *n0 = r * cosf(theta);
  *n1 = r * sinf(theta);
}

// Four uniforms in (0, 1) from one draw.
ACX_HD void uniform4(uint64_t seed, RngPurpose purpose, uint32_t index, uint64_t counter, float out[4]) {
  const Philox4 r = philox_draw(seed, static_cast<uint32_t>(purpose), index, counter);
  for (int i = 0; i < 4; ++i) out[i] = uniform_from_bits(r.v[i]);
}

// Four standard normals from one draw.
ACX_HD void normal4(uint64_t seed, RngPurpose purpose, uint32_t index, uint64_t counter, float out[4]) {
  const Philox4 r = philox_draw(seed, static_cast<uint32_t>(purpose), index, counter);
  normal2_from_bits(r.v[0], r.v[1], &out[0], &out[1]);
  normal2_from_bits(r.v[2], r.v[3], &out[2], &out[3]);
}

// A stream of draws for one consumer (one env, one sample, ...): the key is
// fixed and the counter advances one Philox block per four words. Small
// enough to live in registers inside a kernel.
class PhiloxStream {
 public:
  ACX_HD PhiloxStream(uint64_t seed, RngPurpose purpose, uint32_t index, uint64_t counter)
      : seed_(seed), purpose_(static_cast<uint32_t>(purpose)), index_(index), counter_(counter) {}

  ACX_HD uint32_t next_u32() {
    if (used_ == 4) {
      block_ = philox_draw(seed_, purpose_, index_, counter_++);
      used_ = 0;
    }
    return block_.v[used_++];
  }
  ACX_HD float uniform() { return uniform_from_bits(next_u32()); }
  ACX_HD float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  ACX_HD float normal() {
    float n0, n1;
    const uint32_t b0 = next_u32();
    const uint32_t b1 = next_u32();
    normal2_from_bits(b0, b1, &n0, &n1);
    return n0;  // the second normal is dropped so draws stay aligned to words
  }
  // The counter a resumed stream must start from (the next unused block).
  ACX_HD uint64_t counter() const { return counter_; }

 private:
  uint64_t seed_;
  uint32_t purpose_;
  uint32_t index_;
  uint64_t counter_;
  Philox4 block_{{0, 0, 0, 0}};
  int used_ = 4;
};

}  // namespace acx
