// Exploration noise, warm-up actions and target policy smoothing on every
// backend: against a float64 reference of the documented keying (written
// here from the raw Philox draw), and against the statistics the noise must
// have (moments, OU autocorrelation, clipping, per-env scales).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/explore.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/launch_config.h"
#include "tests/test_util.h"

namespace acx {
namespace {

class ExploreTest : public ::testing::TestWithParam<Backend> {};

// ---- the reference: the keying of explore.h's header comment, in float64 ----------
double ref_uniform_bits(uint32_t b) { return (static_cast<double>(b >> 9) + 0.5) / 8388608.0; }

const double kTwoPi = 6.283185307179586;

// Word d % 4 of the draw (seed, purpose, row * ceil(act_dim / 4) + d / 4, counter).
uint32_t ref_word(uint64_t seed, RngPurpose p, int64_t row, int act_dim, int d, uint64_t counter) {
  const uint32_t stream = static_cast<uint32_t>(row * ((act_dim + 3) / 4) + d / 4);
  return philox_draw(seed, static_cast<uint32_t>(p), stream, counter).v[d % 4];
}

// Box-Muller on the word pair (0, 1) or (2, 3) that holds word d % 4.
double ref_normal(uint64_t seed, RngPurpose p, int64_t row, int act_dim, int d, uint64_t counter) {
  const int first = d - d % 2;  // the even word of the pair
  const double u0 = ref_uniform_bits(ref_word(seed, p, row, act_dim, first, counter));
  const double u1 = ref_uniform_bits(ref_word(seed, p, row, act_dim, first + 1, counter));
  const double r = std::sqrt(-2.0 * std::log(u0));
  return d % 2 == 0 ? r * std::cos(kTwoPi * u1) : r * std::sin(kTwoPi * u1);
}

double ref_clip(double x, double lo, double hi) { return std::min(std::max(x, lo), hi); }

// A box whose dims differ in width and offset; 5 dims use two Philox blocks.
const std::vector<float> kLow = {-2.0f, 0.0f, -1.0f, -1.0f, -3.0f};
const std::vector<float> kHigh = {2.0f, 1.0f, 1.0f, 1.0f, 3.0f};

std::vector<float> centers(const std::vector<float>& lo, const std::vector<float>& hi, int64_t rows) {
  std::vector<float> c;
  for (int64_t r = 0; r < rows; ++r)
    for (size_t d = 0; d < lo.size(); ++d) c.push_back(0.5f * (lo[d] + hi[d]));
  return c;
}

// Random policy actions inside the box.
std::vector<float> random_mu(const std::vector<float>& lo, const std::vector<float>& hi, int64_t rows, uint32_t tag) {
  const int ad = static_cast<int>(lo.size());
  auto u = test::random_floats(rows * ad, tag, 0.0f, 1.0f);
  for (int64_t i = 0; i < rows * ad; ++i) u[i] = lo[i % ad] + (hi[i % ad] - lo[i % ad]) * u[i];
  return u;
}

struct Moments {
  double mean, std;
};

Moments moments(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return {m, std::sqrt(s / static_cast<double>(v.size()))};
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const Moments ma = moments(a), mb = moments(b);
  double c = 0;
  for (size_t i = 0; i < a.size(); ++i) c += (a[i] - ma.mean) * (b[i] - mb.mean);
  return c / static_cast<double>(a.size()) / (ma.std * mb.std);
}

TEST_P(ExploreTest, EveryOpMatchesTheKeyedReference) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int64_t rows = 37;
  const int ad = static_cast<int>(kLow.size());
  const ActionBox box(dev, kLow, kHigh);
  const auto mu = random_mu(kLow, kHigh, rows, 1);
  const auto sigma = log_uniform_sigmas(rows, 0.05f, 2.0f);  // large ones clip
  Buffer<float> d_mu = Buffer<float>::from_host(dev, mu), d_sigma = Buffer<float>::from_host(dev, sigma),
                d_act(dev, rows * ad);
  const uint64_t seed = 0xabcdef12345ull, step = (uint64_t{7} << 32) + 5;  // a counter past 2^32
  auto half = [&](int d) { return 0.5 * (static_cast<double>(kHigh[d]) - kLow[d]); };
  int clipped = 0;

