// The networks and their gradient kernels (kernels/mlp.h) on every backend,
// against the float64 reference of tests/mlp_reference.h, which is checked
// in turn against finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/mlp.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/launch_config.h"
#include "tests/mlp_reference.h"
#include "tests/test_util.h"

namespace acx {
namespace {

class MlpTest : public ::testing::TestWithParam<Backend> {};

struct Case {
  int E, B, in;
  std::vector<int> hidden;
  int out;
  bool tanh_out;
  bool layer_norm = false;
};

// B = 1, odd widths, E = 1, 2, 5; modest sizes for the SIMT emulation. Each
// case twice: plain, and with LayerNorm on the hidden layers (widths below,
// at and above a warp, for the warp-per-row kernels).
std::vector<Case> with_and_without_layer_norm(const std::vector<Case>& cases) {
  std::vector<Case> all = cases;
  for (Case c : cases) {
    c.layer_norm = true;
    all.push_back(c);
  }
  return all;
}

const std::vector<Case> kCases = with_and_without_layer_norm({
    {1, 1, 3, {7}, 2, true},
    {2, 5, 4, {33, 7}, 1, false},
    {5, 3, 3, {7, 7}, 3, true},
    {2, 64, 7, {64, 33}, 1, false},
    {1, 17, 5, {}, 2, true},  // a single layer (LayerNorm has no hidden layer to act on)
});

std::string describe(const Case& c) {
  std::string s = "E=" + std::to_string(c.E) + " B=" + std::to_string(c.B) + " in=" + std::to_string(c.in) + " hidden=";
  for (int h : c.hidden) s += std::to_string(h) + ",";
  return s + " out=" + std::to_string(c.out) + (c.tanh_out ? " tanh" : " linear") + (c.layer_norm ? " layernorm" : "");
}

// Asymmetric bounds, so that both mid and half_range matter.
std::vector<float> lows(int n) {
  std::vector<float> v;
  for (int i = 0; i < n; ++i) v.push_back(-1.0f - 0.5f * i);
  return v;
}
std::vector<float> highs(int n) {
  std::vector<float> v;
  for (int i = 0; i < n; ++i) v.push_back(2.0f + 0.25f * i);
  return v;
}

MlpSpec spec_of(const Case& c) {
  MlpSpec s;
  s.in_dim = c.in;
  s.hidden = c.hidden;
  s.out_dim = c.out;
  s.layer_norm = c.layer_norm;
  if (c.tanh_out) {
    s.output = Activation::kTanhScaled;
    s.out_low = lows(c.out);
    s.out_high = highs(c.out);
  }
  return s;
}

test::RefMlp ref_of(const Case& c) {
  std::vector<double> lo, hi;
  if (c.tanh_out) {
    for (float v : lows(c.out)) lo.push_back(v);
    for (float v : highs(c.out)) hi.push_back(v);
  }
  return test::RefMlp(c.in, c.hidden, c.out, c.tanh_out, lo, hi, c.layer_norm);
}

std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// Parameters: Philox init, then a random perturbation so that biases and
// the last layer are not tiny and every ReLU sees both signs.
std::vector<float> make_params(const Device& dev, const Mlp& net, int E, uint32_t tag) {
  Buffer<float> p(dev, static_cast<size_t>(E * net.n_params()));
  mlp_init(net, E, 1234, tag, p.data());
  std::vector<float> h = p.to_host();
  const auto noise = test::random_floats(h.size(), 900 + tag, -0.2f, 0.2f);
  for (size_t i = 0; i < h.size(); ++i) h[i] += noise[i];
  return h;
}

// Reference outputs for all members and rows: x member e at x + e * x_stride.
std::vector<double> ref_forward(const test::RefMlp& ref, const std::vector<double>& p, const std::vector<double>& x,
                                int E, int B, int64_t x_stride) {
  std::vector<double> y;
  for (int e = 0; e < E; ++e)
    for (int b = 0; b < B; ++b) {
      const auto yb = ref.forward(p.data() + e * ref.n_params(), x.data() + e * x_stride + b * ref.in_dim());
      y.insert(y.end(), yb.begin(), yb.end());
    }
  return y;
}

TEST_P(MlpTest, LayoutAndInit) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  for (const Case& c : kCases) {
    Mlp net(dev, spec_of(c));
    const test::RefMlp ref = ref_of(c);
    ASSERT_EQ(net.n_params(), ref.n_params()) << describe(c);
    Buffer<float> p(dev, static_cast<size_t>(c.E * net.n_params()));
    mlp_init(net, c.E, 77, 3, p.data());
    const auto all = p.to_host();
    ASSERT_GT(test::l2_norm(all), 0.0);
    // Every value within its layer's bound 1/sqrt(in), and spread over it.
    for (int e = 0; e < c.E; ++e)
      for (int l = 0; l < net.n_layers(); ++l) {
        const double bound = 1.0 / std::sqrt(static_cast<double>(net.layer_in(l)));
        const int64_t begin = net.weight_offset(l), end = net.bias_offset(l) + net.layer_out(l);
        double lo = 1, hi = -1;
        for (int64_t j = begin; j < end; ++j) {
          const double v = all[e * net.n_params() + j];
          ASSERT_LT(std::fabs(v), bound) << describe(c) << " layer " << l;
          lo = std::min(lo, v / bound);
          hi = std::max(hi, v / bound);
        }
        if (end - begin >= 20) {
          EXPECT_TRUE(lo < -0.5 && hi > 0.5) << describe(c) << " layer " << l;
        }
        // LayerNorm: gain 1 and shift 0, where the reference says they are.
        ASSERT_EQ(net.has_layer_norm(l), ref.has_layer_norm(l)) << describe(c) << " layer " << l;
        if (net.has_layer_norm(l)) {
          ASSERT_EQ(net.gain_offset(l), ref.gain_offset(l));
          ASSERT_EQ(net.shift_offset(l), ref.gain_offset(l) + net.layer_out(l));
          for (int o = 0; o < net.layer_out(l); ++o) {
            ASSERT_EQ(all[e * net.n_params() + net.gain_offset(l) + o], 1.0f) << describe(c);
            ASSERT_EQ(all[e * net.n_params() + net.shift_offset(l) + o], 0.0f) << describe(c);
          }
        }
      }
    // Member e of the ensemble is the lone network drawn with first_member = e.
    for (int e = 0; e < c.E; ++e) {
      Buffer<float> lone(dev, static_cast<size_t>(net.n_params()));
      mlp_init(net, 1, 77, 3, lone.data(), static_cast<uint32_t>(e));
      const auto got = lone.to_host();
      const std::vector<float> want(all.begin() + e * net.n_params(), all.begin() + (e + 1) * net.n_params());
      EXPECT_EQ(got, want) << describe(c) << " member " << e;
    }
    // Another tag or seed draws other numbers.
    Buffer<float> other(dev, static_cast<size_t>(net.n_params()));
    mlp_init(net, 1, 77, 4, other.data());
    EXPECT_NE(other.to_host()[0], all[0]);
    mlp_init(net, 1, 78, 3, other.data());
    EXPECT_NE(other.to_host()[0], all[0]);
  }
  // The DDPG-style small last layer.
  MlpSpec s = spec_of(kCases[1]);
  s.final_init_bound = 3e-3f;
  Mlp net(dev, s);
  Buffer<float> p(dev, static_cast<size_t>(net.n_params()));
  mlp_init(net, 1, 5, 0, p.data());
  const auto h = p.to_host();
  const int last = net.n_layers() - 1;
  for (int64_t j = net.weight_offset(last); j < net.n_params(); ++j) ASSERT_LT(std::fabs(h[j]), 3e-3f);
}

TEST_P(MlpTest, ForwardMatchesFloat64Reference) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  uint32_t tag = 10;
  for (const Case& c : kCases) {
    Mlp net(dev, spec_of(c));
    const test::RefMlp ref = ref_of(c);
    const auto p = make_params(dev, net, c.E, tag++);
    for (int shared = 0; shared < 2; ++shared) {  // per-member input, then one input for all members
      const int64_t x_stride = shared ? 0 : static_cast<int64_t>(c.B) * c.in;
      const auto x = test::random_floats(static_cast<size_t>((shared ? 1 : c.E) * c.B * c.in), tag++, -2.0f, 2.0f);
      Buffer<float> dp = Buffer<float>::from_host(dev, p), dx = Buffer<float>::from_host(dev, x);
      MlpTape tape(net, c.E, c.B);
      mlp_forward(net, dp.data(), {{dx.data(), c.in, x_stride}}, tape);
      std::vector<float> got(static_cast<size_t>(c.E * c.B * c.out));
      memory::copy_device_to_host(dev, got.data(), tape.output(), got.size() * sizeof(float));
      const auto want = ref_forward(ref, to_double(p), to_double(x), c.E, c.B, x_stride);
      EXPECT_TRUE(test::all_close(got, want, 1e-5, 1e-4)) << describe(c) << " shared " << shared;
      ASSERT_GT(test::l2_norm(got), 0.0);
    }
  }
}

