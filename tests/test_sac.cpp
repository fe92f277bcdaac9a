// SAC's per-sample kernels (kernels/sac.h) against a float64 reference
// written here from the formulas, and the actor's loss gradient against
// central differences of that reference. On the CPU, and on the CUDA backend
// (the SIMT emulation in the emulation build).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/runtime/buffer.h"
#include "kernels/sac.h"
#include "tests/test_util.h"

namespace acx {
namespace {

constexpr int kA = 3;
const std::vector<float> kLow = {-2.0f, -1.0f, 0.0f}, kHigh = {2.0f, 1.0f, 3.0f};
constexpr float kL0 = -2.0f, kL1 = 0.5f;

// The float64 model of one row: its log pi and actions from its head and noise.
struct RowRef {
  double log_prob = 0;
  double action[kA] = {};
};

RowRef row_reference(const double* x, const double* eps, double l0, double l1) {
  RowRef r;
  for (int d = 0; d < kA; ++d) {
    const double log_std = l0 + 0.5 * (l1 - l0) * (std::tanh(x[kA + d]) + 1.0);
    const double u = x[d] + std::exp(log_std) * eps[d];
    const double t = std::tanh(u);
    const double s = 0.5 * (kHigh[d] - kLow[d]), c = 0.5 * (kHigh[d] + kLow[d]);
    r.action[d] = c + s * t;
    r.log_prob += -0.5 * eps[d] * eps[d] - log_std - 0.5 * std::log(2.0 * M_PI) - std::log(s * (1.0 - t * t) + 1e-6);
  }
  return r;
}

class SacTest : public ::testing::TestWithParam<Backend> {};

TEST_P(SacTest, SquashedGaussianSampleMatchesFloat64) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int64_t rows = 2 * 37;
  // Means in [-1, 1] and log-stds in [-1.7, 0.2]: |u| stays below ~5, where
  // float32's 1 - t^2 is good to about 1e-3 relative.
  std::vector<float> head = test::random_floats(rows * 2 * kA, 61, -1.0f, 1.0f);
  Buffer<float> dh = Buffer<float>::from_host(dev, head), lo = Buffer<float>::from_host(dev, kLow),
                hi = Buffer<float>::from_host(dev, kHigh), act(dev, rows * kA), lp(dev, rows), eps(dev, rows * kA);
  for (int det : {0, 1}) {
    SquashedGaussianArgs a{rows, kA, dh.data(), lo.data(), hi.data(), kL0, kL1, 7, RngPurpose::kSacPolicy,
                           12345, det, act.data(), lp.data(), eps.data()};
    ops::squashed_gaussian(dev, a);
    const auto ga = act.to_host(), gl = lp.to_host(), ge = eps.to_host();
    std::vector<double> want_a(rows * kA), want_lp(rows);
    for (int64_t r = 0; r < rows; ++r) {
      double x[2 * kA], e[kA];
      for (int j = 0; j < 2 * kA; ++j) x[j] = head[r * 2 * kA + j];
      for (int d = 0; d < kA; ++d) {
        // The noise is explore.h's keyed normal (its statistics are tested there).
        const float drawn = det ? 0.0f : noise_normal(7, RngPurpose::kSacPolicy, r, kA, d, 12345);
        ASSERT_NEAR(ge[r * kA + d], drawn, 1e-6) << "row " << r << " dim " << d;
        e[d] = ge[r * kA + d];
      }
      const RowRef ref = row_reference(x, e, kL0, kL1);
      want_lp[r] = ref.log_prob;
      for (int d = 0; d < kA; ++d) want_a[r * kA + d] = ref.action[d];
    }
    EXPECT_TRUE(test::all_close(ga, want_a, 1e-5, 1e-5)) << "deterministic " << det;
    EXPECT_TRUE(test::all_close(gl, want_lp, 1e-3, 1e-5)) << "deterministic " << det;
    ASSERT_GT(test::l2_norm(ga), 0.0);
    ASSERT_GT(test::l2_norm(gl), 0.0);
    if (det) {
      EXPECT_EQ(test::l2_norm(ge), 0.0) << "the mean action draws no noise";
    } else {
      EXPECT_GT(test::l2_norm(ge), 1.0);
    }
  }
}

TEST_P(SacTest, SaturatedActionsStayInTheBoxWithAFiniteLogProb) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int64_t rows = 64;
  std::vector<float> head = test::random_floats(rows * 2 * kA, 62, -40.0f, 40.0f);
  Buffer<float> dh = Buffer<float>::from_host(dev, head), lo = Buffer<float>::from_host(dev, kLow),
                hi = Buffer<float>::from_host(dev, kHigh), act(dev, rows * kA), lp(dev, rows);
  ops::squashed_gaussian(dev, SquashedGaussianArgs{rows, kA, dh.data(), lo.data(), hi.data(), -5.0f, 2.0f, 3,
                                                   RngPurpose::kExploration, 9, 0, act.data(), lp.data(), nullptr});
  const auto ga = act.to_host(), gl = lp.to_host();
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_TRUE(std::isfinite(gl[r])) << "row " << r;
    // Saturated dimensions pay at most -log(1e-6) each.
    EXPECT_LT(gl[r], kA * (5.0 + 13.9)) << "row " << r;
    for (int d = 0; d < kA; ++d) {
      EXPECT_GE(ga[r * kA + d], kLow[d]);
      EXPECT_LE(ga[r * kA + d], kHigh[d]);
    }
  }
}