  // Gaussian.
  ops::gaussian_explore(dev, rows, ad, d_mu.data(), box.low(), box.high(), d_sigma.data(), seed, step, d_act.data());
  std::vector<double> want(rows * ad);
  for (int64_t r = 0; r < rows; ++r)
    for (int d = 0; d < ad; ++d) {
      const double z = ref_normal(seed, RngPurpose::kExploration, r, ad, d, step);
      const double raw = mu[r * ad + d] + sigma[r] * half(d) * z;
      want[r * ad + d] = ref_clip(raw, kLow[d], kHigh[d]);
      clipped += raw != want[r * ad + d];
    }
  const auto gaussian = d_act.to_host();
  EXPECT_TRUE(test::all_close(gaussian, want, 1e-5, 1e-5)) << "gaussian";
  EXPECT_GT(clipped, 5) << "the test should clip some actions";
  EXPECT_LT(clipped, rows * ad / 2);
  // In place gives the same.
  Buffer<float> in_place = Buffer<float>::from_host(dev, mu);
  ops::gaussian_explore(dev, rows, ad, in_place.data(), box.low(), box.high(), d_sigma.data(), seed, step,
                        in_place.data());
  EXPECT_EQ(in_place.to_host(), gaussian);

  // Uniform warm-up.
  ops::uniform_actions(dev, rows, ad, box.low(), box.high(), seed, step, d_act.data());
  for (int64_t r = 0; r < rows; ++r)
    for (int d = 0; d < ad; ++d)
      want[r * ad + d] = kLow[d] + (static_cast<double>(kHigh[d]) - kLow[d]) *
                                       ref_uniform_bits(ref_word(seed, RngPurpose::kWarmup, r, ad, d, step));
  EXPECT_TRUE(test::all_close(d_act.to_host(), want, 1e-6, 1e-6)) << "uniform";

  // Target smoothing.
  const float smooth_sigma = 0.7f, noise_clip = 0.5f;
  ops::smooth_target_actions(dev, rows, ad, d_mu.data(), box.low(), box.high(), smooth_sigma, noise_clip, seed, step,
                             d_act.data());
  int noise_clipped = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int d = 0; d < ad; ++d) {
      const double eps = smooth_sigma * ref_normal(seed, RngPurpose::kTargetSmoothing, r, ad, d, step);
      const double c = ref_clip(eps, -noise_clip, noise_clip);
      noise_clipped += c != eps;
      want[r * ad + d] = ref_clip(mu[r * ad + d] + c * half(d), kLow[d], kHigh[d]);
    }
  EXPECT_TRUE(test::all_close(d_act.to_host(), want, 1e-5, 1e-5)) << "smoothing";
  EXPECT_GT(noise_clipped, 5);

  // Ornstein-Uhlenbeck from a random state; some rows restart.
  const OuConfig ou{0.3f, 0.2f, 0.5f};
  const auto x0 = test::random_floats(rows * ad, 2);
  std::vector<uint8_t> term(rows, 0), trunc(rows, 0);
  for (int64_t r = 0; r < rows; r += 5) term[r] = 1;
  for (int64_t r = 2; r < rows; r += 7) trunc[r] = 1;
  Buffer<float> d_state = Buffer<float>::from_host(dev, x0);
  Buffer<uint8_t> d_term = Buffer<uint8_t>::from_host(dev, term), d_trunc = Buffer<uint8_t>::from_host(dev, trunc);
  ops::ou_explore(dev, rows, ad, d_mu.data(), box.low(), box.high(), ou, d_sigma.data(), d_term.data(),
                  d_trunc.data(), seed, step, d_state.data(), d_act.data());
  std::vector<double> want_x(rows * ad);
  for (int64_t r = 0; r < rows; ++r)
    for (int d = 0; d < ad; ++d) {
      const double x = term[r] || trunc[r] ? 0.0 : x0[r * ad + d];
      const double z = ref_normal(seed, RngPurpose::kExploration, r, ad, d, step);
      want_x[r * ad + d] = x + double{ou.theta} * (ou.mean - x) * ou.dt + sigma[r] * std::sqrt(double{ou.dt}) * z;
      want[r * ad + d] = ref_clip(mu[r * ad + d] + half(d) * want_x[r * ad + d], kLow[d], kHigh[d]);
    }
  EXPECT_TRUE(test::all_close(d_state.to_host(), want_x, 1e-5, 1e-5)) << "OU state";
  EXPECT_TRUE(test::all_close(d_act.to_host(), want, 1e-5, 1e-5)) << "OU action";
}

