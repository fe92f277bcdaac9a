// The running observation normalizer on every backend against a float64
// two-pass mean and variance over all rows seen, written here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/normalizer.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/launch_config.h"
#include "tests/test_util.h"

namespace acx {
namespace {

class NormalizerTest : public ::testing::TestWithParam<Backend> {};

constexpr int kObsDim = 4;

// Rows whose features are hard for naive formulas: a large offset with a
// small spread, a wide one, a constant, and a skewed one.
std::vector<float> make_rows(int64_t n, uint32_t tag) {
  const auto u = test::random_floats(n * kObsDim, tag, 0.0f, 1.0f);
  std::vector<float> x(n * kObsDim);
  for (int64_t r = 0; r < n; ++r) {
    x[r * kObsDim + 0] = 1000.0f + 0.1f * u[r * kObsDim + 0];
    x[r * kObsDim + 1] = -50.0f + 100.0f * u[r * kObsDim + 1];
    x[r * kObsDim + 2] = 3.0f;
    x[r * kObsDim + 3] = u[r * kObsDim + 3] * u[r * kObsDim + 3] * u[r * kObsDim + 3];
  }
  return x;
}

struct Stats {
  double count;
  std::vector<double> mean, var;
};

// Two passes in float64 over all rows.
Stats two_pass(const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size()) / kObsDim;
  Stats s{static_cast<double>(n), std::vector<double>(kObsDim, 0.0), std::vector<double>(kObsDim, 0.0)};
  for (int64_t r = 0; r < n; ++r)
    for (int d = 0; d < kObsDim; ++d) s.mean[d] += x[r * kObsDim + d];
  for (int d = 0; d < kObsDim; ++d) s.mean[d] /= static_cast<double>(n);
  for (int64_t r = 0; r < n; ++r)
    for (int d = 0; d < kObsDim; ++d) {
      const double c = x[r * kObsDim + d] - s.mean[d];
      s.var[d] += c * c;
    }
  for (int d = 0; d < kObsDim; ++d) s.var[d] /= static_cast<double>(n);
  return s;
}

// Feeds `all` to the normalizer in batches of the given sizes (cycled).
void feed(const Device& dev, RunningNormalizer& norm, const std::vector<float>& all, const std::vector<int64_t>& sizes) {
  const int64_t n = static_cast<int64_t>(all.size()) / kObsDim;
  int64_t r = 0;
  for (size_t k = 0; r < n; ++k) {
    const int64_t b = std::min(sizes[k % sizes.size()], n - r);
    std::vector<float> rows(all.begin() + r * kObsDim, all.begin() + (r + b) * kObsDim);
    Buffer<float> d = Buffer<float>::from_host(dev, rows);
    norm.update(d.data(), b);
    dev.synchronize();
    r += b;
  }
}

void expect_stats(const RunningNormalizer& norm, const Stats& want, double rtol, const std::string& what) {
  EXPECT_EQ(norm.count(), want.count) << what;
  const auto mean = norm.mean(), var = norm.var();
  for (int d = 0; d < kObsDim; ++d) {
    EXPECT_NEAR(mean[d], want.mean[d], rtol * (std::fabs(want.mean[d]) + 1e-3)) << what << " mean " << d;
    EXPECT_NEAR(var[d], want.var[d], rtol * (want.var[d] + 1e-6)) << what << " var " << d;
  }
}

TEST_P(NormalizerTest, MatchesATwoPassFloat64MeanAndVariance) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const auto x = make_rows(1500, 1);
  RunningNormalizer norm(dev, kObsDim);
  EXPECT_EQ(norm.count(), 0.0);
  EXPECT_EQ(norm.var(), std::vector<double>(kObsDim, 1.0));
  // Batch sizes around the block size (256), a single row, an empty batch.
  feed(dev, norm, x, {1, 7, 300, 513, 0, 256, 255});
  const Stats want = two_pass(x);
  expect_stats(norm, want, 1e-12, "batches");
  EXPECT_EQ(norm.var()[2], 0.0);  // a constant feature
  EXPECT_GT(want.var[0], 0.0);
}

TEST_P(NormalizerTest, DifferentBatchSplitsAgreeTo1e9) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const auto x = make_rows(2000, 2);
  RunningNormalizer whole(dev, kObsDim), steps(dev, kObsDim), ragged(dev, kObsDim);
  feed(dev, whole, x, {2000});
  feed(dev, steps, x, {64});
  feed(dev, ragged, x, {3, 999, 17, 1});
  const auto m0 = whole.mean(), v0 = whole.var();
  for (const RunningNormalizer* n : {&steps, &ragged}) {
    EXPECT_EQ(n->count(), 2000.0);
    const auto m = n->mean(), v = n->var();
    for (int d = 0; d < kObsDim; ++d) {
      EXPECT_NEAR(m[d], m0[d], 1e-9 * (std::fabs(m0[d]) + 1e-9)) << d;
      EXPECT_NEAR(v[d], v0[d], 1e-9 * (v0[d] + 1e-12)) << d;
    }
  }
  // The same split twice: bitwise the same.
  RunningNormalizer again(dev, kObsDim);
  feed(dev, again, x, {3, 999, 17, 1});
  EXPECT_EQ(again.mean(), ragged.mean());
  EXPECT_EQ(again.var(), ragged.var());
}