// L = w sum_rows [alpha_k log pi_row - g . a_row], the actor's loss with a
// critic linear in a (so dQ/da = g); its float64 central differences.
TEST_P(SacTest, ActorLossGradientMatchesFiniteDifferences) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int K = 2, B = 19;
  const int64_t rows = static_cast<int64_t>(K) * B;
  const std::vector<float> head = test::random_floats(rows * 2 * kA, 63, -1.0f, 1.0f);
  const std::vector<float> g = test::random_floats(rows * kA, 64, -3.0f, 3.0f);
  const std::vector<float> log_alpha = {std::log(0.2f), std::log(0.05f)};
  const float w = 1.0f / B;
  Buffer<float> dh = Buffer<float>::from_host(dev, head), lo = Buffer<float>::from_host(dev, kLow),
                hi = Buffer<float>::from_host(dev, kHigh), act(dev, rows * kA), eps(dev, rows * kA),
                dg = Buffer<float>::from_host(dev, g), dla = Buffer<float>::from_host(dev, log_alpha),
                dx(dev, rows * 2 * kA);
  ops::squashed_gaussian(dev, SquashedGaussianArgs{rows, kA, dh.data(), lo.data(), hi.data(), kL0, kL1, 5,
                                                   RngPurpose::kSacPolicy, 77, 0, act.data(), nullptr, eps.data()});
  ops::sac_actor_grad(dev, SacActorGradArgs{rows, kA, B, dh.data(), eps.data(), lo.data(), hi.data(), kL0, kL1,
                                            dg.data(), dla.data(), w, dx.data()});
  const auto got = dx.to_host(), e = eps.to_host();
  std::vector<double> want(rows * 2 * kA);
  const double h = 1e-6;
  for (int64_t r = 0; r < rows; ++r) {
    const double alpha = std::exp(static_cast<double>(log_alpha[r / B]));
    double er[kA];
    for (int d = 0; d < kA; ++d) er[d] = e[r * kA + d];
    auto loss = [&](const double* x) {
      const RowRef ref = row_reference(x, er, kL0, kL1);
      double l = alpha * ref.log_prob;
      for (int d = 0; d < kA; ++d) l -= g[r * kA + d] * ref.action[d];
      return w * l;
    };
    for (int j = 0; j < 2 * kA; ++j) {
      double x[2 * kA];
      for (int i = 0; i < 2 * kA; ++i) x[i] = head[r * 2 * kA + i];
      x[j] += h;
      const double up = loss(x);
      x[j] -= 2 * h;
      const double down = loss(x);
      want[r * 2 * kA + j] = (up - down) / (2 * h);
    }
  }
  EXPECT_TRUE(test::all_close(got, want, 2e-6, 2e-3));
  ASSERT_GT(test::l2_norm(got), 0.0);
  // Both heads carry gradient: a kernel that dropped the log-std head would fail here.
  double mean_head = 0, std_head = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int d = 0; d < kA; ++d) mean_head += std::fabs(got[r * 2 * kA + d]), std_head += std::fabs(got[r * 2 * kA + kA + d]);
  EXPECT_GT(mean_head, 1e-3);
  EXPECT_GT(std_head, 1e-3);
}

