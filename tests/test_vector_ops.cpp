// vector_ops on every backend against float64 loops written here.
#include <gtest/gtest.h>

#include "kernels/runtime/buffer.h"
#include "kernels/runtime/launch_config.h"
#include "kernels/vector_ops.h"
#include "tests/test_util.h"

namespace acx {
namespace {

class VectorOpsTest : public ::testing::TestWithParam<Backend> {};

// Sizes around the block (256) and the sum chunk (4096), and a many-block one.
const int64_t kSizes[] = {1, 31, 255, 256, 257, 4095, 4096, 4097, 100003};

TEST_P(VectorOpsTest, FillAndAxpby) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  for (int64_t n : kSizes) {
    const auto x = test::random_floats(n, 1), y0 = test::random_floats(n, 2);
    Buffer<float> dx = Buffer<float>::from_host(dev, x), dy = Buffer<float>::from_host(dev, y0);
    const float a = 0.005f, b = 0.995f;  // a Polyak step with tau = 0.005
    ops::axpby(dev, n, a, dx.data(), b, dy.data());
    std::vector<double> want(n);
    for (int64_t i = 0; i < n; ++i) want[i] = static_cast<double>(a) * x[i] + static_cast<double>(b) * y0[i];
    const auto got = dy.to_host();
    EXPECT_TRUE(test::all_close(got, want, 1e-7, 1e-6)) << "n = " << n;
    ASSERT_GT(test::l2_norm(got), 0.0);

    ops::fill(dev, dy.data(), n - 1, 3.5f);  // leaves the last element alone
    const auto filled = dy.to_host();
    for (int64_t i = 0; i + 1 < n; ++i) ASSERT_EQ(filled[i], 3.5f) << i;
    EXPECT_EQ(filled[n - 1], got[n - 1]);
  }
}

TEST_P(VectorOpsTest, DeterministicSumMatchesFloat64) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  for (int64_t n : kSizes) {
    const auto x = test::random_floats(n, 3, -2.0f, 3.0f);
    Buffer<float> dx = Buffer<float>::from_host(dev, x);
    double want = 0, want_sq = 0;
    for (float v : x) {
      want += v;
      want_sq += static_cast<double>(v) * v;
    }
    const double got = ops::sum(dev, dx.data(), n), got_sq = ops::sum(dev, dx.data(), n, true);
    EXPECT_NEAR(got, want, 1e-9 * (1 + std::fabs(want))) << "n = " << n;
    EXPECT_NEAR(got_sq, want_sq, 1e-9 * want_sq) << "n = " << n;
    // Bitwise repeatable.
    EXPECT_EQ(ops::sum(dev, dx.data(), n), got);
  }
  EXPECT_EQ(ops::sum(dev, nullptr, 0), 0.0);
}

TEST_P(VectorOpsTest, GridStrideLoopsCoverWhatTheGridCapLeaves) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const ScopedMaxGridBlocks cap(2);  // 2 blocks of 256 threads for 5000 elements
  const int64_t n = 5000;
  const auto x = test::random_floats(n, 4);
  Buffer<float> dx = Buffer<float>::from_host(dev, x), dy(dev, n);
  ops::fill(dev, dy.data(), n, 0.0f);
  ops::axpby(dev, n, 2.0f, dx.data(), 1.0f, dy.data());
  const auto got = dy.to_host();
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], 2.0f * x[i]) << i;
}

INSTANTIATE_TEST_SUITE_P(Backends, VectorOpsTest, test::all_backends(), test::backend_param_name);

}  // namespace
}  // namespace acx
