// The networks' cost on the CPU backend (issue 4): one TD3 critic update and
// one actor update at hidden 256x256, E = 2 twin critics, B in {256, 4096},
// as achieved GFLOP/s next to the machine's sgemm peak measured in the same
// run; and the explicit-Jacobian actor gradient against the VJP, which is why
// the VJP is used.
//
//   build/acx_bench_kernels --benchmark_filter='Sgemm|Td3|ActorGrad|MlpElement' --benchmark_out=mlp.json
//   python3 bench/mlp_report.py mlp.json      # Markdown table, fraction of the sgemm peak
//
// FLOPs are the GEMMs' 2 M N K, counted from the layer shapes (gemm_flops
// below); element kernels (bias, activation, LayerNorm, Adam) are not counted,
// so GFLOP/s is "GEMM work per second of the whole update" and the fraction
// of the sgemm peak says how much of the update the GEMMs' ideal speed
// explains. Per update, with S = obs_dim, A = act_dim, H = 256, E = 2, and
// F(in) = in H + H H + H out the multiply-adds of one forward of a 3-layer
// MLP (out = A for the actor, 1 for the critic):
//   critic update = 2 B F_actor(S)                   target actor, E = 1
//                 + 2 E B F_critic(S + A)            twin target critics
//                 + 2 E B F_critic(S + A)            online critics
//                 + 2 E B F_critic(S + A)            weight gradients
//                 + 2 E B (H H + H)                  input gradients of layers 2, 1
//   actor update  = 2 B F_actor(S) + 2 B F_critic(S + A)        forwards (critic member 0)
//                 + 2 B (H + H H + A H)              dQ/da: back to the action columns
//                 + 2 B F_actor(S) + 2 B (A H + H H) actor VJP: weight and input gradients
// e.g. pendulum (S 3, A 1), B 4096: critic update 4.907 GFLOP, actor update
// 2.718 GFLOP; HalfCheetah dims (S 17, A 6): 5.186 and 2.858 GFLOP (the
// hidden 256 x 256 products are 98% and 93% of it). B 256: 1/16 of these.
//
// The critic update follows TD3 (Fujimoto et al. 2018) without the target
// policy smoothing noise (an element-wise op on B x act_dim, the other
// issue's kernels/td_target.*) and without the Polyak update (every d-th
// step, with the actor); the TD target min(Q'_0, Q'_1) is a plain loop here.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "kernels/mlp.h"
#include "kernels/optim.h"
#include "kernels/philox.h"
#include "kernels/runtime/blas.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/error.h"