// Per-env scales: rows in three sigma groups; (a - mu) / (h sigma) is N(0, 1)
// in every group and dim, uncorrelated across dims and steps. A grid cap of
// two blocks runs the grid-stride loop.
TEST_P(ExploreTest, GaussianNoiseHasThePerEnvScale) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const ScopedMaxGridBlocks grid_cap(2);
  const int64_t rows = 600;
  const std::vector<float> lo = {-2.0f, 0.0f}, hi = {2.0f, 1.0f};
  const int ad = 2;
  const float group_sigma[3] = {0.05f, 0.1f, 0.2f};
  std::vector<float> sigma(rows);
  for (int64_t r = 0; r < rows; ++r) sigma[r] = group_sigma[r % 3];
  const ActionBox box(dev, lo, hi);
  const auto mu = centers(lo, hi, rows);
  Buffer<float> d_mu = Buffer<float>::from_host(dev, mu), d_sigma = Buffer<float>::from_host(dev, sigma),
                d_act(dev, rows * ad);
  const int n_steps = 10;
  // z[step][row * ad + d]
  std::vector<std::vector<double>> z(n_steps, std::vector<double>(rows * ad));
  for (int t = 0; t < n_steps; ++t) {
    ops::gaussian_explore(dev, rows, ad, d_mu.data(), box.low(), box.high(), d_sigma.data(), 5, t, d_act.data());
    const auto a = d_act.to_host();
    for (int64_t i = 0; i < rows * ad; ++i) {
      const int d = static_cast<int>(i % ad);
      const double h = 0.5 * (hi[d] - lo[d]);
      ASSERT_TRUE(a[i] >= lo[d] && a[i] <= hi[d]) << a[i];
      z[t][i] = (a[i] - mu[i]) / (h * sigma[i / ad]);
    }
  }
  for (int g = 0; g < 3; ++g)
    for (int d = 0; d < ad; ++d) {
      std::vector<double> v;
      for (int t = 0; t < n_steps; ++t)
        for (int64_t r = g; r < rows; r += 3) v.push_back(z[t][r * ad + d]);
      const Moments m = moments(v);
      const double se = 1.0 / std::sqrt(static_cast<double>(v.size()));
      EXPECT_LT(std::fabs(m.mean), 4 * se) << "group " << g << " dim " << d;
      EXPECT_NEAR(m.std, 1.0, 0.06) << "group " << g << " dim " << d << " (sigma " << group_sigma[g] << ")";
    }
  std::vector<double> dim0, dim1, now, next;
  for (int t = 0; t < n_steps; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      dim0.push_back(z[t][r * ad]);
      dim1.push_back(z[t][r * ad + 1]);
      if (t + 1 < n_steps) {
        now.push_back(z[t][r * ad]);
        next.push_back(z[t + 1][r * ad]);
      }
    }
  EXPECT_LT(std::fabs(correlation(dim0, dim1)), 0.06);
  EXPECT_LT(std::fabs(correlation(now, next)), 0.06);
}

// The kernels' own sin/cos of 2 pi u against the float64 library, over the
// whole range including the quadrant edges.
TEST(ExploreHost, SinCosOfTwoPiUIsAccurate) {
  double worst = 0;
  for (int k = 0; k <= 400000; ++k) {
    const float u = k == 0 ? 1e-7f : (k == 400000 ? 0.99999994f : static_cast<float>(k) / 400000.0f);
    float s, c;
    sincos_two_pi(u, &s, &c);
    const double a = kTwoPi * static_cast<double>(u);
    worst = std::max({worst, std::fabs(s - std::sin(a)), std::fabs(c - std::cos(a))});
  }
  EXPECT_LT(worst, 3e-7);
  float n0, n1, m0, m1;
  noise_box_muller(0x12345678u, 0x9abcdef0u, &n0, &n1);
  normal2_from_bits(0x12345678u, 0x9abcdef0u, &m0, &m1);
  EXPECT_NEAR(n0, m0, 1e-6);
  EXPECT_NEAR(n1, m1, 1e-6);
}