// The reference's analytic gradients against central differences in float64.
TEST(MlpReference, GradientsMatchFiniteDifferences) {
  for (const Case& c : kCases) {
    const test::RefMlp ref = ref_of(c);
    const auto pf = test::random_floats(static_cast<size_t>(ref.n_params()), 40, -0.6f, 0.6f);
    const auto xf = test::random_floats(static_cast<size_t>(c.in), 41, -2.0f, 2.0f);
    const auto gf = test::random_floats(static_cast<size_t>(c.out), 42);
    const auto vf = test::random_floats(static_cast<size_t>(ref.n_params()), 43);
    std::vector<double> p = to_double(pf), x = to_double(xf), g = to_double(gf), v = to_double(vf);
    auto objective = [&](const std::vector<double>& pp, const std::vector<double>& xx) {
      const auto y = ref.forward(pp.data(), xx.data());
      double s = 0;
      for (int o = 0; o < c.out; ++o) s += g[o] * y[o];
      return s;
    };
    std::vector<double> dp(p.size(), 0.0), dx(x.size(), 0.0);
    ref.backward(p.data(), x.data(), g.data(), dp.data(), dx.data());
    const double h = 1e-6;
    std::vector<double> fd(p.size());
    for (size_t j = 0; j < p.size(); ++j) {
      auto plus = p, minus = p;
      plus[j] += h;
      minus[j] -= h;
      fd[j] = (objective(plus, x) - objective(minus, x)) / (2 * h);
    }
    EXPECT_TRUE(test::all_close(dp, fd, 1e-7, 1e-6)) << describe(c) << " dparams";
    std::vector<double> fdx(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      auto plus = x, minus = x;
      plus[i] += h;
      minus[i] -= h;
      fdx[i] = (objective(p, plus) - objective(p, minus)) / (2 * h);
    }
    EXPECT_TRUE(test::all_close(dx, fdx, 1e-7, 1e-6)) << describe(c) << " dinput";
    // JVP: d/dt f(p + t v).
    const auto jv = ref.jvp(p.data(), v.data(), x.data());
    std::vector<double> plus = p, minus = p;
    for (size_t j = 0; j < p.size(); ++j) {
      plus[j] += h * v[j];
      minus[j] -= h * v[j];
    }
    const auto yp = ref.forward(plus.data(), x.data()), ym = ref.forward(minus.data(), x.data());
    std::vector<double> fdv(jv.size());
    for (size_t o = 0; o < jv.size(); ++o) fdv[o] = (yp[o] - ym[o]) / (2 * h);
    EXPECT_TRUE(test::all_close(jv, fdv, 1e-7, 1e-6)) << describe(c) << " jvp";
    ASSERT_GT(test::l2_norm(dp), 0.0);
    ASSERT_GT(test::l2_norm(jv), 0.0);
  }
}