namespace acx {
namespace {

// lap(i) adds the time since the last lap (or construction) to seconds[i];
// with seconds == nullptr it does nothing, so the untimed path pays no clock reads.
class StageClock {
 public:
  explicit StageClock(double* seconds) : seconds_(seconds), last_(seconds ? Clock::now() : Clock::time_point{}) {}
  void operator()(int i) {
    if (!seconds_) return;
    const auto now = Clock::now();
    seconds_[i] += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  using Clock = std::chrono::steady_clock;
  double* seconds_;
  Clock::time_point last_;
};

constexpr int kHidden = 256;
constexpr float kGamma = 0.99f;

std::vector<float> random_vector(size_t n, uint32_t tag, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(n);
  PhiloxStream rng(17, RngPurpose::kTest, tag, 0);
  for (float& x : v) x = rng.uniform(lo, hi);
  return v;
}

Buffer<float> random_buffer(const Device& dev, size_t n, uint32_t tag, float lo = -1.0f, float hi = 1.0f) {
  return Buffer<float>::from_host(dev, random_vector(n, tag, lo, hi));
}

// ---- FLOP counts (the GEMMs' 2 M N K) ----------------------------------------------
int64_t forward_flops(const Mlp& net, int E, int B) {
  int64_t f = 0;
  for (int l = 0; l < net.n_layers(); ++l) f += 2LL * E * B * net.layer_in(l) * net.layer_out(l);
  return f;
}

// mlp_backward: weight gradients (when param_grads), input gradients of
// layers l > 0, and `input_cols` columns of the first layer's input gradient.
int64_t backward_flops(const Mlp& net, int E, int B, bool param_grads, int input_cols) {
  int64_t f = 0;
  for (int l = 0; l < net.n_layers(); ++l) {
    const int64_t mk = 2LL * E * B * net.layer_out(l);
    if (param_grads) f += mk * net.layer_in(l);
    f += l > 0 ? mk * net.layer_in(l) : mk * input_cols;
  }
  return f;
}

// The rate counters every benchmark here reports.
void report_flops(benchmark::State& state, int64_t flops, const Device& dev) {
  state.counters["GFLOP"] = static_cast<double>(flops) * 1e-9;
  state.counters["GFLOP/s"] = benchmark::Counter(static_cast<double>(flops) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = dev.cpu_threads();
}

// ---- (a) the machine's sgemm, through acx::gemm (OpenBLAS on the CPU) ---------------------
// bench/mlp_report.py takes the best of these as the peak the updates are
// compared with.
void BM_Sgemm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const Device dev = Device::cpu();
  const size_t nn = static_cast<size_t>(n) * n;
  Buffer<float> a = random_buffer(dev, nn, 1), b = random_buffer(dev, nn, 2), c(dev, nn);
  GemmShape s;
  s.m = s.n = s.k = n;
  gemm(dev, s, 1.0f, a.data(), b.data(), 0.0f, c.data());  // warm-up
  for (auto _ : state) gemm(dev, s, 1.0f, a.data(), b.data(), 0.0f, c.data());
  report_flops(state, 2LL * n * n * n, dev);
}
BENCHMARK(BM_Sgemm)->Arg(256)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);

// ---- (b), (c) TD3 updates ----------------------------------------------------------------------
struct Dims {
  int obs, act;
};
constexpr Dims kPendulum{3, 1};
constexpr Dims kHalfCheetah{17, 6};  // HalfCheetah-v4's sizes: a first layer that is not trivial

MlpSpec actor_spec(Dims d, bool layer_norm) {
  MlpSpec s;
  s.in_dim = d.obs;
  s.hidden = {kHidden, kHidden};
  s.out_dim = d.act;
  s.output = Activation::kTanhScaled;
  s.out_low.assign(d.act, -1.0f);
  s.out_high.assign(d.act, 1.0f);
  s.final_init_bound = 3e-3f;
  s.layer_norm = layer_norm;
  return s;
}

MlpSpec critic_spec(Dims d, bool layer_norm) {
  MlpSpec s;
  s.in_dim = d.obs + d.act;
  s.hidden = {kHidden, kHidden};
  s.out_dim = 1;
  s.layer_norm = layer_norm;
  return s;
}

// Everything one TD3 learner owns at batch B: an actor (E = 1) with its
// target, twin critics (E = 2) with their targets, Adam moments, tapes and a
// replay batch (random: the update's cost does not depend on the values).
struct Td3 {
  static constexpr int kCritics = 2;
  Device dev;
  Dims d;
  int B;
  Mlp actor, critic;
  Buffer<float> actor_p, actor_target_p, actor_grad, actor_m, actor_v;
  Buffer<float> critic_p, critic_target_p, critic_grad, critic_m, critic_v;
  Buffer<float> obs, next_obs, act, reward, not_done;  // (B, S), (B, S), (B, A), (B), (B)
  Buffer<float> y, dq, dq_da;                          // (B), (E, B), (B, A)
  MlpTape actor_tape, critic_tape, target_critic_tape, critic0_tape;  // E = 1, 2, 2, 1
  int64_t critic_step = 0, actor_step = 0;
  AdamConfig adam;

  Td3(const Device& dev_, Dims d_, int B_, bool layer_norm)
      : dev(dev_), d(d_), B(B_), actor(dev, actor_spec(d, layer_norm)), critic(dev, critic_spec(d, layer_norm)),
        actor_tape(actor, 1, B), critic_tape(critic, kCritics, B), target_critic_tape(critic, kCritics, B),
        critic0_tape(critic, 1, B) {
    const size_t Pa = static_cast<size_t>(actor.n_params()), Pc = static_cast<size_t>(critic.n_params());
    actor_p = Buffer<float>(dev, Pa);
    actor_target_p = Buffer<float>(dev, Pa);
    mlp_init(actor, 1, 1, 1, actor_p.data());
    actor_target_p.copy_from(actor_p);
    critic_p = Buffer<float>(dev, kCritics * Pc);
    critic_target_p = Buffer<float>(dev, kCritics * Pc);
    mlp_init(critic, kCritics, 1, 2, critic_p.data());
    critic_target_p.copy_from(critic_p);
    actor_grad = Buffer<float>(dev, Pa);
    actor_m = Buffer<float>(dev, Pa);
    actor_v = Buffer<float>(dev, Pa);
    critic_grad = Buffer<float>(dev, kCritics * Pc);
    critic_m = Buffer<float>(dev, kCritics * Pc);
    critic_v = Buffer<float>(dev, kCritics * Pc);
    actor_m.zero();
    actor_v.zero();
    critic_m.zero();
    critic_v.zero();
    obs = random_buffer(dev, static_cast<size_t>(B) * d.obs, 10, -2.0f, 2.0f);
    next_obs = random_buffer(dev, static_cast<size_t>(B) * d.obs, 11, -2.0f, 2.0f);
    act = random_buffer(dev, static_cast<size_t>(B) * d.act, 12);
    reward = random_buffer(dev, static_cast<size_t>(B), 13);
    not_done = Buffer<float>::from_host(dev, std::vector<float>(static_cast<size_t>(B), 1.0f));
    y = Buffer<float>(dev, static_cast<size_t>(B));
    dq = Buffer<float>(dev, static_cast<size_t>(kCritics) * B);
    dq_da = Buffer<float>(dev, static_cast<size_t>(B) * d.act);
  }