TEST(ExploreHost, LogUniformSigmasSpanTheRangeGeometrically) {
  const auto s = log_uniform_sigmas(5, 0.01f, 1.0f);
  ASSERT_EQ(s.size(), 5u);
  const double want[5] = {0.01, 0.0316227766, 0.1, 0.316227766, 1.0};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(s[i], want[i], 1e-6 * want[i] + 1e-9) << i;
  EXPECT_EQ(log_uniform_sigmas(1, 0.2f, 0.5f), std::vector<float>{0.2f});
  EXPECT_EQ(log_uniform_sigmas(3, 0.1f, 0.1f), std::vector<float>(3, 0.1f));
  EXPECT_THROW(log_uniform_sigmas(0, 0.1f, 1.0f), UsageError);
  EXPECT_THROW(log_uniform_sigmas(4, 0.0f, 1.0f), UsageError);
  EXPECT_THROW(log_uniform_sigmas(4, 1.0f, 0.5f), UsageError);
}

TEST_P(ExploreTest, ActionBoxRejectsBadBounds) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  EXPECT_THROW(ActionBox(dev, {}, {}), UsageError);
  EXPECT_THROW(ActionBox(dev, {-1.0f}, {1.0f, 2.0f}), UsageError);
  EXPECT_THROW(ActionBox(dev, {-INFINITY}, {1.0f}), UsageError);
  EXPECT_THROW(ActionBox(dev, {1.0f}, {1.0f}), UsageError);
  EXPECT_THROW(ActionBox(dev, {NAN}, {1.0f}), UsageError);
  const ActionBox box(dev, {-1.0f, 0.0f}, {1.0f, 2.0f});
  EXPECT_EQ(box.act_dim(), 2);
  std::vector<float> lo(2);
  memory::copy_device_to_host(dev, lo.data(), box.low(), 2 * sizeof(float));
  EXPECT_EQ(lo, (std::vector<float>{-1.0f, 0.0f}));
}

// A NaN action from the policy stays NaN (clipping with comparisons).
TEST_P(ExploreTest, NanActionsAreNotHiddenByClipping) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const ActionBox box(dev, {-1.0f}, {1.0f});
  Buffer<float> mu = Buffer<float>::from_host(dev, {NAN, 0.0f}), sigma = Buffer<float>::from_host(dev, {0.1f, 0.1f}),
                act(dev, 2);
  ops::gaussian_explore(dev, 2, 1, mu.data(), box.low(), box.high(), sigma.data(), 1, 1, act.data());
  const auto a = act.to_host();
  EXPECT_TRUE(std::isnan(a[0]));
  EXPECT_TRUE(std::isfinite(a[1]));
  ops::smooth_target_actions(dev, 2, 1, mu.data(), box.low(), box.high(), 0.2f, 0.5f, 1, 1, act.data());
  EXPECT_TRUE(std::isnan(act.to_host()[0]));
}

// Discrete OU from x = 0: x_t = rho x_{t-1} + s sqrt(dt) N, rho = 1 - theta dt,
// so Var x_t = s^2 dt (1 - rho^2t) / (1 - rho^2) and corr(x_t, x_t+k) -> rho^k.
TEST_P(ExploreTest, OrnsteinUhlenbeckAutocorrelationMatchesTheory) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int64_t rows = 1000;
  const int ad = 2;
  const std::vector<float> lo = {-1.0f, -1.0f}, hi = {1.0f, 1.0f};
  const ActionBox box(dev, lo, hi);
  const OuConfig ou{0.5f, 0.0f, 0.4f};
  const double rho = 1.0 - 0.5 * 0.4, s = 0.3, dt = 0.4;
  Buffer<float> mu(dev, rows * ad), state(dev, rows * ad), act(dev, rows * ad);
  Buffer<float> sigma = Buffer<float>::from_host(dev, std::vector<float>(rows, static_cast<float>(s)));
  mu.zero();
  state.zero();
  const int n_steps = 40;
  std::vector<std::vector<double>> x(n_steps + 1);
  x[0].assign(rows * ad, 0.0);
  for (int t = 1; t <= n_steps; ++t) {
    ops::ou_explore(dev, rows, ad, mu.data(), box.low(), box.high(), ou, sigma.data(), nullptr, nullptr, 3, t,
                    state.data(), act.data());
    const auto xs = state.to_host();
    x[t].assign(xs.begin(), xs.end());
    const auto a = act.to_host();
    for (int64_t i = 0; i < rows * ad; ++i) ASSERT_EQ(a[i], std::clamp(xs[i], -1.0f, 1.0f)) << i;  // h = 1, mu = 0
  }
  for (int t : {1, 2, 5, 40}) {
    const double want = s * s * dt * (1 - std::pow(rho, 2 * t)) / (1 - rho * rho);
    const Moments m = moments(x[t]);
    EXPECT_NEAR(m.std * m.std, want, 0.12 * want) << "variance at step " << t;
    EXPECT_LT(std::fabs(m.mean), 4 * std::sqrt(want / (rows * ad))) << "mean at step " << t;
  }
  for (int k : {1, 3, 6}) {
    std::vector<double> a, b;
    for (int t0 = 20; t0 + k <= n_steps && t0 <= 30; ++t0) {
      a.insert(a.end(), x[t0].begin(), x[t0].end());
      b.insert(b.end(), x[t0 + k].begin(), x[t0 + k].end());
    }
    EXPECT_NEAR(correlation(a, b), std::pow(rho, k), 0.03) << "lag " << k;
  }
}