TEST_P(NormalizerTest, NormalizeUsesTheStatisticsAndClips) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const ScopedMaxGridBlocks grid_cap(2);  // 700 rows x 4: the grid-stride loop runs
  NormalizerConfig cfg;
  cfg.eps = 1e-8;
  cfg.clip = 3.0f;
  RunningNormalizer norm(dev, kObsDim, cfg);
  // Before any update: x itself, clipped.
  {
    Buffer<float> x = Buffer<float>::from_host(dev, {0.5f, -7.0f, 3.0f, 2.0f}), out(dev, 4);
    norm.normalize(x.data(), 1, out.data());
    EXPECT_EQ(out.to_host(), (std::vector<float>{0.5f, -3.0f, 3.0f, 2.0f}));
  }
  const auto seen = make_rows(700, 3);
  feed(dev, norm, seen, {700});
  const Stats st = two_pass(seen);
  auto x = make_rows(700, 4);
  x[5 * kObsDim + 1] = 1e6f;   // far outside: clipped to +3
  x[6 * kObsDim + 3] = -1e6f;  // clipped to -3
  x[7 * kObsDim + 2] = NAN;    // stays NaN
  Buffer<float> d_x = Buffer<float>::from_host(dev, x), out(dev, x.size());
  norm.normalize(d_x.data(), 700, out.data());
  auto got = out.to_host();
  std::vector<double> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const int d = static_cast<int>(i % kObsDim);
    const double z = (x[i] - st.mean[d]) / std::sqrt(st.var[d] + cfg.eps);
    want[i] = std::clamp(z, -3.0, 3.0);
  }
  EXPECT_TRUE(std::isnan(got[7 * kObsDim + 2]));
  want[7 * kObsDim + 2] = got[7 * kObsDim + 2] = 0;
  EXPECT_TRUE(test::all_close(got, want, 1e-5, 1e-5));
  EXPECT_EQ(got[5 * kObsDim + 1], 3.0f);
  EXPECT_EQ(got[6 * kObsDim + 3], -3.0f);
  // Feature 2 was constant 3.0: (3 - 3) / sqrt(eps) = 0.
  EXPECT_EQ(got[0 * kObsDim + 2], 0.0f);
  // In place.
  norm.normalize(d_x.data(), 700, d_x.data());
  auto in_place = d_x.to_host();
  in_place[7 * kObsDim + 2] = 0;
  EXPECT_EQ(in_place, got);
  norm.normalize(d_x.data(), 0, d_x.data());  // empty
}

TEST_P(NormalizerTest, SaveAndLoadRoundTrip) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const auto x = make_rows(300, 5);
  RunningNormalizer norm(dev, kObsDim);
  feed(dev, norm, x, {100});
  const auto saved = norm.to_host();
  ASSERT_EQ(saved.size(), 3u);
  EXPECT_EQ(saved[0].name, "count");
  EXPECT_EQ(saved[1].dtype, "F64");
  EXPECT_EQ(saved[2].shape, std::vector<int64_t>{kObsDim});
  RunningNormalizer restored(dev, kObsDim);
  restored.from_host(saved);
  EXPECT_EQ(restored.count(), norm.count());
  EXPECT_EQ(restored.mean(), norm.mean());
  EXPECT_EQ(restored.var(), norm.var());
  // Continuing from the checkpoint is the same as never stopping.
  const auto more = make_rows(50, 6);
  feed(dev, norm, more, {50});
  feed(dev, restored, more, {50});
  EXPECT_EQ(restored.mean(), norm.mean());
  EXPECT_EQ(restored.var(), norm.var());

  RunningNormalizer other_dim(dev, kObsDim + 1);
  EXPECT_THROW(other_dim.from_host(saved), Error);
  auto missing = saved;
  missing.pop_back();
  try {
    restored.from_host(missing);
    ADD_FAILURE() << "a checkpoint without m2 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'m2'"), std::string::npos) << e.what();
  }
  auto negative = saved;
  const double bad = -1.0;
  std::memcpy(negative[2].bytes.data(), &bad, sizeof(bad));
  EXPECT_THROW(restored.from_host(negative), Error);
  EXPECT_EQ(restored.var(), norm.var());  // a failed load changes nothing
}