  int64_t critic_update_flops() const {
    return forward_flops(actor, 1, B) + 2 * forward_flops(critic, kCritics, B) +
           backward_flops(critic, kCritics, B, true, 0);
  }
  int64_t actor_update_flops() const {
    return forward_flops(actor, 1, B) + forward_flops(critic, 1, B) + backward_flops(critic, 1, B, false, d.act) +
           backward_flops(actor, 1, B, true, 0);
  }

  // One critic step; stage_seconds (7 entries) accumulates the time of each stage when not null.
  void critic_update(double* stage_seconds = nullptr) {
    StageClock lap(stage_seconds);
    const int S = d.obs, A = d.act;
    // a' = mu'(s'), then Q'_e(s', a') for both target critics (s' and a' shared).
    mlp_forward(actor, actor_target_p.data(), {{next_obs.data(), S, 0}}, actor_tape);
    lap(0);
    mlp_forward(critic, critic_target_p.data(), {{next_obs.data(), S, 0}, {actor_tape.output(), A, 0}},
                target_critic_tape);
    lap(1);
    // y = r + gamma (1 - done) min(Q'_0, Q'_1): B elements (kernels/td_target.* in the trainer).
    {
      const float* q = target_critic_tape.output();
      const float *r = reward.data(), *nd = not_done.data();
      float* yy = y.data();
      const int n = B;
#pragma omp parallel for schedule(static)
      for (int b = 0; b < n; ++b) yy[b] = r[b] + kGamma * nd[b] * std::min(q[b], q[n + b]);
    }
    lap(2);
    mlp_forward(critic, critic_p.data(), {{obs.data(), S, 0}, {act.data(), A, 0}}, critic_tape);
    lap(3);
    ops::td_loss_grad(dev, TdLoss::kMse, 0.0f, kCritics, B, critic_tape.output(), y.data(), 0, dq.data(), nullptr);
    lap(4);
    mlp_backward(critic, critic_p.data(), critic_tape, dq.data(), B, 1.0f, critic_grad.data());
    lap(5);
    ops::adam_step(dev, kCritics * critic.n_params(), adam, ++critic_step, critic_p.data(), critic_m.data(),
                   critic_v.data(), critic_grad.data());
    lap(6);
  }