// With sigma = 0 the process is deterministic: it relaxes to its mean as
// mean (1 - rho^t), and a row whose episode ended restarts at 0.
TEST_P(ExploreTest, OrnsteinUhlenbeckRelaxesAndRestartsOnEpisodeEnd) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int64_t rows = 6;
  const int ad = 3;
  const std::vector<float> lo(3, -1.0f), hi(3, 1.0f);
  const ActionBox box(dev, lo, hi);
  const OuConfig ou{0.25f, 0.5f, 1.0f};
  const double rho = 0.75;
  Buffer<float> mu(dev, rows * ad), state(dev, rows * ad), act(dev, rows * ad), sigma(dev, rows);
  mu.zero();
  state.zero();
  sigma.zero();
  for (int t = 1; t <= 5; ++t)
    ops::ou_explore(dev, rows, ad, mu.data(), box.low(), box.high(), ou, sigma.data(), nullptr, nullptr, 0, t,
                    state.data(), act.data());
  const double x5 = 0.5 * (1 - std::pow(rho, 5));
  EXPECT_TRUE(test::all_close(state.to_host(), std::vector<double>(rows * ad, x5), 1e-6, 1e-5));
  // Row 1 terminated, row 4 truncated, row 5 both, at the step just taken.
  Buffer<uint8_t> term = Buffer<uint8_t>::from_host(dev, {0, 1, 0, 0, 0, 1}),
                  trunc = Buffer<uint8_t>::from_host(dev, {0, 0, 0, 0, 1, 1});
  ops::ou_explore(dev, rows, ad, mu.data(), box.low(), box.high(), ou, sigma.data(), term.data(), trunc.data(), 0, 6,
                  state.data(), act.data());
  const auto x = state.to_host();
  for (int64_t r = 0; r < rows; ++r) {
    const bool restart = r == 1 || r == 4 || r == 5;
    const double want = restart ? 0.5 * (1 - rho) : 0.5 * (1 - std::pow(rho, 6));
    for (int d = 0; d < ad; ++d) EXPECT_NEAR(x[r * ad + d], want, 1e-6) << "row " << r;
  }
  // Only one flag array given.
  ops::ou_explore(dev, rows, ad, mu.data(), box.low(), box.high(), ou, sigma.data(), nullptr, trunc.data(), 0, 7,
                  state.data(), act.data());
  EXPECT_NEAR(state.to_host()[4 * ad], 0.5 * (1 - rho), 1e-6);
  EXPECT_NEAR(state.to_host()[1 * ad], 0.5 * (1 - rho * rho), 1e-6);
}