TEST_P(MlpTest, BackwardMatchesFloat64Reference) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  uint32_t tag = 100;
  for (const Case& c : kCases) {
    Mlp net(dev, spec_of(c));
    const test::RefMlp ref = ref_of(c);
    const int64_t P = net.n_params();
    const auto p = make_params(dev, net, c.E, tag++);
    const auto x = test::random_floats(static_cast<size_t>(c.E * c.B * c.in), tag++, -2.0f, 2.0f);
    const auto g = test::random_floats(static_cast<size_t>(c.E * c.B * c.out), tag++);
    const float scale = 0.7f;
    Buffer<float> dp = Buffer<float>::from_host(dev, p), dx = Buffer<float>::from_host(dev, x),
                  dg = Buffer<float>::from_host(dev, g);
    Buffer<float> dparams(dev, static_cast<size_t>(c.E * P));
    const int c0 = c.in > 1 ? 1 : 0, cols = c.in - c0;
    Buffer<float> dinput(dev, static_cast<size_t>(c.E * c.B * cols));
    MlpTape tape(net, c.E, c.B);
    const int64_t x_stride = static_cast<int64_t>(c.B) * c.in;
    mlp_forward(net, dp.data(), {{dx.data(), c.in, x_stride}}, tape);
    mlp_backward(net, dp.data(), tape, dg.data(), static_cast<int64_t>(c.B) * c.out, scale, dparams.data(),
                 dinput.data(), c0, c.in);

    std::vector<double> want_dp(static_cast<size_t>(c.E * P), 0.0), want_dx;
    for (int e = 0; e < c.E; ++e)
      for (int b = 0; b < c.B; ++b) {
        const size_t row = static_cast<size_t>(e * c.B + b);
        std::vector<double> pe(p.begin() + e * P, p.begin() + (e + 1) * P);
        std::vector<double> xb(x.begin() + row * c.in, x.begin() + (row + 1) * c.in);
        std::vector<double> gb(g.begin() + row * c.out, g.begin() + (row + 1) * c.out);
        std::vector<double> dxb(c.in);
        ref.backward(pe.data(), xb.data(), gb.data(), want_dp.data() + e * P, dxb.data());
        for (int i = c0; i < c.in; ++i) want_dx.push_back(scale * dxb[i]);
      }
    for (double& v : want_dp) v *= scale;
    const auto got_dp = dparams.to_host(), got_dx = dinput.to_host();
    EXPECT_TRUE(test::all_close(got_dp, want_dp, 1e-5, 1e-4)) << describe(c);
    EXPECT_TRUE(test::all_close(got_dx, want_dx, 1e-5, 1e-4)) << describe(c);
    ASSERT_GT(test::l2_norm(got_dp), 0.0);
    ASSERT_GT(test::l2_norm(got_dx), 0.0);
  }
}

