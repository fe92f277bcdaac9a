// The optimizer kernels (kernels/optim.h) on every backend against float64
// loops written here: Adam and AdamW over several steps, Polyak averaging,
// per-member global-norm clipping, and the TD-loss gradients (also against
// finite differences of the loss).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/optim.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/cuda_api.h"
#include "kernels/runtime/error.h"
#include "tests/test_util.h"

namespace acx {
namespace {

class OptimTest : public ::testing::TestWithParam<Backend> {};

// One float64 Adam(W) step, element i with learning rate lr_of(i).
template <class LrOf>
void adam_reference_step(const AdamConfig& cfg, int step, const std::vector<float>& g, LrOf lr_of,
                         std::vector<double>& rp, std::vector<double>& rm, std::vector<double>& rv) {
  const double b1 = cfg.beta1, b2 = cfg.beta2, eps = cfg.eps, wd = cfg.weight_decay;
  for (size_t i = 0; i < rp.size(); ++i) {
    const double lr = lr_of(i);
    double gi = g[i];
    if (cfg.decoupled) {
      rp[i] -= lr * wd * rp[i];
    } else {
      gi += wd * rp[i];
    }
    rm[i] = b1 * rm[i] + (1 - b1) * gi;
    rv[i] = b2 * rv[i] + (1 - b2) * gi * gi;
    const double mhat = rm[i] / (1 - std::pow(b1, step)), vhat = rv[i] / (1 - std::pow(b2, step));
    rp[i] -= lr * mhat / (std::sqrt(vhat) + eps);
  }
}

TEST_P(OptimTest, AdamAndAdamWMatchFloat64OverSteps) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  for (bool decoupled : {false, true}) {
    for (int64_t n : {int64_t{1}, int64_t{257}, int64_t{2 * 4099}}) {
      AdamConfig cfg;
      cfg.lr = 3e-3f;
      cfg.beta1 = 0.9f;
      cfg.beta2 = 0.99f;
      cfg.eps = 1e-6f;
      cfg.weight_decay = 0.05f;
      cfg.decoupled = decoupled;
      const auto p0 = test::random_floats(static_cast<size_t>(n), 1, -2.0f, 2.0f);
      Buffer<float> p = Buffer<float>::from_host(dev, p0), m(dev, static_cast<size_t>(n)), v(dev, static_cast<size_t>(n));
      m.zero();
      v.zero();
      std::vector<double> rp(p0.begin(), p0.end()), rm(static_cast<size_t>(n), 0.0), rv(static_cast<size_t>(n), 0.0);
      for (int step = 1; step <= 6; ++step) {
        const auto g = test::random_floats(static_cast<size_t>(n), 10 + step, -1.0f, 1.0f);
        Buffer<float> dg = Buffer<float>::from_host(dev, g);
        ops::adam_step(dev, n, cfg, step, p.data(), m.data(), v.data(), dg.data());
        adam_reference_step(cfg, step, g, [&](size_t) { return static_cast<double>(cfg.lr); }, rp, rm, rv);
        EXPECT_TRUE(test::all_close(p.to_host(), rp, 2e-6, 1e-5)) << "n " << n << " step " << step;
        EXPECT_TRUE(test::all_close(m.to_host(), rm, 1e-6, 1e-5)) << "n " << n << " step " << step;
        EXPECT_TRUE(test::all_close(v.to_host(), rv, 1e-7, 1e-5)) << "n " << n << " step " << step;
      }
      // The parameters moved (Adam's steps are about lr each).
      const auto got = p.to_host();
      double moved = 0;
      for (int64_t i = 0; i < n; ++i) moved = std::max(moved, std::fabs(static_cast<double>(got[i]) - p0[i]));
      EXPECT_GT(moved, 0.5 * cfg.lr);
    }
  }
  Buffer<float> x(dev, 1);
  EXPECT_THROW(ops::adam_step(dev, 1, AdamConfig{}, 0, x.data(), x.data(), x.data(), x.data()), Error);
}

// The step count kept on the device (what a captured CUDA graph replays):
// adam_step_counted advances it and takes the step adam_step takes with the
// count given by the host, which the test above checks against float64.
// The same bits on the CPU and under the emulation (one libm); on a GPU the
// bias corrections come from the device's pow, within an ulp of the host's.
TEST_P(OptimTest, CountedStepsAreTheHostsSteps) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const bool real_gpu = dev.is_cuda() && std::string(cuda_api::implementation()) == "cuda";
  const int64_t n = 300, member = 100;
  AdamConfig cfg;
  cfg.lr = 1e-3f;
  cfg.weight_decay = 0.01f;
  cfg.decoupled = true;
  const auto p0 = test::random_floats(n, 3, -1.0f, 1.0f);
  Buffer<float> pa = Buffer<float>::from_host(dev, p0), pb = Buffer<float>::from_host(dev, p0);
  Buffer<float> ma(dev, n), va(dev, n), mb(dev, n), vb(dev, n);
  for (Buffer<float>* b : {&ma, &va, &mb, &vb}) b->zero();
  Buffer<AdamStepState> state(dev, 1);
  state.zero();
  Buffer<float> lr = Buffer<float>::from_host(dev, std::vector<float>{1e-3f, 3e-3f, 1e-2f});
  for (int step = 1; step <= 6; ++step) {
    const bool members = step % 2 == 0;  // per-member rates on every second step
    Buffer<float> g = Buffer<float>::from_host(dev, test::random_floats(n, 20 + step, -1.0f, 1.0f));
    ops::adam_step(dev, n, cfg, step, pa.data(), ma.data(), va.data(), g.data(), members ? lr.data() : nullptr,
                   member);
    ops::adam_step_counted(dev, n, cfg, state.data(), pb.data(), mb.data(), vb.data(), g.data(),
                           members ? lr.data() : nullptr, member);
    EXPECT_EQ(state.to_host()[0].step, step);
    if (real_gpu) {
      EXPECT_TRUE(test::all_close(pb.to_host(), pa.to_host(), 1e-7, 1e-6)) << "step " << step;
    } else {
      EXPECT_EQ(pb.to_host(), pa.to_host()) << "step " << step;
      EXPECT_EQ(mb.to_host(), ma.to_host()) << "step " << step;
      EXPECT_EQ(vb.to_host(), va.to_host()) << "step " << step;
    }
  }
  EXPECT_NE(pb.to_host(), p0);
}