TEST_P(NormalizerTest, BackendsAgreeAndBadConfigsAreErrors) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const Device cpu = Device::cpu();
  const auto x = make_rows(1000, 7);
  RunningNormalizer a(dev, kObsDim), b(cpu, kObsDim);
  feed(dev, a, x, {333});
  feed(cpu, b, x, {333});
  const auto ma = a.mean(), mb = b.mean(), va = a.var(), vb = b.var();
  for (int d = 0; d < kObsDim; ++d) {
    EXPECT_NEAR(ma[d], mb[d], 1e-12 * (std::fabs(mb[d]) + 1e-9));
    EXPECT_NEAR(va[d], vb[d], 1e-10 * (vb[d] + 1e-12));
  }
  EXPECT_THROW(RunningNormalizer(dev, 0), UsageError);
  EXPECT_THROW(RunningNormalizer(dev, 3, NormalizerConfig{1e-8, 0.0f}), UsageError);
  EXPECT_THROW(RunningNormalizer(dev, 3, NormalizerConfig{-1.0, 5.0f}), UsageError);
  EXPECT_EQ(a.bytes(), 3 * kObsDim * sizeof(double));
}

// Members (agents trained together): each keeps statistics over its own
// rows only, normalizes its own rows with them, and checkpoints as (E, D).
TEST_P(NormalizerTest, MembersKeepTheirOwnStatistics) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  constexpr int kMembers = 3;
  constexpr int64_t kRows = 300, kSteps = 4;  // rows per member per update
  // Member e's rows: make_rows scaled by (e + 1) and shifted by 10 e.
  std::vector<std::vector<float>> mine(kMembers);
  RunningNormalizer norm(dev, kObsDim, {}, kMembers);
  for (int64_t t = 0; t < kSteps; ++t) {
    std::vector<float> step;  // (E, kRows, D)
    for (int e = 0; e < kMembers; ++e) {
      auto x = make_rows(kRows, static_cast<uint32_t>(100 + 10 * t + e));
      for (float& v : x) v = v * static_cast<float>(e + 1) + 10.0f * static_cast<float>(e);
      mine[e].insert(mine[e].end(), x.begin(), x.end());
      step.insert(step.end(), x.begin(), x.end());
    }
    Buffer<float> d = Buffer<float>::from_host(dev, step);
    norm.update(d.data(), kRows);
  }
  const auto mean = norm.mean(), var = norm.var();
  ASSERT_EQ(mean.size(), static_cast<size_t>(kMembers * kObsDim));
  for (int e = 0; e < kMembers; ++e) {
    EXPECT_EQ(norm.count(e), static_cast<double>(kRows * kSteps));
    const Stats want = two_pass(mine[e]);
    for (int d = 0; d < kObsDim; ++d) {
      EXPECT_NEAR(mean[e * kObsDim + d], want.mean[d], 1e-12 * (std::fabs(want.mean[d]) + 1e-3)) << e << " " << d;
      EXPECT_NEAR(var[e * kObsDim + d], want.var[d], 1e-10 * (want.var[d] + 1e-6)) << e << " " << d;
    }
  }
  // normalize: member e's rows with member e's statistics (float64 here).
  std::vector<float> rows;
  for (int e = 0; e < kMembers; ++e) rows.insert(rows.end(), mine[e].begin(), mine[e].begin() + 5 * kObsDim);
  Buffer<float> in = Buffer<float>::from_host(dev, rows), out(dev, rows.size());
  norm.normalize(in.data(), 5, out.data());
  const auto got = out.to_host();
  for (int e = 0; e < kMembers; ++e)
    for (int64_t i = 0; i < 5 * kObsDim; ++i) {
      const int d = static_cast<int>(i % kObsDim);
      const double z = (rows[e * 5 * kObsDim + i] - mean[e * kObsDim + d]) / std::sqrt(var[e * kObsDim + d] + 1e-8);
      const double want = std::max(-10.0, std::min(10.0, z));
      EXPECT_NEAR(got[e * 5 * kObsDim + i], want, 1e-5 * (std::fabs(want) + 1)) << "member " << e << " element " << i;
    }
  // Checkpoint arrays are (E, D) and restore into a normalizer of E members only.
  const auto saved = norm.to_host();
  EXPECT_EQ(saved[1].shape, (std::vector<int64_t>{kMembers, kObsDim}));
  RunningNormalizer restored(dev, kObsDim, {}, kMembers);
  restored.from_host(saved);
  EXPECT_EQ(restored.mean(), mean);
  RunningNormalizer one(dev, kObsDim);
  EXPECT_THROW(one.from_host(saved), Error);
  EXPECT_THROW(RunningNormalizer(dev, kObsDim, {}, 0), UsageError);
}

INSTANTIATE_TEST_SUITE_P(Backends, NormalizerTest, test::all_backends(), test::backend_param_name);

}  // namespace
}  // namespace acx
