// acx gradcheck: builds random actor and critic ensembles for an env's
// dimensions and a random batch, runs the gradient kernels (kernels/mlp.h)
// and compares every quantity with float64 evaluations of the same networks:
// Q against a float64 forward, dQ/da, the actor's and the critic's parameter
// gradients and the actor JVP against central finite differences in float64.
// Prints the largest relative error per quantity; fails (exit 1) when one
// exceeds its tolerance. --dump writes every input and output as .npy with a
// JSON index (docs/gradcheck.md); tools/recheck_gradcheck.py rechecks it.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "envs/registry.h"
#include "host/cli/commands.h"
#include "host/io/atomic_file.h"
#include "host/io/npy.h"
#include "kernels/mlp.h"
#include "kernels/philox.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/error.h"
#include "kernels/sac.h"

namespace acx {

namespace {

struct GradcheckOptions {
  std::string env = "pendulum";
  std::string hidden = "64,64";
  int batch = 32;
  int members = 2;
  int64_t seed = 1;
  std::string dump;
  std::string device = "auto";
  bool layer_norm = false;
  std::string algo = "td3";
};

std::vector<int> parse_hidden(const std::string& text) {
  std::vector<int> widths;
  size_t pos = 0;
  while (pos <= text.size() && !text.empty()) {
    const size_t comma = text.find(',', pos);
    const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    int w = 0;
    try {
      size_t used = 0;
      w = std::stoi(item, &used);
      ACX_USAGE_CHECK(used == item.size(), "");
    } catch (const std::exception&) {
      throw_usage_error("--hidden: " + quote_input(text) + " is not a comma-separated list of widths");
    }
    ACX_USAGE_CHECK(w > 0 && w <= 4096, "--hidden: widths must be in [1, 4096]");
    widths.push_back(w);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return widths;
}

// One member of a network in float64, read from the flat float32 layout.
struct Net64 {
  const Mlp* net;
  std::vector<double> p;  // (P)

  // relu_pattern, when given, collects the sign of every hidden ReLU's input.
  std::vector<double> forward(const std::vector<double>& x, std::vector<uint8_t>* relu_pattern = nullptr) const {
    std::vector<double> h = x;
    const MlpSpec& s = net->spec();
    for (int l = 0; l < net->n_layers(); ++l) {
      const int in = net->layer_in(l), out = net->layer_out(l);
      std::vector<double> zs(out), y(out);
      for (int o = 0; o < out; ++o) {
        double z = p[net->bias_offset(l) + o];
        for (int i = 0; i < in; ++i) z += p[net->weight_offset(l) + static_cast<int64_t>(o) * in + i] * h[i];
        zs[o] = z;
      }
      if (net->has_layer_norm(l)) {  // nn.LayerNorm(out, eps=1e-5): biased variance
        double mean = 0, var = 0;
        for (double z : zs) mean += z / out;
        for (double z : zs) var += (z - mean) * (z - mean) / out;
        const double r = 1.0 / std::sqrt(var + static_cast<double>(kLayerNormEps));
        for (int o = 0; o < out; ++o)
          zs[o] = p[net->gain_offset(l) + o] * (zs[o] - mean) * r + p[net->shift_offset(l) + o];
      }
      for (int o = 0; o < out; ++o) {
        const double z = zs[o];
        if (l + 1 < net->n_layers()) {
          y[o] = z > 0 ? z : 0;
          if (relu_pattern) relu_pattern->push_back(z > 0);
        } else if (s.output == Activation::kTanhScaled) {
          const double lo = s.out_low[o], hi = s.out_high[o];
          y[o] = 0.5 * (hi + lo) + 0.5 * (hi - lo) * std::tanh(z);
        } else {
          y[o] = z;
        }
      }
      h = std::move(y);
    }
    return h;
  }
};

// Largest |got - want| / max(|want|, floor), floor = 1e-2 * max |want| (so
// entries near zero are judged on the quantity's scale).
struct Worst {
  double rel = 0, got = 0, want = 0;
  int64_t at = -1;
  double scale = 0;
};

Worst compare(const std::vector<double>& got, const std::vector<double>& want) {
  Worst w;
  for (double v : want) w.scale = std::max(w.scale, std::fabs(v));
  const double floor = std::max(1e-2 * w.scale, 1e-12);
  for (size_t i = 0; i < got.size(); ++i) {
    const double rel = std::fabs(got[i] - want[i]) / std::max(std::fabs(want[i]), floor);
    if (!(rel <= w.rel)) {  // NaN counts as the worst
      w = Worst{std::isnan(rel) ? INFINITY : rel, got[i], want[i], static_cast<int64_t>(i), w.scale};
    }
  }
  return w;
}

std::vector<double> to64(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// Central differences (f(h) - f(-h)) / 2h of a float64 evaluation f(t,
// relu_pattern) -> values. A ReLU whose input crosses 0 between the two ends
// puts a kink inside the step and the difference measures neither side's
// slope (a hidden unit within ~1e-6 of 0 happens in a few runs out of ten
// with LayerNorm's larger tangents), so the step shrinks by 16 until no
// ReLU flips between the ends; `shrunk` counts those differences.
struct CentralDifference {
  double h = 1e-6;
  int shrunk = 0, unresolved = 0;

  template <typename F>
  std::vector<double> operator()(F&& f) {
    for (double step = h;; step /= 16) {
      std::vector<uint8_t> plus_pattern, minus_pattern;
      const std::vector<double> plus = f(step, &plus_pattern), minus = f(-step, &minus_pattern);
      const bool kink = plus_pattern != minus_pattern;
      if (!kink || step < 1e-10) {
        if (step != h) ++shrunk;
        if (kink) ++unresolved;
        std::vector<double> d(plus.size());
        for (size_t i = 0; i < d.size(); ++i) d[i] = (plus[i] - minus[i]) / (2 * step);
        return d;
      }
    }
  }
};

std::vector<float> device_vector(const Device& dev, const float* p, size_t n) {
  std::vector<float> out(n);
  memory::copy_device_to_host(dev, out.data(), p, n * sizeof(float));
  return out;
}

nlohmann::json layout_json(const Mlp& net, int members) {
  nlohmann::json layers = nlohmann::json::array();
  for (int l = 0; l < net.n_layers(); ++l) {
    const Activation a = net.activation(l);
    nlohmann::json layer = {{"in", net.layer_in(l)},
                            {"out", net.layer_out(l)},
                            {"weight_offset", net.weight_offset(l)},
                            {"bias_offset", net.bias_offset(l)},
                            {"layer_norm", net.has_layer_norm(l)},
                            {"activation", a == Activation::kRelu ? "relu" : (a == Activation::kTanhScaled ? "tanh_scaled" : "identity")}};
    if (net.has_layer_norm(l)) {
      layer["gain_offset"] = net.gain_offset(l);
      layer["shift_offset"] = net.shift_offset(l);
    }
    layers.push_back(layer);
  }
  nlohmann::json j = {{"members", members},
                      {"n_params", net.n_params()},
                      {"layer_norm_eps", static_cast<double>(kLayerNormEps)},
                      {"layers", layers}};
  if (net.spec().output == Activation::kTanhScaled) {
    j["out_low"] = net.spec().out_low;
    j["out_high"] = net.spec().out_high;
  }
  return j;
}

// One checked quantity: its worst relative error against its tolerance.
struct CheckRow {
  const char* name;
  Worst worst;
  double tol;
  size_t n;
};

// Prints one line per quantity; true when all are within tolerance.
bool report_rows(const std::vector<CheckRow>& rows) {
  bool ok = true;
  for (const CheckRow& r : rows) {
    const bool pass = r.worst.rel <= r.tol;
    ok = ok && pass;
    fmt::print("  {:<24} max rel err {:.2e} (tol {:.0e}, {} values, scale {:.3g})  {}\n", r.name, r.worst.rel, r.tol,
               r.n, r.worst.scale, pass ? "ok" : "FAIL");
  }
  return ok;
}

// A dump's index entry for one .npy file.
nlohmann::json file_entry(const char* file, const std::vector<int64_t>& shape, const char* what) {
  return nlohmann::json{{"file", file}, {"shape", shape}, {"what", what}};
}

// The fields every dump's index.json starts with (docs/gradcheck.md).
nlohmann::json index_header(const GradcheckOptions& opt, const EnvInfo& env, const Device& dev, int batch,
                            int members) {
  return nlohmann::json{{"format", "acx-gradcheck-1"}, {"env", env.name},   {"obs_dim", env.obs_dim},
                        {"act_dim", env.act_dim},      {"batch", batch},    {"members", members},
                        {"seed", opt.seed},            {"layer_norm", opt.layer_norm}, {"device", dev.describe()}};
}

// Adds the results to the index, writes index.json and says so.
void write_index(const std::string& dir, nlohmann::json index, const std::vector<CheckRow>& rows, int n_files) {
  nlohmann::json results = nlohmann::json::array();
  for (const CheckRow& r : rows) results.push_back({{"quantity", r.name}, {"max_rel_err", r.worst.rel}, {"tol", r.tol}});
  index["results"] = results;
  write_file_atomic((std::filesystem::path(dir) / "index.json").string(),
                    index.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  fmt::print("wrote {} (index.json and {} .npy files; recheck with tools/recheck_gradcheck.py {})\n", printable(dir),
             n_files, printable(dir));
}

// Moves LayerNorm gains and shifts off their init (g in [0.5, 1.5), beta in
// [-0.5, 0.5)) so that no LayerNorm derivative is checked only at the
// symmetric point g = 1, beta = 0.
void spread_layer_norm(const Mlp& net, int members, PhiloxStream& rng, Buffer<float>& params) {
  std::vector<float> p = params.to_host();
  for (int e = 0; e < members; ++e)
    for (int l = 0; l < net.n_layers(); ++l)
      if (net.has_layer_norm(l))
        for (int o = 0; o < net.layer_out(l); ++o) {
          p[e * net.n_params() + net.gain_offset(l) + o] += rng.uniform(-0.5f, 0.5f);
          p[e * net.n_params() + net.shift_offset(l) + o] += rng.uniform(-0.5f, 0.5f);
        }
  params.copy_from_host(p.data(), p.size());
}

// A batch of observations within the env's bounds where they are finite
// (clamped to [-10, 10]), else in [-2, 2].
std::vector<float> draw_observations(const EnvInfo& env, int batch, PhiloxStream& rng) {
  const int S = env.obs_dim;
  std::vector<float> obs(static_cast<size_t>(batch) * S);
  for (int b = 0; b < batch; ++b)
    for (int i = 0; i < S; ++i) {
      const float lo = std::isfinite(env.obs_low[i]) ? std::max(env.obs_low[i], -10.0f) : -2.0f;
      const float hi = std::isfinite(env.obs_high[i]) ? std::min(env.obs_high[i], 10.0f) : 2.0f;
      obs[static_cast<size_t>(b) * S + i] = rng.uniform(lo, hi);
    }
  return obs;
}

// The parameters checked one by one: kChecked spread over the member, every
// output bias, and the first 4 gains and shifts of every LayerNorm layer.
std::vector<int64_t> checked_params(const Mlp& net, uint64_t seed, int member) {
  const int kChecked = 48;
  const int64_t P = net.n_params();
  PhiloxStream pick(seed, RngPurpose::kTest, 1 + static_cast<uint32_t>(member), 0);
  std::vector<int64_t> idx;
  for (int i = 0; i < kChecked && i < P; ++i) idx.push_back(static_cast<int64_t>(pick.next_u32() % P));
  for (int64_t j = P - net.layer_out(net.n_layers() - 1); j < P; ++j) idx.push_back(j);
  for (int l = 0; l < net.n_layers(); ++l)
    if (net.has_layer_norm(l))
      for (int o = 0; o < std::min(4, net.layer_out(l)); ++o) {
        idx.push_back(net.gain_offset(l) + o);
        idx.push_back(net.shift_offset(l) + o);
      }
  return idx;
}

// SAC (kernels/sac.h): K = --members agents, each an actor with the two
// heads [mean | raw log-std] and twin critics (members j K + k). Runs the
// kernels of one actor step as host/learn/agent.cpp does, with log alpha
// drawn per agent, and compares with float64:
//   action, log pi            a float64 evaluation of the squashed Gaussian at the kernel's noise
//   min_j Q_j, its dQ/da      a float64 forward; central differences in a
//   dL/d(heads)               central differences of the row's share of the loss in each head entry
//   actor grad dL/du          central differences of L(u) = mean_b [alpha log pi - min_j Q_j](u)
//   dL/dlog_alpha             -alpha (mean_b log pi + H) with the float64 log pi
// with the noise held fixed (the reparameterization).
void run_gradcheck_sac(const GradcheckOptions& opt, const EnvInfo& env, const std::vector<int>& hidden,
                       const Device& dev) {
  const int K = opt.members, B = opt.batch, S = env.obs_dim, A = env.act_dim;
  const float kLogStdMin = -5.0f, kLogStdMax = 2.0f;  // the sac.* defaults
  const double H = -static_cast<double>(A);            // target entropy, the default -act_dim
  MlpSpec as;
  as.in_dim = S;
  as.hidden = hidden;
  as.out_dim = 2 * A;
  as.output = Activation::kIdentity;
  as.layer_norm = opt.layer_norm;
  MlpSpec cs;
  cs.in_dim = S + A;
  cs.hidden = hidden;
  cs.out_dim = 1;
  cs.layer_norm = opt.layer_norm;
  const Mlp actor(dev, as), critic(dev, cs);
  const int64_t Pa = actor.n_params(), Pc = critic.n_params();
  const int64_t KB = static_cast<int64_t>(K) * B;

  Buffer<float> actor_p(dev, static_cast<size_t>(K * Pa)), critic_p(dev, static_cast<size_t>(2 * K * Pc));
  mlp_init(actor, K, opt.seed, 1, actor_p.data());
  mlp_init(critic, 2 * K, opt.seed, 2, critic_p.data());
  PhiloxStream rng(opt.seed, RngPurpose::kTest, 0, 0);
  if (opt.layer_norm) {
    PhiloxStream ln_rng(opt.seed, RngPurpose::kTest, 100, 0);
    spread_layer_norm(actor, K, ln_rng, actor_p);
    spread_layer_norm(critic, 2 * K, ln_rng, critic_p);
  }
  const std::vector<float> obs = draw_observations(env, B, rng);
  // The initial actor's heads are near 0; move the mean's output biases by
  // up to +-1.5 so that some samples squash near the box's edges.
  {
    std::vector<float> p = actor_p.to_host();
    for (int k = 0; k < K; ++k)
      for (int d = 0; d < A; ++d) p[k * Pa + Pa - 2 * A + d] += rng.uniform(-1.5f, 1.5f);
    actor_p.copy_from_host(p.data(), p.size());
  }
  std::vector<float> log_alpha(K);
  for (float& v : log_alpha) v = rng.uniform(-3.0f, 0.5f);
  Buffer<float> d_obs = Buffer<float>::from_host(dev, obs), d_log_alpha = Buffer<float>::from_host(dev, log_alpha);

  // The kernels, in the order of Agent::sac_actor_step.
  MlpTape actor_tape(actor, K, B), critic_tape(critic, 2 * K, B);
  mlp_forward(actor, actor_p.data(), {{d_obs.data(), S, 0}}, actor_tape);
  Buffer<float> act(dev, static_cast<size_t>(KB * A)), logp(dev, static_cast<size_t>(KB)),
      eps(dev, static_cast<size_t>(KB * A)), act2(dev, static_cast<size_t>(2 * KB * A)),
      dq_da_all(dev, static_cast<size_t>(2 * KB * A)), dq_da(dev, static_cast<size_t>(KB * A)),
      q_min(dev, static_cast<size_t>(KB)), d_head(dev, static_cast<size_t>(KB * 2 * A)),
      actor_grad(dev, static_cast<size_t>(K * Pa)), alpha_grad(dev, static_cast<size_t>(K)),
      mean_logp(dev, static_cast<size_t>(K));
  Buffer<float> low = Buffer<float>::from_host(dev, env.action_low), high = Buffer<float>::from_host(dev, env.action_high);
  ops::squashed_gaussian(dev, SquashedGaussianArgs{KB, A, actor_tape.output(), low.data(), high.data(), kLogStdMin,
                                                   kLogStdMax, static_cast<uint64_t>(opt.seed), RngPurpose::kSacPolicy,
                                                   1, 0, act.data(), logp.data(), eps.data()});
  for (int j = 0; j < 2; ++j)
    memory::copy_device_to_device(dev, act2.data() + j * KB * A, act.data(), KB * A * sizeof(float));
  mlp_forward(critic, critic_p.data(), {{d_obs.data(), S, 0}, {act2.data(), A, static_cast<int64_t>(B) * A}},
              critic_tape);
  critic_action_grad(critic, critic_p.data(), critic_tape, S, dq_da_all.data());
  ops::min_q_grad(dev, MinQGradArgs{2, KB, A, critic_tape.output(), dq_da_all.data(), dq_da.data(), q_min.data()});
  ops::sac_actor_grad(dev, SacActorGradArgs{KB, A, B, actor_tape.output(), eps.data(), low.data(), high.data(),
                                            kLogStdMin, kLogStdMax, dq_da.data(), d_log_alpha.data(),
                                            1.0f / static_cast<float>(B), d_head.data()});
  mlp_backward(actor, actor_p.data(), actor_tape, d_head.data(), static_cast<int64_t>(B) * 2 * A, 1.0f,
               actor_grad.data());
  ops::alpha_grad(dev, AlphaGradArgs{K, B, logp.data(), d_log_alpha.data(), static_cast<float>(H), alpha_grad.data(),
                                     mean_logp.data()});
  const auto h_head = device_vector(dev, actor_tape.output(), static_cast<size_t>(KB * 2 * A));
  const auto h_q = device_vector(dev, critic_tape.output(), static_cast<size_t>(2 * KB));
  const auto h_act = act.to_host(), h_logp = logp.to_host(), h_eps = eps.to_host(), h_dq_da = dq_da.to_host(),
             h_q_min = q_min.to_host(), h_d_head = d_head.to_host(), h_actor_grad = actor_grad.to_host(),
             h_alpha_grad = alpha_grad.to_host(), h_actor_p = actor_p.to_host(), h_critic_p = critic_p.to_host();

  // float64: the squashed Gaussian from a row's heads at the kernel's noise.
  using Pattern = std::vector<uint8_t>;
  struct Sample {
    std::vector<double> a;
    double log_prob = 0;
  };
  auto sample64 = [&](const std::vector<double>& head, const float* e) {
    Sample out;
    for (int d = 0; d < A; ++d) {
      const double lo = env.action_low[d], hi = env.action_high[d], s = (hi - lo) / 2, c = (hi + lo) / 2;
      const double log_std = kLogStdMin + (kLogStdMax - kLogStdMin) * (std::tanh(head[A + d]) + 1) / 2;
      const double t = std::tanh(head[d] + std::exp(log_std) * e[d]);
      out.a.push_back(c + s * t);
      out.log_prob += -0.5 * e[d] * e[d] - log_std - 0.5 * std::log(2 * M_PI) -
                      std::log(s * (1 - t * t) + static_cast<double>(kSacLogProbEps));
    }
    return out;
  };
  CentralDifference fd;
  std::vector<double> act64, logp64, qmin64, dqda_fd, dhead_fd, agrad_got, agrad_fd, alpha64;
  for (int k = 0; k < K; ++k) {
    Net64 mu{&actor, to64(std::vector<float>(h_actor_p.begin() + k * Pa, h_actor_p.begin() + (k + 1) * Pa))};
    std::vector<Net64> qn;
    for (int j = 0; j < 2; ++j) {
      const int64_t m = j * K + k;
      qn.push_back({&critic, to64(std::vector<float>(h_critic_p.begin() + m * Pc, h_critic_p.begin() + (m + 1) * Pc))});
    }
    const double alpha = std::exp(static_cast<double>(log_alpha[k]));
    auto state = [&](int b) {
      return std::vector<double>(obs.begin() + static_cast<size_t>(b) * S, obs.begin() + static_cast<size_t>(b + 1) * S);
    };
    // min_j Q_j(s_b, a); the pattern also records which twin is the smaller.
    auto q_min_at = [&](int b, const std::vector<double>& a, Pattern* pattern) {
      std::vector<double> x = state(b);
      x.insert(x.end(), a.begin(), a.end());
      const double q0 = qn[0].forward(x, pattern)[0], q1 = qn[1].forward(x, pattern)[0];
      if (pattern) pattern->push_back(q1 < q0);
      return std::min(q0, q1);
    };
    const float* row_eps = h_eps.data() + static_cast<size_t>(k) * B * A;
    // The row's share of the actor's loss, from its heads.
    auto row_loss = [&](int b, const std::vector<double>& head, Pattern* pattern) {
      const Sample smp = sample64(head, row_eps + static_cast<size_t>(b) * A);
      return (alpha * smp.log_prob - q_min_at(b, smp.a, pattern)) / B;
    };
    double sum_logp = 0;
    for (int b = 0; b < B; ++b) {
      const std::vector<double> head = mu.forward(state(b));
      const Sample smp = sample64(head, row_eps + static_cast<size_t>(b) * A);
      act64.insert(act64.end(), smp.a.begin(), smp.a.end());
      logp64.push_back(smp.log_prob);
      sum_logp += smp.log_prob;
      qmin64.push_back(q_min_at(b, smp.a, nullptr));
      const size_t row = static_cast<size_t>(k * B + b);
      const std::vector<double> a_kernel = to64(std::vector<float>(h_act.begin() + row * A, h_act.begin() + (row + 1) * A));
      for (int d = 0; d < A; ++d) {
        dqda_fd.push_back(fd([&](double t, Pattern* pattern) {
          auto shifted = a_kernel;
          shifted[d] += t;
          return std::vector<double>{q_min_at(b, shifted, pattern)};
        })[0]);
      }
      for (int i = 0; i < 2 * A; ++i) {
        dhead_fd.push_back(fd([&](double t, Pattern* pattern) {
          auto shifted = head;
          shifted[i] += t;
          return std::vector<double>{row_loss(b, shifted, pattern)};
        })[0]);
      }
    }
    alpha64.push_back(-alpha * (sum_logp / B + H));
    auto actor_loss = [&](const Net64& m, Pattern* pattern) {
      double s = 0;
      for (int b = 0; b < B; ++b) s += row_loss(b, m.forward(state(b), pattern), pattern);
      return s;
    };
    for (int64_t j : checked_params(actor, static_cast<uint64_t>(opt.seed), k)) {
      agrad_got.push_back(h_actor_grad[k * Pa + j]);
      agrad_fd.push_back(fd([&](double t, Pattern* pattern) {
        Net64 shifted = mu;
        shifted.p[j] += t;
        return std::vector<double>{actor_loss(shifted, pattern)};
      })[0]);
    }
  }

  const std::vector<CheckRow> rows = {
      {"action (vs float64)", compare(to64(h_act), act64), 1e-4, act64.size()},
      {"log pi (vs float64)", compare(to64(h_logp), logp64), 1e-4, logp64.size()},
      {"min_j Q_j (vs float64)", compare(to64(h_q_min), qmin64), 1e-4, qmin64.size()},
      {"dQmin/da (vs FD)", compare(to64(h_dq_da), dqda_fd), 1e-3, dqda_fd.size()},
      {"dL/d(heads) (vs FD)", compare(to64(h_d_head), dhead_fd), 1e-3, dhead_fd.size()},
      {"actor grad (vs FD)", compare(agrad_got, agrad_fd), 1e-3, agrad_fd.size()},
      {"dL/dlog_alpha (vs f64)", compare(to64(h_alpha_grad), alpha64), 1e-4, alpha64.size()},
  };
  fmt::print("gradcheck sac: env {} (obs {}, act {}), hidden {}{}, batch {}, agents {} (twin critics each), seed {}, {}\n",
             env.name, S, A, opt.hidden, opt.layer_norm ? " with LayerNorm" : "", B, K, opt.seed, dev.describe());
  fmt::print("actor: {} params per agent (heads: mean and log-std, {} each); critic: {} params per member\n", Pa, A, Pc);
  const bool ok = report_rows(rows);
  if (fd.shrunk > 0) {
    fmt::print("  ({} finite differences taken with a smaller step: a ReLU input or the twins' order within the step{})\n",
               fd.shrunk, fd.unresolved ? fmt::format(", {} still crossing at 1e-10", fd.unresolved) : "");
  }

  if (!opt.dump.empty()) {
    namespace fs = std::filesystem;
    prepare_output_dir(opt.dump, "--dump");
    const auto path = [&](const char* f) { return (fs::path(opt.dump) / f).string(); };
    npy::write(path("obs.npy"), {B, S}, obs);
    npy::write(path("actor_params.npy"), {K, Pa}, h_actor_p);
    npy::write(path("critic_params.npy"), {2, K, Pc}, h_critic_p);
    npy::write(path("log_alpha.npy"), {K}, log_alpha);
    npy::write(path("eps.npy"), {K, B, A}, h_eps);
    npy::write(path("heads.npy"), {K, B, 2 * A}, h_head);
    npy::write(path("actions.npy"), {K, B, A}, h_act);
    npy::write(path("log_prob.npy"), {K, B}, h_logp);
    npy::write(path("q.npy"), {2, K, B}, h_q);
    npy::write(path("dq_da.npy"), {K, B, A}, h_dq_da);
    npy::write(path("d_heads.npy"), {K, B, 2 * A}, h_d_head);
    npy::write(path("actor_grad.npy"), {K, Pa}, h_actor_grad);
    npy::write(path("alpha_grad.npy"), {K}, h_alpha_grad);
    const auto f = file_entry;
    nlohmann::json index = index_header(opt, env, dev, B, K);
    index.update({
        {"algo", "sac"},
        {"log_std_min", kLogStdMin},
        {"log_std_max", kLogStdMax},
        {"log_prob_eps", kSacLogProbEps},
        {"target_entropy", H},
        {"action_low", env.action_low},
        {"action_high", env.action_high},
        {"actor", layout_json(actor, K)},
        {"critic", layout_json(critic, 2 * K)},
        {"files",
         {{"obs", f("obs.npy", {B, S}, "observations, shared by all agents")},
          {"actor_params", f("actor_params.npy", {K, Pa}, "actor parameters, flat layout; output row [mean (A) | raw log-std (A)]")},
          {"critic_params", f("critic_params.npy", {2, K, Pc}, "twin critics: [j, k] is agent k's critic j; input concat(obs, action)")},
          {"log_alpha", f("log_alpha.npy", {K}, "log of each agent's temperature")},
          {"eps", f("eps.npy", {K, B, A}, "the standard normal noise of the sample")},
          {"heads", f("heads.npy", {K, B, 2 * A}, "the actor's output: [mean | raw log-std]")},
          {"actions", f("actions.npy", {K, B, A}, "a = c + s tanh(mean + exp(log_std) eps)")},
          {"log_prob", f("log_prob.npy", {K, B}, "log pi(a | obs)")},
          {"q", f("q.npy", {2, K, B}, "Q_jk(obs, a_k)")},
          {"dq_da", f("dq_da.npy", {K, B, A}, "dQ/da of the smaller twin, per row")},
          {"d_heads", f("d_heads.npy", {K, B, 2 * A}, "dL_k/d(heads), L_k = mean_b [alpha_k log pi - min_j Q_jk], noise fixed")},
          {"actor_grad", f("actor_grad.npy", {K, Pa}, "dL_k/du_k, the actor's parameter gradient")},
          {"alpha_grad", f("alpha_grad.npy", {K}, "dJ/dlog_alpha_k, J = -alpha_k mean_b (log pi + target_entropy)")}}}});
    write_index(opt.dump, std::move(index), rows, 13);
  }
  if (!ok) throw Error("gradcheck: a quantity exceeds its tolerance (see above)");
}

void run_gradcheck(const GradcheckOptions& opt) {
  ACX_USAGE_CHECK(opt.batch >= 1 && opt.batch <= 4096, "--batch must be in [1, 4096]");
  ACX_USAGE_CHECK(opt.members >= 1 && opt.members <= 64, "--members must be in [1, 64]");
  const EnvInfo& env = find_env(opt.env);
  const std::vector<int> hidden = parse_hidden(opt.hidden);
  const Device dev = Device::create(opt.device, 0, &std::cerr);
  if (opt.algo == "sac") return run_gradcheck_sac(opt, env, hidden, dev);
  const int E = opt.members, B = opt.batch, S = env.obs_dim, A = env.act_dim;

  MlpSpec as;
  as.in_dim = S;
  as.hidden = hidden;
  as.out_dim = A;
  as.output = Activation::kTanhScaled;
  as.out_low = env.action_low;
  as.out_high = env.action_high;
  as.layer_norm = opt.layer_norm;
  MlpSpec cs;
  cs.in_dim = S + A;
  cs.hidden = hidden;
  cs.out_dim = 1;
  cs.layer_norm = opt.layer_norm;
  const Mlp actor(dev, as), critic(dev, cs);
  const int64_t Pa = actor.n_params(), Pc = critic.n_params();

  // Parameters (PyTorch's default init) and a batch of observations drawn
  // within the env's bounds where they are finite, else in [-2, 2].
  Buffer<float> actor_p(dev, static_cast<size_t>(E * Pa)), critic_p(dev, static_cast<size_t>(E * Pc));
  mlp_init(actor, E, opt.seed, 1, actor_p.data());
  mlp_init(critic, E, opt.seed, 2, critic_p.data());
  std::vector<float> direction(static_cast<size_t>(E * Pa));
  PhiloxStream rng(opt.seed, RngPurpose::kTest, 0, 0);
  if (opt.layer_norm) {
    PhiloxStream ln_rng(opt.seed, RngPurpose::kTest, 100, 0);
    spread_layer_norm(actor, E, ln_rng, actor_p);
    spread_layer_norm(critic, E, ln_rng, critic_p);
  }
  const std::vector<float> obs = draw_observations(env, B, rng);
  for (float& v : direction) v = rng.uniform(-1.0f, 1.0f);
  Buffer<float> d_obs = Buffer<float>::from_host(dev, obs), d_dir = Buffer<float>::from_host(dev, direction);

  // The kernels: a = mu(s), Q(s, a), dQ/da, the actor gradient of mean_b Q(s_b, mu(s_b)),
  // the critic gradient of mean_b Q(s_b, a_b), and the JVP along `direction`.
  MlpTape actor_tape(actor, E, B), critic_tape(critic, E, B);
  const std::vector<MlpInput> actor_in = {{d_obs.data(), S, 0}};
  mlp_forward(actor, actor_p.data(), actor_in, actor_tape);
  const std::vector<float> actions = device_vector(dev, actor_tape.output(), static_cast<size_t>(E * B * A));
  mlp_forward(critic, critic_p.data(), {{d_obs.data(), S, 0}, {actor_tape.output(), A, static_cast<int64_t>(B) * A}},
              critic_tape);
  const std::vector<float> q = device_vector(dev, critic_tape.output(), static_cast<size_t>(E * B));
  Buffer<float> dq_da(dev, static_cast<size_t>(E * B * A)), actor_grad(dev, static_cast<size_t>(E * Pa)),
      critic_grad(dev, static_cast<size_t>(E * Pc)), tangent(dev, static_cast<size_t>(E * B * A));
  critic_action_grad(critic, critic_p.data(), critic_tape, S, dq_da.data());
  mlp_backward(critic, critic_p.data(), critic_tape, nullptr, 0, 1.0f / static_cast<float>(B), critic_grad.data());
  actor_vjp(actor, actor_p.data(), actor_tape, dq_da.data(), static_cast<int64_t>(B) * A, 1.0f, actor_grad.data());
  actor_jvp(actor, actor_p.data(), d_dir.data(), actor_in, actor_tape, tangent.data());
  const auto h_dq_da = dq_da.to_host(), h_actor_grad = actor_grad.to_host(), h_critic_grad = critic_grad.to_host(),
             h_tangent = tangent.to_host(), h_actor_p = actor_p.to_host(), h_critic_p = critic_p.to_host();

  // float64 evaluations.
  CentralDifference fd;
  std::vector<double> q64, dq_da_fd, agrad_got, agrad_fd, cgrad_got, cgrad_fd, jvp_fd;
  for (int e = 0; e < E; ++e) {
    Net64 mu{&actor, to64(std::vector<float>(h_actor_p.begin() + e * Pa, h_actor_p.begin() + (e + 1) * Pa))};
    Net64 qn{&critic, to64(std::vector<float>(h_critic_p.begin() + e * Pc, h_critic_p.begin() + (e + 1) * Pc))};
    auto state = [&](int b) {
      return std::vector<double>(obs.begin() + static_cast<size_t>(b) * S, obs.begin() + static_cast<size_t>(b + 1) * S);
    };
    using Pattern = std::vector<uint8_t>;
    auto q_at = [&](const Net64& c, int b, const std::vector<double>& a, Pattern* pattern = nullptr) {
      std::vector<double> x = state(b);
      x.insert(x.end(), a.begin(), a.end());
      return c.forward(x, pattern)[0];
    };
    auto actor_objective = [&](const Net64& m, Pattern* pattern) {
      double s = 0;
      for (int b = 0; b < B; ++b) s += q_at(qn, b, m.forward(state(b), pattern), pattern);
      return s / B;
    };
    auto critic_objective = [&](const Net64& c, Pattern* pattern) {
      double s = 0;
      for (int b = 0; b < B; ++b) {
        const size_t row = static_cast<size_t>(e * B + b) * A;
        s += q_at(c, b, to64(std::vector<float>(actions.begin() + row, actions.begin() + row + A)), pattern);
      }
      return s / B;
    };
    for (int b = 0; b < B; ++b) {
      const size_t row = static_cast<size_t>(e * B + b) * A;
      const std::vector<double> a = to64(std::vector<float>(actions.begin() + row, actions.begin() + row + A));
      q64.push_back(q_at(qn, b, a));
      for (int k = 0; k < A; ++k) {
        dq_da_fd.push_back(fd([&](double t, Pattern* pattern) {
          auto shifted = a;
          shifted[k] += t;
          return std::vector<double>{q_at(qn, b, shifted, pattern)};
        })[0]);
      }
      // JVP: (mu(u + h v) - mu(u - h v)) / 2h
      const auto jv = fd([&](double t, Pattern* pattern) {
        Net64 shifted = mu;
        for (int64_t j = 0; j < Pa; ++j) shifted.p[j] += t * direction[e * Pa + j];
        return shifted.forward(state(b), pattern);
      });
      jvp_fd.insert(jvp_fd.end(), jv.begin(), jv.end());
    }
    // Parameter gradients, one parameter at a time on a spread of indices.
    auto check_params = [&](const Net64& net, int64_t P, const std::vector<float>& grad, auto&& objective,
                            std::vector<double>& got, std::vector<double>& fd_out) {
      for (int64_t j : checked_params(*net.net, static_cast<uint64_t>(opt.seed), e)) {
        got.push_back(grad[e * P + j]);
        fd_out.push_back(fd([&](double t, Pattern* pattern) {
          Net64 shifted = net;
          shifted.p[j] += t;
          return std::vector<double>{objective(shifted, pattern)};
        })[0]);
      }
    };
    check_params(mu, Pa, h_actor_grad, actor_objective, agrad_got, agrad_fd);
    check_params(qn, Pc, h_critic_grad, critic_objective, cgrad_got, cgrad_fd);
  }

  const std::vector<CheckRow> rows = {
      {"Q (vs float64 forward)", compare(to64(q), q64), 1e-4, q64.size()},
      {"dQ/da (vs FD)", compare(to64(h_dq_da), dq_da_fd), 1e-3, dq_da_fd.size()},
      {"actor grad (vs FD)", compare(agrad_got, agrad_fd), 1e-3, agrad_fd.size()},
      {"critic grad (vs FD)", compare(cgrad_got, cgrad_fd), 1e-3, cgrad_fd.size()},
      {"actor JVP (vs FD)", compare(to64(h_tangent), jvp_fd), 1e-3, jvp_fd.size()},
  };
  fmt::print("gradcheck: env {} (obs {}, act {}), hidden {}{}, batch {}, members {}, seed {}, {}\n", env.name, S, A,
             opt.hidden, opt.layer_norm ? " with LayerNorm" : "", B, E, opt.seed, dev.describe());
  fmt::print("actor: {} params per member; critic: {} params per member\n", Pa, Pc);
  const bool ok = report_rows(rows);
  if (fd.shrunk > 0) {
    fmt::print("  ({} finite differences taken with a smaller step: a ReLU input within the step of 0{})\n", fd.shrunk,
               fd.unresolved ? fmt::format(", {} still crossing at 1e-10", fd.unresolved) : "");
  }

  if (!opt.dump.empty()) {
    namespace fs = std::filesystem;
    prepare_output_dir(opt.dump, "--dump");
    const auto path = [&](const char* f) { return (fs::path(opt.dump) / f).string(); };
    npy::write(path("obs.npy"), {B, S}, obs);
    npy::write(path("actor_params.npy"), {E, Pa}, h_actor_p);
    npy::write(path("critic_params.npy"), {E, Pc}, h_critic_p);
    npy::write(path("actions.npy"), {E, B, A}, actions);
    npy::write(path("q.npy"), {E, B}, q);
    npy::write(path("dq_da.npy"), {E, B, A}, h_dq_da);
    npy::write(path("actor_grad.npy"), {E, Pa}, h_actor_grad);
    npy::write(path("critic_grad.npy"), {E, Pc}, h_critic_grad);
    npy::write(path("jvp_direction.npy"), {E, Pa}, direction);
    npy::write(path("jvp.npy"), {E, B, A}, h_tangent);
    const auto f = file_entry;
    nlohmann::json index = index_header(opt, env, dev, B, E);
    index.update({
        {"actor", layout_json(actor, E)},
        {"critic", layout_json(critic, E)},
        {"files",
         {{"obs", f("obs.npy", {B, S}, "observations, shared by all members")},
          {"actor_params", f("actor_params.npy", {E, Pa}, "actor parameters, flat layout (per layer W, b, and with LayerNorm g, beta)")},
          {"critic_params", f("critic_params.npy", {E, Pc}, "critic parameters, flat layout; input concat(obs, action)")},
          {"actions", f("actions.npy", {E, B, A}, "a = mu_e(obs)")},
          {"q", f("q.npy", {E, B}, "Q_e(obs, a_e)")},
          {"dq_da", f("dq_da.npy", {E, B, A}, "dQ_e/da at (obs, a_e)")},
          {"actor_grad", f("actor_grad.npy", {E, Pa}, "d/du_e mean_b Q_e(obs_b, mu_e(obs_b; u_e)) (the actor VJP of dq_da, scale 1)")},
          {"critic_grad", f("critic_grad.npy", {E, Pc}, "d/dw_e mean_b Q_e(obs_b, a_eb; w_e), actions held fixed")},
          {"jvp_direction", f("jvp_direction.npy", {E, Pa}, "the parameter direction v")},
          {"jvp", f("jvp.npy", {E, B, A}, "d/dt mu_e(obs; u_e + t v_e) at t = 0")}}}});
    write_index(opt.dump, std::move(index), rows, 10);
  }
  if (!ok) throw Error("gradcheck: a quantity exceeds its tolerance (see above)");
}

}  // namespace

void register_gradcheck_command(CLI::App& app) {
  auto opt = std::make_shared<GradcheckOptions>();
  CLI::App* sub = app.add_subcommand(
      "gradcheck", "Check the gradient kernels (Q, dQ/da, actor VJP and JVP, critic gradient) against float64 finite differences");
  sub->add_option("--env", opt->env, "Env whose dimensions and action bounds the networks take")->capture_default_str();
  sub->add_option("--hidden", opt->hidden, "Hidden widths, comma-separated")->capture_default_str();
  sub->add_option("--batch", opt->batch, "Batch size")->capture_default_str()->check(CLI::Range(1, 65536));
  sub->add_option("--members", opt->members, "Ensemble members E")->capture_default_str()->check(CLI::Range(1, 4096));
  sub->add_option("--seed", opt->seed, "Seed of the parameters and the batch")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{9007199254740992}));
  sub->add_option("--dump", opt->dump, "Write inputs, parameters and outputs as .npy files and index.json here")
      ->check(non_empty());
  sub->add_option("--device", opt->device, "cpu, cuda, cuda:N or auto")->capture_default_str();
  sub->add_option("--algo", opt->algo,
                  "td3: the deterministic actor's gradients (also DDPG's); sac: the squashed Gaussian actor's loss "
                  "gradient through both heads, the smaller twin's dQ/da and the temperature's gradient")
      ->capture_default_str()
      ->check(CLI::IsMember({"td3", "sac"}));
  sub->add_flag("--layer-norm", opt->layer_norm, "LayerNorm (gain, shift) before every hidden ReLU of both networks");
  add_command(sub, [opt] { run_gradcheck(*opt); });
}

}  // namespace acx