// A critic on (obs, action): the obs block shared by the twin members, the
// action block per member; Q, its parameter gradient and dQ/da.
TEST_P(MlpTest, CriticOnObsAndActionBlocks) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  struct CriticCase {
    int E, B, obs, act;
    std::vector<int> hidden;
    bool layer_norm;
  };
  const std::vector<CriticCase> cases = {{2, 5, 3, 1, {33, 7}, false}, {1, 1, 4, 2, {7}, false},
                                         {5, 9, 3, 3, {7, 5}, false},  {2, 5, 3, 1, {33, 7}, true},
                                         {1, 1, 4, 2, {7}, true},      {5, 9, 3, 3, {7, 5}, true}};
  uint32_t tag = 200;
  for (const CriticCase& c : cases) {
    MlpSpec s;
    s.in_dim = c.obs + c.act;
    s.hidden = c.hidden;
    s.out_dim = 1;
    s.layer_norm = c.layer_norm;
    Mlp critic(dev, s);
    const test::RefMlp ref(c.obs + c.act, c.hidden, 1, false, {}, {}, c.layer_norm);
    const int64_t P = critic.n_params();
    const auto p = make_params(dev, critic, c.E, tag++);
    const auto obs = test::random_floats(static_cast<size_t>(c.B * c.obs), tag++, -2.0f, 2.0f);
    const auto act = test::random_floats(static_cast<size_t>(c.E * c.B * c.act), tag++, -1.0f, 1.0f);
    const auto dq = test::random_floats(static_cast<size_t>(c.E * c.B), tag++);
    Buffer<float> d_p = Buffer<float>::from_host(dev, p), d_obs = Buffer<float>::from_host(dev, obs),
                  d_act = Buffer<float>::from_host(dev, act), d_dq = Buffer<float>::from_host(dev, dq);
    Buffer<float> dparams(dev, static_cast<size_t>(c.E * P)), dq_da(dev, static_cast<size_t>(c.E * c.B * c.act));
    MlpTape tape(critic, c.E, c.B);
    const std::vector<MlpInput> inputs = {{d_obs.data(), c.obs, 0},
                                          {d_act.data(), c.act, static_cast<int64_t>(c.B) * c.act}};
    mlp_forward(critic, d_p.data(), inputs, tape);
    std::vector<float> q(static_cast<size_t>(c.E * c.B));
    memory::copy_device_to_host(dev, q.data(), tape.output(), q.size() * sizeof(float));
    critic_action_grad(critic, d_p.data(), tape, c.obs, dq_da.data());
    mlp_backward(critic, d_p.data(), tape, d_dq.data(), c.B, 1.0f, dparams.data());

    std::vector<double> want_q, want_da, want_dp(static_cast<size_t>(c.E * P), 0.0);
    for (int e = 0; e < c.E; ++e)
      for (int b = 0; b < c.B; ++b) {
        std::vector<double> x(obs.begin() + b * c.obs, obs.begin() + (b + 1) * c.obs);
        const size_t row = static_cast<size_t>(e * c.B + b);
        x.insert(x.end(), act.begin() + row * c.act, act.begin() + (row + 1) * c.act);
        std::vector<double> pe(p.begin() + e * P, p.begin() + (e + 1) * P);
        want_q.push_back(ref.forward(pe.data(), x.data())[0]);
        const double one = 1.0, g = dq[row];
        std::vector<double> dx(x.size()), scratch(static_cast<size_t>(P), 0.0);
        ref.backward(pe.data(), x.data(), &one, scratch.data(), dx.data());
        for (int a = 0; a < c.act; ++a) want_da.push_back(dx[c.obs + a]);
        ref.backward(pe.data(), x.data(), &g, want_dp.data() + e * P, nullptr);
        // dQ/da of the reference against central differences.
        for (int a = 0; a < c.act; ++a) {
          auto plus = x, minus = x;
          plus[c.obs + a] += 1e-6;
          minus[c.obs + a] -= 1e-6;
          const double fd = (ref.forward(pe.data(), plus.data())[0] - ref.forward(pe.data(), minus.data())[0]) / 2e-6;
          EXPECT_NEAR(dx[c.obs + a], fd, 1e-7 + 1e-6 * std::fabs(fd));
        }
      }
    const std::string what =
        "E " + std::to_string(c.E) + " B " + std::to_string(c.B) + (c.layer_norm ? " layernorm" : "");
    EXPECT_TRUE(test::all_close(q, want_q, 1e-5, 1e-4)) << what;
    const auto got_da = dq_da.to_host(), got_dp = dparams.to_host();
    EXPECT_TRUE(test::all_close(got_da, want_da, 1e-5, 1e-4)) << what;
    EXPECT_TRUE(test::all_close(got_dp, want_dp, 1e-5, 1e-4)) << what;
    ASSERT_GT(test::l2_norm(got_da), 0.0);
    ASSERT_GT(test::l2_norm(got_dp), 0.0);
  }
}

