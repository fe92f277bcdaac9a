// The C51 critic's kernels (kernels/c51.h) against a float64 reference
// written here from the definitions (Bellemare et al. 2017's projection, the
// cross-entropy, the expectation over the softmax), and the properties the
// projection must have: mass conserved, the mean carried exactly where no
// atom is clipped, everything on the boundary atoms past the support,
// terminal rows on the reward alone. dQ/da through a real critic against
// central differences of the float64 MLP of tests/mlp_reference.h. On the
// CPU, and on the CUDA backend (the SIMT emulation in the emulation build).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/c51.h"
#include "kernels/mlp.h"
#include "kernels/runtime/buffer.h"
#include "tests/mlp_reference.h"
#include "tests/test_util.h"

namespace acx {
namespace {

std::vector<double> softmax64(const float* l, int n) {
  double mx = l[0];
  for (int i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(l[i]));
  std::vector<double> p(n);
  double s = 0;
  for (int i = 0; i < n; ++i) s += (p[i] = std::exp(l[i] - mx));
  for (double& v : p) v /= s;
  return p;
}

double atom64(const C51Support& s, int i) {
  return s.v_min + i * (static_cast<double>(s.v_max) - s.v_min) / (s.n_atoms - 1);
}

// The projection of one row, in float64, atom by atom: the literal
// definition (each atom's mass split between its two neighbours).
std::vector<double> project64(const C51Support& s, const std::vector<double>& p, double r, double disc, double shift) {
  const int n = s.n_atoms;
  const double dz = (static_cast<double>(s.v_max) - s.v_min) / (n - 1);
  std::vector<double> m(n, 0.0);
  for (int i = 0; i < n; ++i) {
    const double tz = std::clamp(r + disc * (atom64(s, i) - shift), static_cast<double>(s.v_min),
                                 static_cast<double>(s.v_max));
    const double b = (tz - s.v_min) / dz;
    const int lo = static_cast<int>(std::floor(b)), hi = std::min(lo + 1, n - 1);
    const double frac = b - lo;
    m[lo] += p[i] * (1 - frac);
    if (frac > 0) m[hi] += p[i] * frac;
  }
  return m;
}

class C51Test : public ::testing::TestWithParam<Backend> {};

struct ProjectionCase {
  int n_q, K, B, N;
  float v_min, v_max;
  bool sac;
};

TEST_P(C51Test, ProjectionMatchesFloat64AndConservesMass) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  uint32_t tag = 500;
  for (const ProjectionCase& c : {ProjectionCase{2, 2, 37, 101, -10.0f, 10.0f, false},
                                  ProjectionCase{1, 1, 9, 11, -1.0f, 3.0f, false},
                                  ProjectionCase{2, 3, 13, 51, -250.0f, 250.0f, true}}) {
    const C51Support sup{c.N, c.v_min, c.v_max};
    const int64_t kb = static_cast<int64_t>(c.K) * c.B;
    // Logits with spread so that the distributions differ; rewards that
    // push some rows past either end of the support.
    const auto logits = test::random_floats(static_cast<size_t>(c.n_q * kb * c.N), tag++, -3.0f, 3.0f);
    const float span = c.v_max - c.v_min;
    auto reward = test::random_floats(static_cast<size_t>(kb), tag++, -0.6f * span, 0.6f * span);
    std::vector<float> discount(static_cast<size_t>(kb));
    for (int64_t i = 0; i < kb; ++i) {
      // 1-, 3- and 5-step windows, a terminal (0) every fifth row.
      const int k = 1 + 2 * static_cast<int>(i % 3);
      discount[i] = i % 5 == 4 ? 0.0f : static_cast<float>(std::pow(0.99, k));
    }
    const auto log_prob = test::random_floats(static_cast<size_t>(kb), tag++, -4.0f, 2.0f);
    const auto log_alpha = test::random_floats(static_cast<size_t>(c.K), tag++, -3.0f, 0.0f);
    Buffer<float> d_logits = Buffer<float>::from_host(dev, logits), d_r = Buffer<float>::from_host(dev, reward),
                  d_disc = Buffer<float>::from_host(dev, discount), d_lp = Buffer<float>::from_host(dev, log_prob),
                  d_la = Buffer<float>::from_host(dev, log_alpha), target(dev, static_cast<size_t>(kb * c.N)),
                  mean(dev, static_cast<size_t>(kb));
    const float reward_scale = 0.5f;
    ops::c51_project(dev, C51ProjectArgs{sup, c.n_q, c.K, c.B, d_logits.data(), d_r.data(), d_disc.data(),
                                         reward_scale, c.sac ? d_lp.data() : nullptr, c.sac ? d_la.data() : nullptr,
                                         target.data(), mean.data()});
    const auto got = target.to_host(), got_mean = mean.to_host();
    std::vector<double> want;
    int clipped_rows = 0, terminal_rows = 0, second_twin_rows = 0;
    for (int64_t row = 0; row < kb; ++row) {
      // The twin whose mean is the smaller keeps its whole distribution.
      int best = 0;
      double best_q = 0;
      for (int j = 0; j < c.n_q; ++j) {
        const auto p = softmax64(logits.data() + (j * kb + row) * c.N, c.N);
        double q = 0;
        for (int i = 0; i < c.N; ++i) q += p[i] * atom64(sup, i);
        if (j == 0 || q < best_q) best_q = q, best = j;
      }
      second_twin_rows += best == 1;
      const auto p = softmax64(logits.data() + (best * kb + row) * c.N, c.N);
      const double shift = c.sac ? std::exp(static_cast<double>(log_alpha[row / c.B])) * log_prob[row] : 0.0;
      const double r = static_cast<double>(reward_scale) * reward[row], disc = discount[row];
      const auto m = project64(sup, p, r, disc, shift);
      want.insert(want.end(), m.begin(), m.end());

      double mass = 0, mean_m = 0;
      for (int i = 0; i < c.N; ++i) {
        mass += got[row * c.N + i];
        mean_m += got[row * c.N + i] * atom64(sup, i);
        ASSERT_GE(got[row * c.N + i], 0.0f);
      }
      EXPECT_NEAR(mass, 1.0, 1e-5) << "row " << row;
      EXPECT_NEAR(got_mean[row], mean_m, 1e-4 * (1 + std::fabs(mean_m))) << "row " << row;
      // Where no shifted atom leaves the support, the projection carries the
      // mean exactly: r + disc (Q' - shift).
      bool clipped = false;
      for (int i = 0; i < c.N; ++i) {
        const double tz = r + disc * (atom64(sup, i) - shift);
        clipped |= tz < sup.v_min || tz > sup.v_max;
      }
      clipped_rows += clipped;
      if (!clipped) {
        EXPECT_NEAR(mean_m, r + disc * (best_q - shift), 2e-5 * span) << "row " << row;
      }
      if (disc == 0.0) {  // terminal: all of it on the reward, clipped to the support
        ++terminal_rows;
        EXPECT_NEAR(mean_m, std::clamp(r, static_cast<double>(sup.v_min), static_cast<double>(sup.v_max)),
                    1e-5 * span)
            << "row " << row;
        int nonzero = 0;
        for (int i = 0; i < c.N; ++i) nonzero += got[row * c.N + i] > 0.0f;
        EXPECT_LE(nonzero, 2) << "row " << row;
      }
      if (r - std::fabs(disc) * span > sup.v_max) {  // every atom past v_max: all on the last one
        EXPECT_NEAR(got[row * c.N + c.N - 1], 1.0f, 1e-5f);
      }
    }
    EXPECT_TRUE(test::all_close(got, want, 1e-5, 1e-4)) << "N " << c.N;
    // The cases exercise every branch: some clipping, some terminals, and
    // (with twins) rows where the second twin is the smaller.
    EXPECT_GT(clipped_rows, 0);
    EXPECT_GT(terminal_rows, 0);
    if (c.n_q == 2) {
      EXPECT_GT(second_twin_rows, 0);
    }
  }
}

TEST_P(C51Test, AtomsLandingExactlyOnTheSupportKeepTheirMass) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  // r = 0, discount 1: the identity; r = dz: every atom moves up by one,
  // the last one stays at v_max and gathers the top two.
  const C51Support sup{5, -2.0f, 2.0f};
  const std::vector<float> logits = {0.1f, -0.4f, 0.7f, 0.2f, -1.0f, 0.1f, -0.4f, 0.7f, 0.2f, -1.0f};
  const std::vector<float> reward = {0.0f, 1.0f}, discount = {1.0f, 1.0f};
  Buffer<float> d_l = Buffer<float>::from_host(dev, logits), d_r = Buffer<float>::from_host(dev, reward),
                d_d = Buffer<float>::from_host(dev, discount), target(dev, 10);
  ops::c51_project(dev, C51ProjectArgs{sup, 1, 1, 2, d_l.data(), d_r.data(), d_d.data(), 1.0f, nullptr, nullptr,
                                       target.data(), nullptr});
  const auto got = target.to_host();
  const auto p = softmax64(logits.data(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(got[i], p[i], 1e-6) << i;
  EXPECT_NEAR(got[5], 0.0, 1e-7);
  for (int i = 1; i < 4; ++i) EXPECT_NEAR(got[5 + i], p[i - 1], 1e-6) << i;
  EXPECT_NEAR(got[9], p[3] + p[4], 1e-6);
}

TEST_P(C51Test, CrossEntropyGradientMatchesFloat64AndFiniteDifferences) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int N = 21, n_q = 2, K = 2, B = 7;
  const int64_t kb = K * B, rows = n_q * kb;
  const auto logits = test::random_floats(static_cast<size_t>(rows * N), 600, -2.0f, 2.0f);
  // Targets: random distributions (positive, normalized in float64).
  auto raw = test::random_floats(static_cast<size_t>(kb * N), 601, 0.0f, 1.0f);
  std::vector<float> target(raw.size());
  for (int64_t r = 0; r < kb; ++r) {
    double s = 0;
    for (int i = 0; i < N; ++i) s += raw[r * N + i];
    for (int i = 0; i < N; ++i) target[r * N + i] = static_cast<float>(raw[r * N + i] / s);
  }
  Buffer<float> d_l = Buffer<float>::from_host(dev, logits), d_t = Buffer<float>::from_host(dev, target),
                dl(dev, static_cast<size_t>(rows * N)), row_loss(dev, static_cast<size_t>(rows)),
                loss(dev, static_cast<size_t>(n_q * K));
  const float w = 1.0f / B;
  ops::c51_loss_grad(dev, C51LossArgs{N, rows, kb, d_l.data(), d_t.data(), w, dl.data(), row_loss.data()});
  ops::member_mean(dev, MemberMeanArgs{n_q * K, B, row_loss.data(), loss.data()});
  const auto got_dl = dl.to_host(), got_row = row_loss.to_host(), got_loss = loss.to_host();
  auto ce64 = [&](const std::vector<double>& l, int64_t trow) {
    double mx = l[0];
    for (double v : l) mx = std::max(mx, v);
    double s = 0;
    for (double v : l) s += std::exp(v - mx);
    double ce = 0;
    for (int i = 0; i < N; ++i) ce -= target[trow * N + i] * (l[i] - mx - std::log(s));
    return ce;
  };
  std::vector<double> want_dl, want_row, fd_dl, want_loss(n_q * K, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t trow = r % kb;
    std::vector<double> l(logits.begin() + r * N, logits.begin() + (r + 1) * N);
    const auto p = softmax64(logits.data() + r * N, N);
    for (int i = 0; i < N; ++i) want_dl.push_back((p[i] - target[trow * N + i]) / B);
    want_row.push_back(ce64(l, trow));
    want_loss[r / B] += want_row.back() / B;
    for (int i = 0; i < N; ++i) {
      auto plus = l, minus = l;
      plus[i] += 1e-6;
      minus[i] -= 1e-6;
      fd_dl.push_back((ce64(plus, trow) - ce64(minus, trow)) / 2e-6 / B);
    }
  }
  EXPECT_TRUE(test::all_close(got_dl, want_dl, 1e-6, 1e-4));
  EXPECT_TRUE(test::all_close(got_dl, fd_dl, 1e-6, 1e-3));
  EXPECT_TRUE(test::all_close(got_row, want_row, 1e-5, 1e-5));
  EXPECT_TRUE(test::all_close(got_loss, want_loss, 1e-5, 1e-5));
  ASSERT_GT(test::l2_norm(got_dl), 1e-3);
}

TEST_P(C51Test, ExpectationAndItsLogitGradientMatchFloat64) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const C51Support sup{101, -50.0f, 150.0f};
  const int64_t rows = 29;
  const auto logits = test::random_floats(static_cast<size_t>(rows * sup.n_atoms), 700, -4.0f, 4.0f);
  Buffer<float> d_l = Buffer<float>::from_host(dev, logits), q(dev, rows), dq(dev, rows * sup.n_atoms);
  ops::c51_value(dev, C51ValueArgs{sup, rows, d_l.data(), q.data(), dq.data()});
  const auto got_q = q.to_host(), got_dq = dq.to_host();
  std::vector<double> want_q, fd_dq;
  auto mean64 = [&](const std::vector<float>& l) {
    const auto p = softmax64(l.data(), sup.n_atoms);
    double s = 0;
    for (int i = 0; i < sup.n_atoms; ++i) s += p[i] * atom64(sup, i);
    return s;
  };
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> l(logits.begin() + r * sup.n_atoms, logits.begin() + (r + 1) * sup.n_atoms);
    want_q.push_back(mean64(l));
    for (int i = 0; i < sup.n_atoms; ++i) {
      std::vector<double> ld(l.begin(), l.end());
      auto val = [&](double h) {
        auto x = ld;
        x[i] += h;
        double mx = x[0];
        for (double v : x) mx = std::max(mx, v);
        double s = 0, q = 0;
        for (double v : x) s += std::exp(v - mx);
        for (int j = 0; j < sup.n_atoms; ++j) q += std::exp(x[j] - mx) / s * atom64(sup, j);
        return q;
      };
      fd_dq.push_back((val(1e-6) - val(-1e-6)) / 2e-6);
    }
  }
  EXPECT_TRUE(test::all_close(got_q, want_q, 1e-3, 1e-5));
  EXPECT_TRUE(test::all_close(got_dq, fd_dq, 1e-4, 1e-3));
  ASSERT_GT(test::l2_norm(got_dq), 1e-2);
}

