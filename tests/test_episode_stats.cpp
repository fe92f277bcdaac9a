// Per-agent episode sums against a plain loop, on every backend.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "kernels/episode_stats.h"
#include "kernels/runtime/buffer.h"
#include "tests/test_util.h"

namespace acx {
namespace {

class EpisodeStatsTest : public ::testing::TestWithParam<std::tuple<Backend, int64_t>> {};

// N = 70: one chunk; N = 2500: three chunks of 1024, the last partial.
TEST_P(EpisodeStatsTest, SumsEndedEpisodesPerAgent) {
  ACX_DEVICE_OR_SKIP(dev, std::get<0>(GetParam()));
  const int K = 3;
  const int64_t N = std::get<1>(GetParam());
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
  EpisodeStatsArgs a{K, N, dterm.data(), dtrunc.data(), dret.data(), dlen.data(), sums.data()};
  ops::accumulate_episode_stats(dev, a);  // its own scratch
  Buffer<double> scratch(dev, static_cast<size_t>(episode_stats_scratch(K, N)));
  a.partial = scratch.data();
  ops::accumulate_episode_stats(dev, a);  // the caller's scratch; accumulates
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

INSTANTIATE_TEST_SUITE_P(Backends, EpisodeStatsTest,
                         ::testing::Combine(::testing::Values(Backend::kCpu, Backend::kCuda),
                                            ::testing::Values(int64_t{70}, int64_t{2500})),
                         [](const auto& info) {
                           return std::string(backend_name(std::get<0>(info.param))) + "_n" +
                                  std::to_string(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace acx