// Per-agent variants: each member of the parameters takes its own learning
// rate; a member with rate 0 does not move (under Adam without decay).
TEST_P(OptimTest, AdamPerMemberLearningRatesMatchFloat64) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const std::vector<float> lrs = {1e-3f, 0.0f, 3e-2f, 3e-3f};
  const int64_t member = 257, n = member * static_cast<int64_t>(lrs.size());
  for (bool decoupled : {false, true}) {
    AdamConfig cfg;
    cfg.lr = 0.5f;  // must be ignored
    cfg.weight_decay = decoupled ? 0.1f : 0.0f;
    cfg.decoupled = decoupled;
    const auto p0 = test::random_floats(static_cast<size_t>(n), 3, -1.0f, 1.0f);
    Buffer<float> p = Buffer<float>::from_host(dev, p0), m(dev, static_cast<size_t>(n)), v(dev, static_cast<size_t>(n));
    Buffer<float> lr = Buffer<float>::from_host(dev, lrs);
    m.zero();
    v.zero();
    std::vector<double> rp(p0.begin(), p0.end()), rm(static_cast<size_t>(n), 0.0), rv(static_cast<size_t>(n), 0.0);
    for (int step = 1; step <= 5; ++step) {
      const auto g = test::random_floats(static_cast<size_t>(n), 20 + step, -1.0f, 1.0f);
      Buffer<float> dg = Buffer<float>::from_host(dev, g);
      ops::adam_step(dev, n, cfg, step, p.data(), m.data(), v.data(), dg.data(), lr.data(), member);
      adam_reference_step(cfg, step, g, [&](size_t i) { return static_cast<double>(lrs[i / member]); }, rp, rm, rv);
      EXPECT_TRUE(test::all_close(p.to_host(), rp, 2e-6, 1e-5)) << "step " << step;
    }
    const auto got = p.to_host();
    for (size_t e = 0; e < lrs.size(); ++e) {
      double moved = 0;
      for (int64_t i = 0; i < member; ++i) {
        const size_t k = e * member + static_cast<size_t>(i);
        moved = std::max(moved, std::fabs(static_cast<double>(got[k]) - p0[k]));
      }
      if (lrs[e] == 0.0f) {
        EXPECT_EQ(moved, 0.0) << "member " << e;
      } else {
        EXPECT_GT(moved, 0.5 * lrs[e]) << "member " << e;
        EXPECT_LT(moved, 10.0 * lrs[e]) << "member " << e << " took another member's rate";
      }
    }
  }
  Buffer<float> x(dev, 10), lr(dev, 3);
  EXPECT_THROW(ops::adam_step(dev, 10, AdamConfig{}, 1, x.data(), x.data(), x.data(), x.data(), lr.data(), 3), Error);
}