TEST_P(ExploreTest, SmoothingNoiseIsClippedAtC) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int64_t rows = 500;
  const int ad = 2;
  const std::vector<float> lo = {-1.0f, 0.0f}, hi = {1.0f, 4.0f};
  const ActionBox box(dev, lo, hi);
  const float sigma = 1.0f, c = 0.5f;
  auto mu = centers(lo, hi, rows);
  Buffer<float> d_mu = Buffer<float>::from_host(dev, mu), act(dev, rows * ad);
  ops::smooth_target_actions(dev, rows, ad, d_mu.data(), box.low(), box.high(), sigma, c, 9, 123, act.data());
  auto a = act.to_host();
  int at_clip = 0;
  for (int64_t i = 0; i < rows * ad; ++i) {
    const int d = static_cast<int>(i % ad);
    const float h = 0.5f * (hi[d] - lo[d]);
    const float eps = (a[i] - mu[i]) / h;
    ASSERT_LE(std::fabs(eps), c + 1e-6f) << i;
    at_clip += std::fabs(std::fabs(eps) - c) < 1e-6f;
  }
  // P(|N(0, 1)| > 0.5) = 0.617
  EXPECT_NEAR(at_clip / static_cast<double>(rows * ad), 0.617, 0.05);
  // Near the top of the box the action is clipped to the bound.
  for (int64_t i = 0; i < rows * ad; ++i) mu[i] = hi[i % ad] - 0.1f * 0.5f * (hi[i % ad] - lo[i % ad]);
  d_mu.copy_from_host(mu.data(), mu.size());
  ops::smooth_target_actions(dev, rows, ad, d_mu.data(), box.low(), box.high(), sigma, c, 9, 123, act.data());
  a = act.to_host();
  int at_bound = 0;
  for (int64_t i = 0; i < rows * ad; ++i) {
    ASSERT_LE(a[i], hi[i % ad]);
    at_bound += a[i] == hi[i % ad];
  }
  EXPECT_GT(at_bound, rows * ad / 4);
}

TEST_P(ExploreTest, WarmupActionsFillTheBoxUniformly) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int64_t rows = 2000;
  const int ad = 3;
  const std::vector<float> lo = {-2.0f, 0.0f, -0.5f}, hi = {2.0f, 1.0f, 3.5f};
  const ActionBox box(dev, lo, hi);
  Buffer<float> act(dev, rows * ad);
  ops::uniform_actions(dev, rows, ad, box.low(), box.high(), 21, 0, act.data());
  const auto a = act.to_host();
  for (int d = 0; d < ad; ++d) {
    std::vector<double> v;
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_TRUE(a[r * ad + d] >= lo[d] && a[r * ad + d] <= hi[d]);
      v.push_back(a[r * ad + d]);
    }
    const double w = hi[d] - lo[d];
    const Moments m = moments(v);
    EXPECT_NEAR(m.mean, 0.5 * (lo[d] + hi[d]), 4 * w / std::sqrt(12.0 * rows)) << d;
    EXPECT_NEAR(m.std, w / std::sqrt(12.0), 0.05 * w / std::sqrt(12.0)) << d;
  }
}

// Same key, same bits; another step, other bits; the same on the CPU.
// The many-env recipe's scales: only the rows whose episode just ended get a
// new scale, log-uniform in [lo, hi_k] of their agent, keyed by the step.
TEST_P(ExploreTest, ScalesAreRedrawnOnlyWhereAnEpisodeEnded) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int64_t K = 2, N = 4000, rows = K * N;
  const float lo = 0.001f;
  const std::vector<float> hi = {0.4f, 0.05f};
  std::vector<uint8_t> term(rows), trunc(rows);
  for (int64_t r = 0; r < rows; ++r) {
    term[r] = r % 3 == 0;
    trunc[r] = r % 7 == 1;
  }
  const std::vector<float> before(rows, -1.0f);  // a value no draw gives
  Buffer<float> sigma = Buffer<float>::from_host(dev, before), d_hi = Buffer<float>::from_host(dev, hi);
  Buffer<uint8_t> d_term = Buffer<uint8_t>::from_host(dev, term), d_trunc = Buffer<uint8_t>::from_host(dev, trunc);
  ops::redraw_sigma(dev, RedrawSigmaArgs{rows, N, lo, d_hi.data(), d_term.data(), d_trunc.data(), 77, 5,
                                         sigma.data()});
  const auto got = sigma.to_host();
  double mean_log[2] = {0, 0};
  int64_t n_done[2] = {0, 0};
  for (int64_t r = 0; r < rows; ++r) {
    const int k = static_cast<int>(r / N);
    if (!term[r] && !trunc[r]) {
      ASSERT_EQ(got[r], -1.0f) << r;
      continue;
    }
    const double u = ref_uniform_bits(ref_word(77, RngPurpose::kExploreScale, r, 1, 0, 5));
    const double want = lo * std::pow(static_cast<double>(hi[k]) / lo, u);
    ASSERT_NEAR(got[r], want, 1e-5 * want) << r;
    ASSERT_GE(got[r], lo * (1 - 1e-6f));
    ASSERT_LE(got[r], hi[k] * (1 + 1e-6f));
    mean_log[k] += std::log(got[r]);
    ++n_done[k];
  }
  // log sigma is uniform: its mean is the midpoint of [log lo, log hi_k] (to ~4 standard errors).
  for (int k = 0; k < 2; ++k) {
    const double a = std::log(lo), b = std::log(hi[k]), sd = (b - a) / std::sqrt(12.0 * n_done[k]);
    EXPECT_NEAR(mean_log[k] / n_done[k], (a + b) / 2, 4 * sd) << k;
  }
  // Another step draws other scales.
  ops::redraw_sigma(dev, RedrawSigmaArgs{rows, N, lo, d_hi.data(), d_term.data(), nullptr, 77, 6, sigma.data()});
  const auto again = sigma.to_host();
  EXPECT_NE(again[0], got[0]);
  EXPECT_EQ(again[1], got[1]);  // truncated only, and truncation was not passed this time
}