TEST_P(SacTest, TemperatureGradientIsMinusAlphaTimesMeanLogProbPlusTarget) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int K = 3;
  const int64_t B = 300;
  std::vector<float> lp = test::random_floats(K * B, 65, -4.0f, 2.0f);
  for (int64_t b = 0; b < B; ++b) lp[1 * B + b] = 5.0f;  // agent 1: entropy -5, below the target -3
  for (int64_t b = 0; b < B; ++b) lp[2 * B + b] = 1.5f;  // agent 2: entropy -1.5, above it
  const std::vector<float> log_alpha = {0.0f, std::log(0.1f), std::log(0.5f)};
  const float target = -3.0f;
  Buffer<float> dlp = Buffer<float>::from_host(dev, lp), dla = Buffer<float>::from_host(dev, log_alpha), grad(dev, K),
                mean(dev, K);
  ops::alpha_grad(dev, AlphaGradArgs{K, B, dlp.data(), dla.data(), target, grad.data(), mean.data()});
  const auto got = grad.to_host(), got_mean = mean.to_host();
  std::vector<double> want(K), want_mean(K);
  for (int k = 0; k < K; ++k) {
    double s = 0;
    for (int64_t b = 0; b < B; ++b) s += lp[k * B + b];
    want_mean[k] = s / B;
    want[k] = -std::exp(static_cast<double>(log_alpha[k])) * (want_mean[k] + target);
  }
  EXPECT_TRUE(test::all_close(got, want, 1e-6, 1e-5));
  EXPECT_TRUE(test::all_close(got_mean, want_mean, 1e-6, 1e-6));
  // A descent step raises alpha when the policy's entropy is below the
  // target (a negative gradient) and lowers it when above.
  EXPECT_LT(got[1], 0.0f);
  EXPECT_GT(got[2], 0.0f);
}

TEST_P(SacTest, ActorClimbsTheSmallerTwinPerSample) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int n_q = 2;
  const int64_t rows = 2 * 53;
  auto q = test::random_floats(n_q * rows, 66, -4.0f, 4.0f);
  q[rows + 5] = q[5];  // a tie: the first critic wins
  const auto g = test::random_floats(n_q * rows * kA, 67, -2.0f, 2.0f);
  Buffer<float> dq = Buffer<float>::from_host(dev, q), dg = Buffer<float>::from_host(dev, g), out(dev, rows * kA),
                qmin(dev, rows);
  ops::min_q_grad(dev, MinQGradArgs{n_q, rows, kA, dq.data(), dg.data(), out.data(), qmin.data()});
  const auto got = out.to_host(), got_q = qmin.to_host();
  std::vector<float> want(rows * kA), want_q(rows);
  int second = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int j = q[rows + r] < q[r] ? 1 : 0;
    second += j;
    want_q[r] = q[j * rows + r];
    for (int d = 0; d < kA; ++d) want[r * kA + d] = g[(j * rows + r) * kA + d];
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(got_q, want_q);
  EXPECT_GT(second, 10) << "the test must pick the second critic for some rows";
  EXPECT_LT(second, rows - 10);
}

INSTANTIATE_TEST_SUITE_P(Backends, SacTest, test::all_backends(), test::backend_param_name);

}  // namespace
}  // namespace acx