TEST_P(OptimTest, PolyakUpdate) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int64_t n = 3 * 1001;
  const auto online = test::random_floats(n, 20), target0 = test::random_floats(n, 21);
  Buffer<float> d_online = Buffer<float>::from_host(dev, online), target = Buffer<float>::from_host(dev, target0);
  const float tau = 0.005f;
  ops::polyak_update(dev, n, tau, d_online.data(), target.data());
  std::vector<double> want(n);
  for (int64_t i = 0; i < n; ++i) want[i] = tau * static_cast<double>(online[i]) + (1.0 - tau) * target0[i];
  const auto got = target.to_host();
  EXPECT_TRUE(test::all_close(got, want, 1e-7, 1e-6));
  EXPECT_NE(got, target0);
  ops::polyak_update(dev, n, 1.0f, d_online.data(), target.data());  // tau = 1 copies
  EXPECT_EQ(target.to_host(), online);
}

TEST_P(OptimTest, ClipGradNormPerMember) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  for (int64_t P : {int64_t{7}, int64_t{5000}}) {
    const int E = 3;
    auto g = test::random_floats(static_cast<size_t>(E * P), 30, -1.0f, 1.0f);
    // Member 0 large, member 1 small, member 2 all zeros.
    for (int64_t j = 0; j < P; ++j) {
      g[j] *= 10.0f;
      g[P + j] *= 0.01f;
      g[2 * P + j] = 0.0f;
    }
    std::vector<double> norms(E, 0.0);
    for (int e = 0; e < E; ++e) {
      for (int64_t j = 0; j < P; ++j) norms[e] += static_cast<double>(g[e * P + j]) * g[e * P + j];
      norms[e] = std::sqrt(norms[e]);
    }
    const float max_norm = 1.0f;
    ASSERT_GT(norms[0], max_norm);
    ASSERT_LT(norms[1], max_norm);
    Buffer<float> grads = Buffer<float>::from_host(dev, g), d_norms(dev, E);
    // Measuring only leaves the gradients alone.
    ops::clip_grad_norm(dev, E, P, 0.0f, grads.data(), d_norms.data());
    EXPECT_EQ(grads.to_host(), g);
    EXPECT_TRUE(test::all_close(d_norms.to_host(), norms, 1e-7, 1e-6)) << "P " << P;
    ops::clip_grad_norm(dev, E, P, max_norm, grads.data(), d_norms.data());
    EXPECT_TRUE(test::all_close(d_norms.to_host(), norms, 1e-7, 1e-6)) << "P " << P;
    const auto got = grads.to_host();
    std::vector<double> want(g.size());
    for (int e = 0; e < E; ++e) {
      const double s = norms[e] > max_norm ? max_norm / (norms[e] + 1e-6) : 1.0;
      for (int64_t j = 0; j < P; ++j) want[e * P + j] = s * g[e * P + j];
    }
    EXPECT_TRUE(test::all_close(got, want, 1e-8, 1e-6)) << "P " << P;
    // The clipped member now has the largest allowed norm; the others are untouched.
    double n0 = 0;
    for (int64_t j = 0; j < P; ++j) n0 += static_cast<double>(got[j]) * got[j];
    EXPECT_NEAR(std::sqrt(n0), max_norm, 1e-5);
    EXPECT_EQ(std::vector<float>(got.begin() + P, got.end()), std::vector<float>(g.begin() + P, g.end()));
  }
}