// Everything one actor case needs on the device.
struct ActorRun {
  std::vector<float> p, x, g, v;
  std::vector<float> y, vjp, jvp;  // outputs
};

ActorRun run_actor(const Device& dev, const Mlp& net, const Case& c, uint32_t tag, float scale = 1.0f) {
  ActorRun r;
  const int64_t P = net.n_params();
  r.p = make_params(dev, net, c.E, tag);
  r.x = test::random_floats(static_cast<size_t>(c.E * c.B * c.in), tag + 1, -2.0f, 2.0f);
  r.g = test::random_floats(static_cast<size_t>(c.E * c.B * c.out), tag + 2);
  r.v = test::random_floats(static_cast<size_t>(c.E * P), tag + 3);
  Buffer<float> dp = Buffer<float>::from_host(dev, r.p), dx = Buffer<float>::from_host(dev, r.x),
                dg = Buffer<float>::from_host(dev, r.g), dv = Buffer<float>::from_host(dev, r.v);
  Buffer<float> dparams(dev, static_cast<size_t>(c.E * P)), tangent(dev, static_cast<size_t>(c.E * c.B * c.out));
  MlpTape tape(net, c.E, c.B);
  const std::vector<MlpInput> in = {{dx.data(), c.in, static_cast<int64_t>(c.B) * c.in}};
  mlp_forward(net, dp.data(), in, tape);
  r.y.resize(static_cast<size_t>(c.E * c.B * c.out));
  memory::copy_device_to_host(dev, r.y.data(), tape.output(), r.y.size() * sizeof(float));
  actor_vjp(net, dp.data(), tape, dg.data(), static_cast<int64_t>(c.B) * c.out, scale, dparams.data());
  actor_jvp(net, dp.data(), dv.data(), in, tape, tangent.data());
  r.vjp = dparams.to_host();
  r.jvp = tangent.to_host();
  return r;
}

