// The TD target y = r + discount * min_q Q'_q against a float64 loop.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernels/runtime/buffer.h"
#include "kernels/td_target.h"
#include "tests/test_util.h"

namespace acx {
namespace {

class TdTargetTest : public ::testing::TestWithParam<Backend> {};

TEST_P(TdTargetTest, ClippedDoubleQAndSingleQ) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  for (int n_q : {1, 2}) {
    for (auto [k, b] : {std::pair{1, 1}, std::pair{3, 37}, std::pair{2, 300}}) {
      const int64_t kb = static_cast<int64_t>(k) * b;
      const auto q = test::random_floats(n_q * kb, 10 + n_q, -5.0f, 5.0f);
      const auto r = test::random_floats(kb, 20, -1.0f, 1.0f);
      auto disc = test::random_floats(kb, 30, 0.9f, 0.99f);
      for (int64_t i = 0; i < kb; i += 3) disc[i] = 0.0f;  // terminations
      Buffer<float> dq = Buffer<float>::from_host(dev, q), dr = Buffer<float>::from_host(dev, r),
                    dd = Buffer<float>::from_host(dev, disc), dy(dev, n_q * kb);
      const float scale = n_q == 1 ? 1.0f : 0.25f;
      ops::td_target(dev, TdTargetArgs{n_q, k, b, dq.data(), dr.data(), dd.data(), dy.data(), scale});
      const auto y = dy.to_host();
      std::vector<double> want(n_q * kb);
      for (int64_t i = 0; i < kb; ++i) {
        double m = q[i];
        if (n_q == 2) m = std::min<double>(m, q[kb + i]);
        for (int j = 0; j < n_q; ++j) want[j * kb + i] = scale * r[i] + static_cast<double>(disc[i]) * m;
      }
      EXPECT_TRUE(test::all_close(y, want, 1e-6, 1e-6)) << "n_q " << n_q << " k " << k << " b " << b;
      ASSERT_GT(test::l2_norm(y), 0.0);
    }
  }
}

TEST_P(TdTargetTest, SoftTargetSubtractsEachAgentsAlphaTimesLogProb) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int n_q = 2, k = 3, b = 41;
  const int64_t kb = static_cast<int64_t>(k) * b;
  const auto q = test::random_floats(n_q * kb, 40, -5.0f, 5.0f);
  const auto r = test::random_floats(kb, 41, -1.0f, 1.0f);
  auto disc = test::random_floats(kb, 42, 0.9f, 0.99f);
  for (int64_t i = 0; i < kb; i += 4) disc[i] = 0.0f;  // terminations: no entropy either
  const auto logp = test::random_floats(kb, 43, -3.0f, 2.0f);
  const std::vector<float> log_alpha = {std::log(0.2f), 0.0f, std::log(0.01f)};
  Buffer<float> dq = Buffer<float>::from_host(dev, q), dr = Buffer<float>::from_host(dev, r),
                dd = Buffer<float>::from_host(dev, disc), dl = Buffer<float>::from_host(dev, logp),
                da = Buffer<float>::from_host(dev, log_alpha), dy(dev, n_q * kb);
  TdTargetArgs args{n_q, k, b, dq.data(), dr.data(), dd.data(), dy.data(), 1.0f};
  args.next_log_prob = dl.data();
  args.log_alpha = da.data();
  ops::td_target(dev, args);
  const auto y = dy.to_host();
  std::vector<double> want(n_q * kb);
  for (int64_t i = 0; i < kb; ++i) {
    const double soft = std::min<double>(q[i], q[kb + i]) - std::exp(static_cast<double>(log_alpha[i / b])) * logp[i];
    for (int j = 0; j < n_q; ++j) want[j * kb + i] = r[i] + static_cast<double>(disc[i]) * soft;
  }
  EXPECT_TRUE(test::all_close(y, want, 1e-5, 1e-6));
  ASSERT_GT(test::l2_norm(y), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Backends, TdTargetTest, test::all_backends(), test::backend_param_name);

}  // namespace
}  // namespace acx
