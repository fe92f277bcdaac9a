// Philox4x32-10 against the published Random123 known answers (tests/kat_vectors
// in the Random123 distribution), and the properties the rest of acx relies on.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "kernels/philox.h"

namespace acx {
namespace {

struct Kat {
  Philox4 ctr;
  uint32_t key0, key1;
  Philox4 want;
};

TEST(Philox, Random123KnownAnswers) {
  const Kat kats[] = {
      {{{0x00000000, 0x00000000, 0x00000000, 0x00000000}}, 0x00000000, 0x00000000,
       {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, 0xffffffff, 0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0xa4093822, 0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    const Philox4 got = philox4x32_10(k.ctr, k.key0, k.key1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(got.v[i], k.want.v[i]) << "word " << i;
  }
}

TEST(Philox, KeyedDrawsAreDistinctAndRepeatable) {
  const Philox4 a = philox_draw(7, 1, 3, 11);
  const Philox4 b = philox_draw(7, 1, 3, 11);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a.v[i], b.v[i]);
  // Changing any part of the key changes the draw.
  const Philox4 others[] = {philox_draw(8, 1, 3, 11), philox_draw(7, 2, 3, 11), philox_draw(7, 1, 4, 11),
                            philox_draw(7, 1, 3, 12), philox_draw(7ull | (1ull << 40), 1, 3, 11),
                            philox_draw(7, 1, 3, 11ull | (1ull << 40))};
  for (const Philox4& o : others) {
    EXPECT_FALSE(o.v[0] == a.v[0] && o.v[1] == a.v[1] && o.v[2] == a.v[2] && o.v[3] == a.v[3]);
  }
}

TEST(Philox, UniformIsInOpenIntervalWithRightMoments) {
  PhiloxStream rng(42, RngPurpose::kTest, 0, 0);
  const int n = 200000;
  double sum = 0, sum2 = 0;
  float lo = 1, hi = 0;
  for (int i = 0; i < n; ++i) {
    const float u = rng.uniform();
    ASSERT_GT(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    sum += u;
    sum2 += static_cast<double>(u) * u;
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.5, 0.005);
  EXPECT_NEAR(var, 1.0 / 12.0, 0.002);
  EXPECT_LT(lo, 0.001f);
  EXPECT_GT(hi, 0.999f);
  // The extremes of the 24-bit grid stay inside (0, 1).
  EXPECT_GT(uniform_from_bits(0u), 0.0f);
  EXPECT_LT(uniform_from_bits(0xffffffffu), 1.0f);
}

TEST(Philox, NormalHasUnitMomentsAndFiniteTails) {
  const int n = 100000;
  double sum = 0, sum2 = 0, sum4 = 0;
  for (int i = 0; i < n / 4; ++i) {
    float z[4];
    normal4(9, RngPurpose::kTest, 5, static_cast<uint64_t>(i), z);
    for (float x : z) {
      ASSERT_TRUE(std::isfinite(x));
      sum += x;
      sum2 += static_cast<double>(x) * x;
      sum4 += static_cast<double>(x) * x * x * x;
    }
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(var, 1.0, 0.02);
  EXPECT_NEAR(sum4 / n, 3.0, 0.1);  // Gaussian kurtosis
}

TEST(Philox, StreamAdvancesOneBlockPerFourWords) {
  PhiloxStream s(3, RngPurpose::kEnvReset, 17, 100);
  const Philox4 b0 = philox_draw(3, static_cast<uint32_t>(RngPurpose::kEnvReset), 17, 100);
  const Philox4 b1 = philox_draw(3, static_cast<uint32_t>(RngPurpose::kEnvReset), 17, 101);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(s.next_u32(), b0.v[i]);
  EXPECT_EQ(s.counter(), 101u);
  EXPECT_EQ(s.next_u32(), b1.v[0]);
  std::set<uint32_t> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(s.next_u32());
  EXPECT_GT(seen.size(), 995u);
}

}  // namespace
}  // namespace acx