TEST_P(MlpTest, ActorVjpAndJvpMatchFloat64Reference) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  uint32_t tag = 300;
  for (const Case& c : kCases) {
    Mlp net(dev, spec_of(c));
    const test::RefMlp ref = ref_of(c);
    const int64_t P = net.n_params();
    const float scale = -1.0f;  // the actor's loss is -Q
    const ActorRun r = run_actor(dev, net, c, tag, scale);
    tag += 10;
    std::vector<double> want_vjp(static_cast<size_t>(c.E * P), 0.0), want_jvp;
    for (int e = 0; e < c.E; ++e) {
      const std::vector<double> pe(r.p.begin() + e * P, r.p.begin() + (e + 1) * P);
      const std::vector<double> ve(r.v.begin() + e * P, r.v.begin() + (e + 1) * P);
      for (int b = 0; b < c.B; ++b) {
        const size_t row = static_cast<size_t>(e * c.B + b);
        const std::vector<double> xb(r.x.begin() + row * c.in, r.x.begin() + (row + 1) * c.in);
        const std::vector<double> gb(r.g.begin() + row * c.out, r.g.begin() + (row + 1) * c.out);
        ref.backward(pe.data(), xb.data(), gb.data(), want_vjp.data() + e * P, nullptr);
        const auto jv = ref.jvp(pe.data(), ve.data(), xb.data());
        want_jvp.insert(want_jvp.end(), jv.begin(), jv.end());
      }
    }
    for (double& w : want_vjp) w *= scale / c.B;
    EXPECT_TRUE(test::all_close(r.vjp, want_vjp, 1e-5, 1e-4)) << describe(c);
    EXPECT_TRUE(test::all_close(r.jvp, want_jvp, 1e-5, 1e-4)) << describe(c);
    ASSERT_GT(test::l2_norm(r.vjp), 0.0);
    ASSERT_GT(test::l2_norm(r.jvp), 0.0);
  }
}

// <VJP(g), v> = (1/B) sum_b g_b . (J v)_b per member, both sides from the
// float32 kernels: reverse and forward mode must agree on every direction.
TEST_P(MlpTest, VjpJvpInnerProductIdentity) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  uint32_t tag = 400;
  for (const Case& c : kCases) {
    Mlp net(dev, spec_of(c));
    const int64_t P = net.n_params();
    const ActorRun r = run_actor(dev, net, c, tag);
    tag += 10;
    for (int e = 0; e < c.E; ++e) {
      double lhs = 0, lhs_abs = 0, rhs = 0, rhs_abs = 0;
      for (int64_t j = 0; j < P; ++j) {
        const double t = static_cast<double>(r.vjp[e * P + j]) * r.v[e * P + j];
        lhs += t;
        lhs_abs += std::fabs(t);
      }
      for (int64_t k = 0; k < static_cast<int64_t>(c.B) * c.out; ++k) {
        const size_t i = static_cast<size_t>(e * c.B * c.out + k);
        const double t = static_cast<double>(r.g[i]) * r.jvp[i] / c.B;
        rhs += t;
        rhs_abs += std::fabs(t);
      }
      // float32 precision relative to the size of the terms summed.
      EXPECT_NEAR(lhs, rhs, 1e-5 * (lhs_abs + rhs_abs)) << describe(c) << " member " << e;
      ASSERT_GT(lhs_abs, 0.0);
    }
  }
}

