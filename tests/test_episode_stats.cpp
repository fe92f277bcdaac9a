// Per-agent episode sums against a plain loop, on every backend.
#include <gtest/gtest.h>

#include "kernels/episode_stats.h"
#include "kernels/runtime/buffer.h"
#include "tests/test_util.h"

namespace acx {
namespace {

class EpisodeStatsTest : public ::testing::TestWithParam<Backend> {};

TEST_P(EpisodeStatsTest, SumsEndedEpisodesPerAgent) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int K = 3;
  const int64_t N = 70;
  std::vector<uint8_t> term(K * N), trunc(K * N);
  std::vector<float> ret = test::random_floats(K * N, 5, -300.0f, 0.0f);
  std::vector<int32_t> len(K * N);
  for (int64_t i = 0; i < K * N; ++i) {
    term[i] = i % 7 == 0;
    trunc[i] = i % 5 == 0;
    len[i] = static_cast<int32_t>(i % 200 + 1);
  }
  Buffer<uint8_t> dterm = Buffer<uint8_t>::from_host(dev, term), dtrunc = Buffer<uint8_t>::from_host(dev, trunc);
  Buffer<float> dret = Buffer<float>::from_host(dev, ret);
  Buffer<int32_t> dlen = Buffer<int32_t>::from_host(dev, len);
  Buffer<double> sums(dev, 3 * K);
  sums.zero();
  const EpisodeStatsArgs a{K, N, dterm.data(), dtrunc.data(), dret.data(), dlen.data(), sums.data()};
  ops::accumulate_episode_stats(dev, a);
  ops::accumulate_episode_stats(dev, a);  // accumulates
  const auto got = sums.to_host();
  for (int k = 0; k < K; ++k) {
    double n = 0, r = 0, l = 0;
    for (int64_t i = k * N; i < (k + 1) * N; ++i) {
      if (term[i] || trunc[i]) n += 1, r += ret[i], l += len[i];
    }
    EXPECT_EQ(got[3 * k], 2 * n) << k;
    EXPECT_NEAR(got[3 * k + 1], 2 * r, 1e-6 * std::fabs(r)) << k;
    EXPECT_EQ(got[3 * k + 2], 2 * l) << k;
    ASSERT_GT(n, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, EpisodeStatsTest, test::all_backends(), test::backend_param_name);

}  // namespace
}  // namespace acx