  // One actor step: maximize Q_0(s, mu(s)) (TD3's actor follows critic 0).
  void actor_update(double* stage_seconds = nullptr) {
    StageClock lap(stage_seconds);
    const int S = d.obs, A = d.act;
    mlp_forward(actor, actor_p.data(), {{obs.data(), S, 0}}, actor_tape);
    lap(0);
    mlp_forward(critic, critic_p.data(), {{obs.data(), S, 0}, {actor_tape.output(), A, 0}}, critic0_tape);
    lap(1);
    critic_action_grad(critic, critic_p.data(), critic0_tape, S, dq_da.data());
    lap(2);
    actor_vjp(actor, actor_p.data(), actor_tape, dq_da.data(), 0, -1.0f, actor_grad.data());
    lap(3);
    ops::adam_step(dev, actor.n_params(), adam, ++actor_step, actor_p.data(), actor_m.data(), actor_v.data(),
                   actor_grad.data());
    lap(4);
  }
};

void report_stages(benchmark::State& state, const char* const* names, const double* seconds, int n) {
  for (int i = 0; i < n; ++i)
    state.counters[names[i]] = benchmark::Counter(seconds[i] * 1e3, benchmark::Counter::kAvgIterations);
}

void BM_Td3CriticUpdate(benchmark::State& state, Dims d, bool layer_norm) {
  const Device dev = Device::cpu();
  Td3 td3(dev, d, static_cast<int>(state.range(0)), layer_norm);
  for (int i = 0; i < 2; ++i) td3.critic_update();  // warm-up: pages touched, OpenMP and OpenBLAS threads up
  double stages[7] = {};
  for (auto _ : state) td3.critic_update(stages);
  static const char* const kNames[7] = {"ms_target_actor", "ms_target_critics", "ms_td_target", "ms_critics_fwd",
                                        "ms_td_loss_grad", "ms_critics_bwd",    "ms_adam"};
  report_stages(state, kNames, stages, 7);
  report_flops(state, td3.critic_update_flops(), dev);
}

void BM_Td3ActorUpdate(benchmark::State& state, Dims d, bool layer_norm) {
  const Device dev = Device::cpu();
  Td3 td3(dev, d, static_cast<int>(state.range(0)), layer_norm);
  for (int i = 0; i < 2; ++i) td3.actor_update();
  double stages[5] = {};
  for (auto _ : state) td3.actor_update(stages);
  static const char* const kNames[5] = {"ms_actor_fwd", "ms_critic0_fwd", "ms_dq_da", "ms_actor_vjp", "ms_adam"};
  report_stages(state, kNames, stages, 5);
  report_flops(state, td3.actor_update_flops(), dev);
}

void batches(benchmark::internal::Benchmark* b) {
  b->Arg(256)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);
}

BENCHMARK_CAPTURE(BM_Td3CriticUpdate, pendulum, kPendulum, false)->Apply(batches);
BENCHMARK_CAPTURE(BM_Td3CriticUpdate, halfcheetah_dims, kHalfCheetah, false)->Apply(batches);
BENCHMARK_CAPTURE(BM_Td3CriticUpdate, halfcheetah_dims_layernorm, kHalfCheetah, true)->Apply(batches);
BENCHMARK_CAPTURE(BM_Td3ActorUpdate, pendulum, kPendulum, false)->Apply(batches);
BENCHMARK_CAPTURE(BM_Td3ActorUpdate, halfcheetah_dims, kHalfCheetah, false)->Apply(batches);
BENCHMARK_CAPTURE(BM_Td3ActorUpdate, halfcheetah_dims_layernorm, kHalfCheetah, true)->Apply(batches);

// ---- the element kernels of one layer alone (where the non-GEMM time goes) -------------------
// E = 2, B = 4096, 256 features: the shapes of a critic's hidden layer.
void BM_MlpElementKernels(benchmark::State& state) {
  const int which = static_cast<int>(state.range(0));
  const int E = 2, B = 4096, n = kHidden;
  const size_t N = static_cast<size_t>(E) * B * n;
  std::vector<float> zh = random_vector(N, 20), bias = random_vector(static_cast<size_t>(E) * n, 21);
  std::vector<float> h(N), dz(N), db(static_cast<size_t>(E) * n), gain(static_cast<size_t>(E) * n, 1.0f);
  std::vector<float> rstd(static_cast<size_t>(E) * B);
  BiasActArgs fa{B, n, bias.data(), n, Activation::kRelu, nullptr, zh.data(), h.data()};
  ActBackwardArgs ba{B, n, h.data(), static_cast<int64_t>(B) * n, zh.data(), Activation::kRelu, nullptr, 1.0f, dz.data()};
  BiasGradArgs ga{B, n, dz.data(), db.data(), n};
  LayerNormArgs la{B, n, bias.data(), gain.data(), bias.data(), n, zh.data(), rstd.data(), dz.data(), h.data()};
  for (auto _ : state) {
    switch (which) {
      case 0: cpu_kernels::bias_act_forward(fa, E); break;
      case 1: cpu_kernels::act_backward(ba, E); break;
      case 2: cpu_kernels::bias_grad(ga, E); break;
      default: cpu_kernels::layer_norm_forward(la, E); break;
    }
    benchmark::ClobberMemory();
  }
  static const char* const kWhat[4] = {"bias_act_forward", "act_backward", "bias_grad", "layer_norm_forward"};
  state.SetLabel(kWhat[which]);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(N) * 4 * (which == 2 ? 1 : 2));
}
BENCHMARK(BM_MlpElementKernels)->DenseRange(0, 3)->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(0.3);

// ---- (d) the actor gradient: explicit Jacobian against the VJP --------------------------------
// A small actor (pendulum dims, hidden 64x64, B = 256, E = 1): the Jacobian
// da/du, B * act_dim x P, is built column by column from P JVPs along the
// basis vectors (tests/test_mlp.cpp's construction), then J^T g / B is one
// GEMV. The VJP gets the same vector from one backward pass. Both are
// checked against each other before timing.
constexpr int kJacBatch = 256, kJacHidden = 64;