// A tiny actor's per-sample Jacobian da/du built column by column from JVPs
// along the basis vectors; J^T g / B must equal the VJP.
TEST_P(MlpTest, ExplicitJacobianFromJvpsTimesGEqualsVjp) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  for (const bool layer_norm : {false, true}) {
    SCOPED_TRACE(layer_norm ? "layernorm" : "plain");
    const Case c{2, 3, 2, {3}, 2, true, layer_norm};
    Mlp net(dev, spec_of(c));
    const test::RefMlp ref = ref_of(c);
    const int64_t P = net.n_params();
    ASSERT_EQ(P, 3 * 2 + 3 + (layer_norm ? 2 * 3 : 0) + 2 * 3 + 2);
    const ActorRun r = run_actor(dev, net, c, 500);
    Buffer<float> dp = Buffer<float>::from_host(dev, r.p), dx = Buffer<float>::from_host(dev, r.x);
    Buffer<float> dv(dev, static_cast<size_t>(c.E * P)), tangent(dev, static_cast<size_t>(c.E * c.B * c.out));
    MlpTape tape(net, c.E, c.B);
    const std::vector<MlpInput> in = {{dx.data(), c.in, static_cast<int64_t>(c.B) * c.in}};
    // jac[(e, b, a), j] = d a_eb / d u_ej
    std::vector<float> jac(static_cast<size_t>(c.E * c.B * c.out * P));
    for (int64_t j = 0; j < P; ++j) {
      std::vector<float> basis(static_cast<size_t>(c.E * P), 0.0f);
      for (int e = 0; e < c.E; ++e) basis[e * P + j] = 1.0f;
      dv.copy_from_host(basis.data(), basis.size());
      actor_jvp(net, dp.data(), dv.data(), in, tape, tangent.data());
      const auto col = tangent.to_host();
      for (size_t k = 0; k < col.size(); ++k) jac[k * P + j] = col[k];
    }
    // The Jacobian against the reference's JVPs along the same basis vectors.
    std::vector<double> want_jac(jac.size());
    for (int e = 0; e < c.E; ++e) {
      const std::vector<double> pe(r.p.begin() + e * P, r.p.begin() + (e + 1) * P);
      for (int64_t j = 0; j < P; ++j) {
        std::vector<double> basis(static_cast<size_t>(P), 0.0);
        basis[j] = 1.0;
        for (int b = 0; b < c.B; ++b) {
          const size_t row = static_cast<size_t>(e * c.B + b);
          const std::vector<double> xb(r.x.begin() + row * c.in, r.x.begin() + (row + 1) * c.in);
          const auto col = ref.jvp(pe.data(), basis.data(), xb.data());
          for (int a = 0; a < c.out; ++a) want_jac[(row * c.out + a) * P + j] = col[a];
        }
      }
    }
    EXPECT_TRUE(test::all_close(jac, want_jac, 1e-5, 1e-4));
    // J^T g / B against the VJP.
    std::vector<double> jtg(static_cast<size_t>(c.E * P), 0.0);
    for (int e = 0; e < c.E; ++e)
      for (int64_t j = 0; j < P; ++j) {
        double s = 0;
        for (int k = 0; k < c.B * c.out; ++k) {
          const size_t i = static_cast<size_t>(e * c.B * c.out + k);
          s += static_cast<double>(r.g[i]) * jac[i * P + j];
        }
        jtg[e * P + j] = s / c.B;
      }
    EXPECT_TRUE(test::all_close(r.vjp, jtg, 1e-6, 1e-4));
    ASSERT_GT(test::l2_norm(r.vjp), 0.0);
  }
}

// Member i of an ensemble computes exactly what a lone network with member
// i's weights and inputs computes: bitwise on the CPU.
TEST_P(MlpTest, MembersAreIndependent) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  for (const bool layer_norm : {false, true}) {
    SCOPED_TRACE(layer_norm ? "layernorm" : "plain");
    const Case c{5, 9, 6, {33, 17}, 3, true, layer_norm};
    Mlp net(dev, spec_of(c));
    const int64_t P = net.n_params();
    const ActorRun all = run_actor(dev, net, c, 600);
    Case lone_case = c;
    lone_case.E = 1;
    for (int e = 0; e < c.E; ++e) {
      ActorRun one;
      const size_t xs = static_cast<size_t>(c.B * c.in), ys = static_cast<size_t>(c.B * c.out);
      const std::vector<float> p(all.p.begin() + e * P, all.p.begin() + (e + 1) * P);
      const std::vector<float> x(all.x.begin() + e * xs, all.x.begin() + (e + 1) * xs);
      const std::vector<float> g(all.g.begin() + e * ys, all.g.begin() + (e + 1) * ys);
      const std::vector<float> v(all.v.begin() + e * P, all.v.begin() + (e + 1) * P);
      Buffer<float> dp = Buffer<float>::from_host(dev, p), dx = Buffer<float>::from_host(dev, x),
                    dg = Buffer<float>::from_host(dev, g), dv = Buffer<float>::from_host(dev, v);
      Buffer<float> dparams(dev, static_cast<size_t>(P)), tangent(dev, ys);
      MlpTape tape(net, 1, c.B);
      const std::vector<MlpInput> in = {{dx.data(), c.in, 0}};
      mlp_forward(net, dp.data(), in, tape);
      std::vector<float> y(ys);
      memory::copy_device_to_host(dev, y.data(), tape.output(), ys * sizeof(float));
      actor_vjp(net, dp.data(), tape, dg.data(), 0, 1.0f, dparams.data());
      actor_jvp(net, dp.data(), dv.data(), in, tape, tangent.data());
      const std::vector<float> want_y(all.y.begin() + e * ys, all.y.begin() + (e + 1) * ys);
      const std::vector<float> want_vjp(all.vjp.begin() + e * P, all.vjp.begin() + (e + 1) * P);
      const std::vector<float> want_jvp(all.jvp.begin() + e * ys, all.jvp.begin() + (e + 1) * ys);
      if (dev.is_cuda()) {  // cuBLAS may pick other kernels for other batch counts
        EXPECT_TRUE(test::all_close(y, want_y, 1e-6, 1e-5)) << "member " << e;
        EXPECT_TRUE(test::all_close(dparams.to_host(), want_vjp, 1e-6, 1e-5)) << "member " << e;
        EXPECT_TRUE(test::all_close(tangent.to_host(), want_jvp, 1e-6, 1e-5)) << "member " << e;
      } else {
        EXPECT_EQ(y, want_y) << "member " << e;
        EXPECT_EQ(dparams.to_host(), want_vjp) << "member " << e;
        EXPECT_EQ(tangent.to_host(), want_jvp) << "member " << e;
      }
      ASSERT_GT(test::l2_norm(y), 0.0);
    }
  }
}