// dQ/da of a distributional critic: the expectation's cotangent through the
// critic's backward to its action columns, against central differences of
// Q(s, a) = sum_i softmax(f(s, a))_i z_i with the float64 MLP.
TEST_P(C51Test, ActionGradientThroughTheExpectationMatchesFiniteDifferences) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int S = 4, A = 2, N = 31, E = 3, B = 6;
  const C51Support sup{N, -20.0f, 40.0f};
  for (bool layer_norm : {false, true}) {
    MlpSpec s;
    s.in_dim = S + A;
    s.hidden = {16, 9};
    s.out_dim = N;
    s.layer_norm = layer_norm;
    const Mlp critic(dev, s);
    const test::RefMlp ref(S + A, {16, 9}, N, false, {}, {}, layer_norm);
    ASSERT_EQ(ref.n_params(), critic.n_params());
    const int64_t P = critic.n_params();
    Buffer<float> params(dev, static_cast<size_t>(E * P));
    mlp_init(critic, E, 11, 2, params.data());
    const auto obs = test::random_floats(static_cast<size_t>(B * S), 801, -2.0f, 2.0f);
    const auto act = test::random_floats(static_cast<size_t>(E * B * A), 802, -1.0f, 1.0f);
    Buffer<float> d_obs = Buffer<float>::from_host(dev, obs), d_act = Buffer<float>::from_host(dev, act),
                  q(dev, E * B), dq_dl(dev, E * B * N), dq_da(dev, E * B * A);
    MlpTape tape(critic, E, B);
    mlp_forward(critic, params.data(), {{d_obs.data(), S, 0}, {d_act.data(), A, static_cast<int64_t>(B) * A}}, tape);
    ops::c51_value(dev, C51ValueArgs{sup, E * B, tape.output(), q.data(), dq_dl.data()});
    critic_action_grad(critic, params.data(), tape, S, dq_da.data(), dq_dl.data(), static_cast<int64_t>(B) * N);
    const auto got_q = q.to_host(), got_da = dq_da.to_host(), p = params.to_host();
    std::vector<double> want_q, fd_da;
    for (int e = 0; e < E; ++e) {
      const std::vector<double> pe(p.begin() + e * P, p.begin() + (e + 1) * P);
      for (int b = 0; b < B; ++b) {
        std::vector<double> x(obs.begin() + b * S, obs.begin() + (b + 1) * S);
        const size_t row = static_cast<size_t>(e * B + b);
        x.insert(x.end(), act.begin() + row * A, act.begin() + (row + 1) * A);
        auto value = [&](const std::vector<double>& xx) {
          const auto l = ref.forward(pe.data(), xx.data());
          double mx = l[0];
          for (double v : l) mx = std::max(mx, v);
          double s = 0, qv = 0;
          for (double v : l) s += std::exp(v - mx);
          for (int i = 0; i < N; ++i) qv += std::exp(l[i] - mx) / s * atom64(sup, i);
          return qv;
        };
        want_q.push_back(value(x));
        for (int a = 0; a < A; ++a) {
          auto plus = x, minus = x;
          plus[S + a] += 1e-6;
          minus[S + a] -= 1e-6;
          fd_da.push_back((value(plus) - value(minus)) / 2e-6);
        }
      }
    }
    EXPECT_TRUE(test::all_close(got_q, want_q, 1e-4, 1e-4)) << (layer_norm ? "layernorm" : "");
    EXPECT_TRUE(test::all_close(got_da, fd_da, 1e-4, 1e-3)) << (layer_norm ? "layernorm" : "");
    ASSERT_GT(test::l2_norm(got_da), 1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, C51Test, test::all_backends(), test::backend_param_name);

}  // namespace
}  // namespace acx