struct SmallActor {
  Device dev;
  Mlp actor;
  int B;
  Buffer<float> p, obs, g, dir, jt, grad_vjp, grad_jac;  // jt: (P, B * A), J transposed
  MlpTape tape;

  explicit SmallActor(const Device& d)
      : dev(d), actor(dev, [] {
          MlpSpec s = actor_spec(kPendulum, false);
          s.hidden = {kJacHidden, kJacHidden};
          s.final_init_bound = 0.0f;
          return s;
        }()),
        B(kJacBatch), tape(actor, 1, kJacBatch) {
    const size_t P = static_cast<size_t>(actor.n_params()), BA = static_cast<size_t>(B) * actor.spec().out_dim;
    p = Buffer<float>(dev, P);
    mlp_init(actor, 1, 3, 1, p.data());
    obs = random_buffer(dev, static_cast<size_t>(B) * actor.spec().in_dim, 30, -2.0f, 2.0f);
    g = random_buffer(dev, BA, 31);
    dir = Buffer<float>(dev, P);
    dir.zero();
    jt = Buffer<float>(dev, P * BA);
    grad_vjp = Buffer<float>(dev, P);
    grad_jac = Buffer<float>(dev, P);
  }
  int64_t P() const { return actor.n_params(); }
  int BA() const { return B * actor.spec().out_dim; }

  void vjp() {
    mlp_forward(actor, p.data(), {{obs.data(), actor.spec().in_dim, 0}}, tape);
    actor_vjp(actor, p.data(), tape, g.data(), 0, 1.0f, grad_vjp.data());
  }
  void explicit_jacobian() {
    const std::vector<MlpInput> in = {{obs.data(), actor.spec().in_dim, 0}};
    const float one = 1.0f, zero = 0.0f;
    for (int64_t j = 0; j < P(); ++j) {
      memory::copy_host_to_device(dev, dir.data() + j, &one, sizeof(float));
      actor_jvp(actor, p.data(), dir.data(), in, tape, jt.data() + j * BA());  // row j of J^T: d a / d u_j
      memory::copy_host_to_device(dev, dir.data() + j, &zero, sizeof(float));
    }
    GemmShape s;  // (P, B A) (B A, 1)
    s.m = static_cast<int>(P());
    s.n = 1;
    s.k = BA();
    gemm(dev, s, 1.0f / static_cast<float>(B), jt.data(), g.data(), 0.0f, grad_jac.data());
  }
  int64_t vjp_flops() const { return forward_flops(actor, 1, B) + backward_flops(actor, 1, B, true, 0); }
  int64_t jacobian_flops() const {
    int64_t jvp = 0;  // per JVP: x W^T, x dW^T, and dx W^T for l > 0
    for (int l = 0; l < actor.n_layers(); ++l)
      jvp += (l > 0 ? 3LL : 2LL) * 2 * B * actor.layer_in(l) * actor.layer_out(l);
    return P() * jvp + 2LL * P() * BA();
  }
};

void BM_ActorGrad(benchmark::State& state, bool explicit_jacobian) {
  const Device dev = Device::cpu();
  SmallActor s(dev);
  s.vjp();
  s.explicit_jacobian();
  const auto a = s.grad_vjp.to_host(), b = s.grad_jac.to_host();
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
    norm = std::max(norm, static_cast<double>(std::fabs(a[i])));
  }
  if (!(diff <= 1e-4 * norm)) {
    state.SkipWithError("the explicit-Jacobian gradient and the VJP disagree");
    return;
  }
  for (auto _ : state) {
    if (explicit_jacobian) {
      s.explicit_jacobian();
    } else {
      s.vjp();
    }
  }
  const double act_bytes = 4.0 * s.B * (2.0 * (2 * kJacHidden + s.actor.spec().out_dim));  // the tape's pre and post
  state.counters["P"] = static_cast<double>(s.P());
  state.counters["max_rel_diff"] = diff / norm;
  state.counters["MB_extra"] = (explicit_jacobian ? 4.0 * s.P() * s.BA() : act_bytes) * 1e-6;  // J, or the tape
  report_flops(state, explicit_jacobian ? s.jacobian_flops() : s.vjp_flops(), dev);
}
BENCHMARK_CAPTURE(BM_ActorGrad, vjp, false)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.3);
BENCHMARK_CAPTURE(BM_ActorGrad, explicit_jacobian, true)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace acx