double ref_loss(TdLoss kind, double delta, double r) {
  if (kind == TdLoss::kMse) return r * r;
  return std::fabs(r) <= delta ? 0.5 * r * r : delta * (std::fabs(r) - 0.5 * delta);
}

TEST_P(OptimTest, TdLossGradientsMatchReferenceAndFiniteDifferences) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int E = 2;
  uint32_t tag = 40;
  for (TdLoss kind : {TdLoss::kMse, TdLoss::kHuber}) {
    for (int B : {1, 7, 300}) {
      for (int shared_y = 0; shared_y < 2; ++shared_y) {
        const double delta = 1.0;
        const auto q = test::random_floats(static_cast<size_t>(E * B), tag++, -3.0f, 3.0f);
        const auto y = test::random_floats(static_cast<size_t>((shared_y ? 1 : E) * B), tag++, -3.0f, 3.0f);
        const int64_t y_stride = shared_y ? 0 : B;
        Buffer<float> d_q = Buffer<float>::from_host(dev, q), d_y = Buffer<float>::from_host(dev, y);
        Buffer<float> dq(dev, static_cast<size_t>(E * B)), loss(dev, E);
        ops::td_loss_grad(dev, kind, static_cast<float>(delta), E, B, d_q.data(), d_y.data(), y_stride, dq.data(),
                          loss.data());
        auto member_loss = [&](int e, const std::vector<double>& qq) {
          double s = 0;
          for (int b = 0; b < B; ++b) s += ref_loss(kind, delta, qq[b] - y[e * y_stride + b]);
          return s / B;
        };
        std::vector<double> want_loss, want_dq, fd_dq;
        for (int e = 0; e < E; ++e) {
          std::vector<double> qe(q.begin() + e * B, q.begin() + (e + 1) * B);
          want_loss.push_back(member_loss(e, qe));
          for (int b = 0; b < B; ++b) {
            const double r = qe[b] - y[e * y_stride + b];
            const double d = kind == TdLoss::kMse ? 2 * r : std::max(-delta, std::min(delta, r));
            want_dq.push_back(d / B);
            auto plus = qe, minus = qe;
            plus[b] += 1e-6;
            minus[b] -= 1e-6;
            fd_dq.push_back((member_loss(e, plus) - member_loss(e, minus)) / 2e-6);
          }
        }
        const auto got_dq = dq.to_host(), got_loss = loss.to_host();
        EXPECT_TRUE(test::all_close(got_dq, want_dq, 1e-7, 1e-6)) << "B " << B;
        EXPECT_TRUE(test::all_close(got_dq, fd_dq, 1e-6, 1e-5)) << "B " << B;
        EXPECT_TRUE(test::all_close(got_loss, want_loss, 1e-6, 1e-6)) << "B " << B;
        ASSERT_GT(test::l2_norm(got_dq), 0.0);
        // Without a loss buffer only dq is written.
        Buffer<float> dq2(dev, static_cast<size_t>(E * B));
        ops::td_loss_grad(dev, kind, static_cast<float>(delta), E, B, d_q.data(), d_y.data(), y_stride, dq2.data(),
                          nullptr);
        EXPECT_EQ(dq2.to_host(), got_dq);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, OptimTest, test::all_backends(), test::backend_param_name);

}  // namespace
}  // namespace acx