TEST_P(MlpTest, RepeatedRunsAreBitwiseIdentical) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  for (Case c : {kCases[1], kCases[3]}) {
    for (const bool layer_norm : {false, true}) {
      c.layer_norm = layer_norm;
      Mlp net(dev, spec_of(c));
      const ActorRun a = run_actor(dev, net, c, 700), b = run_actor(dev, net, c, 700);
      EXPECT_EQ(a.y, b.y) << describe(c);
      EXPECT_EQ(a.vjp, b.vjp) << describe(c);
      EXPECT_EQ(a.jvp, b.jvp) << describe(c);
      ASSERT_GT(test::l2_norm(a.vjp), 0.0);
    }
  }
}

// The LayerNorm kernels cover their rows with a grid-stride loop (a warp per
// row on the GPU): with the grid capped at one block (8 warps) for 5 * 9 = 45
// rows, every output must be bitwise what the uncapped launch gives.
TEST_P(MlpTest, LayerNormRowsBeyondOneGrid) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const Case c{5, 9, 6, {40, 17}, 3, true, true};
  Mlp net(dev, spec_of(c));
  const ActorRun wide = run_actor(dev, net, c, 800);
  ActorRun narrow;
  {
    ScopedMaxGridBlocks cap(1);
    narrow = run_actor(dev, net, c, 800);
  }
  EXPECT_EQ(narrow.y, wide.y);
  EXPECT_EQ(narrow.vjp, wide.vjp);
  EXPECT_EQ(narrow.jvp, wide.jvp);
  ASSERT_GT(test::l2_norm(wide.vjp), 0.0);
}

// LayerNorm normalizes: with g = 1 and beta = 0 (the init), each row of a
// hidden layer's ReLU input y has mean 0 and biased variance var / (var + eps).
TEST_P(MlpTest, LayerNormRowsAreNormalized) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  MlpSpec s;
  s.in_dim = 4;
  s.hidden = {37};
  s.out_dim = 2;
  s.layer_norm = true;
  Mlp net(dev, s);
  const int E = 2, B = 6, n = 37;
  Buffer<float> p(dev, static_cast<size_t>(E * net.n_params()));
  mlp_init(net, E, 9, 1, p.data());
  const auto x = test::random_floats(static_cast<size_t>(E * B * 4), 810, -3.0f, 3.0f);
  Buffer<float> dx = Buffer<float>::from_host(dev, x);
  MlpTape tape(net, E, B);
  mlp_forward(net, p.data(), {{dx.data(), 4, B * 4}}, tape);
  const auto y = tape.pre[0].to_host();
  for (int r = 0; r < E * B; ++r) {
    double m = 0, v = 0;
    for (int o = 0; o < n; ++o) m += y[r * n + o] / n;
    for (int o = 0; o < n; ++o) v += (y[r * n + o] - m) * (y[r * n + o] - m) / n;
    EXPECT_NEAR(m, 0.0, 1e-6) << "row " << r;
    EXPECT_NEAR(v, 1.0, 1e-3) << "row " << r;
  }
}

TEST_P(MlpTest, RejectsMismatchedInputs) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  Mlp net(dev, spec_of(kCases[1]));
  Buffer<float> p(dev, static_cast<size_t>(net.n_params())), x(dev, 16);
  MlpTape tape(net, 1, 2);
  EXPECT_THROW(mlp_forward(net, p.data(), {{x.data(), 3, 0}}, tape), Error);
  MlpSpec bad = spec_of(kCases[0]);
  bad.out_low.pop_back();
  EXPECT_THROW((Mlp{dev, bad}), Error);
}

INSTANTIATE_TEST_SUITE_P(Backends, MlpTest, test::all_backends(), test::backend_param_name);

}  // namespace
}  // namespace acx