TEST_P(ExploreTest, NoiseIsKeyedByStepAndMatchesTheCpu) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const Device cpu = Device::cpu();
  const int64_t rows = 50;
  const int ad = static_cast<int>(kLow.size());
  const auto mu = random_mu(kLow, kHigh, rows, 3);
  const auto sigma = log_uniform_sigmas(rows, 0.1f, 0.5f);
  const auto x0 = test::random_floats(rows * ad, 4);
  struct Run {
    std::vector<float> gaussian, ou_state, ou_action, uniform, smooth;
  };
  auto run = [&](const Device& d, uint64_t step) {
    const ActionBox box(d, kLow, kHigh);
    Buffer<float> d_mu = Buffer<float>::from_host(d, mu), d_sigma = Buffer<float>::from_host(d, sigma),
                  d_state = Buffer<float>::from_host(d, x0), act(d, rows * ad);
    Run out;
    ops::gaussian_explore(d, rows, ad, d_mu.data(), box.low(), box.high(), d_sigma.data(), 77, step, act.data());
    out.gaussian = act.to_host();
    ops::ou_explore(d, rows, ad, d_mu.data(), box.low(), box.high(), OuConfig{}, d_sigma.data(), nullptr, nullptr, 77,
                    step, d_state.data(), act.data());
    out.ou_state = d_state.to_host();
    out.ou_action = act.to_host();
    ops::uniform_actions(d, rows, ad, box.low(), box.high(), 77, step, act.data());
    out.uniform = act.to_host();
    ops::smooth_target_actions(d, rows, ad, d_mu.data(), box.low(), box.high(), 0.2f, 0.5f, 77, step, act.data());
    out.smooth = act.to_host();
    return out;
  };
  const Run a = run(dev, 10), again = run(dev, 10), next = run(dev, 11), on_cpu = run(cpu, 10);
  EXPECT_EQ(a.gaussian, again.gaussian);
  EXPECT_EQ(a.ou_state, again.ou_state);
  EXPECT_EQ(a.uniform, again.uniform);
  EXPECT_EQ(a.smooth, again.smooth);
  EXPECT_NE(a.gaussian, next.gaussian);
  EXPECT_NE(a.uniform, next.uniform);
  EXPECT_NE(a.smooth, next.smooth);
  EXPECT_TRUE(test::all_close(a.gaussian, on_cpu.gaussian, 1e-6, 1e-6));
  EXPECT_TRUE(test::all_close(a.ou_state, on_cpu.ou_state, 1e-6, 1e-6));
  EXPECT_TRUE(test::all_close(a.ou_action, on_cpu.ou_action, 1e-6, 1e-6));
  EXPECT_TRUE(test::all_close(a.uniform, on_cpu.uniform, 1e-6, 1e-6));
  EXPECT_TRUE(test::all_close(a.smooth, on_cpu.smooth, 1e-6, 1e-6));
  // Empty launches are fine.
  const ActionBox box(dev, kLow, kHigh);
  ops::uniform_actions(dev, 0, ad, box.low(), box.high(), 1, 1, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Backends, ExploreTest, test::all_backends(), test::backend_param_name);

}  // namespace
}  // namespace acx
