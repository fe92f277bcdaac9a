// bench.cpp: the measurements of `acx bench` (bench.h): the reference kernels,
// one training iteration's ops timed at each size, their roofline, the report.
// The regression check between two reports is bench_compare.cpp.
#include "host/cli/bench.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define ACX_HAVE_CALLGRIND 1
#else
#define ACX_HAVE_CALLGRIND 0
#endif

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>

#include "envs/vec_env.h"
#include "host/learn/agent.h"
#include "kernels/explore.h"
#include "kernels/mlp.h"
#include "kernels/optim.h"
#include "kernels/philox.h"
#include "kernels/replay.h"
#include "kernels/runtime/blas.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/cuda_api.h"
#include "kernels/runtime/device.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/machine.h"
#include "kernels/td_target.h"

namespace acx::bench {

using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

// ---- statistics ------------------------------------------------------------------------
double median_of(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// median, min, max, the median absolute deviation and the count of samples.
json summary(const std::vector<double>& v) {
  const double med = median_of(v);
  std::vector<double> dev;
  for (double x : v) dev.push_back(std::fabs(x - med));
  return {{"median", med},
          {"min", *std::min_element(v.begin(), v.end())},
          {"max", *std::max_element(v.begin(), v.end())},
          {"mad", median_of(dev)},
          {"n", v.size()}};
}

// ---- cost models: FLOPs and the bytes an op must move at least ---------------------------
// Each operand is counted once (read or written); element work (bias,
// activation, Philox) is not counted as FLOPs. These are floors for the
// roofline, not a trace of the memory system.
struct Cost {
  double flops = 0, bytes = 0;
  Cost& operator+=(const Cost& o) {
    flops += o.flops;
    bytes += o.bytes;
    return *this;
  }
  Cost operator*(double s) const { return {flops * s, bytes * s}; }
};
Cost operator+(Cost a, const Cost& b) { return a += b; }

constexpr double kF = sizeof(float);

// mlp_forward over E members of B rows: per layer z = x W^T (2 E B in out
// FLOPs); bytes: the E members' parameters, the input once (shared or not),
// z and h written.
Cost mlp_forward_cost(const Mlp& net, int E, int64_t B, bool shared_input) {
  Cost c;
  c.bytes = kF * (static_cast<double>(E) * net.n_params() + (shared_input ? 1.0 : E) * B * net.layer_in(0));
  for (int l = 0; l < net.n_layers(); ++l) {
    c.flops += 2.0 * E * B * net.layer_in(l) * net.layer_out(l);
    c.bytes += kF * 2.0 * E * B * net.layer_out(l);
  }
  return c;
}

// mlp_backward: the weight gradients (when param_grads: 2 E B in out per
// layer), the input gradients of layers l > 0 and of `input_cols` columns of
// the first; bytes: W read, dW written, each layer's z and input read, the
// deltas written.
Cost mlp_backward_cost(const Mlp& net, int E, int64_t B, bool param_grads, int input_cols) {
  Cost c;
  c.bytes = kF * E * net.n_params() * (param_grads ? 2.0 : 1.0);
  for (int l = 0; l < net.n_layers(); ++l) {
    const double eb_out = static_cast<double>(E) * B * net.layer_out(l);
    if (param_grads) c.flops += 2.0 * eb_out * net.layer_in(l);
    c.flops += 2.0 * eb_out * (l > 0 ? net.layer_in(l) : input_cols);
    c.bytes += kF * (2.0 * eb_out + static_cast<double>(E) * B * net.layer_in(l));
  }
  return c;
}

constexpr int kRefs = 3;  // the reference kernels (below)

// ---- timing ------------------------------------------------------------------------------
// One timed figure. `fn` runs `calls` units of work (e.g. 2 updates, so the
// actor step's every-other-update cost is averaged); seconds are per unit.
struct Item {
  std::string kernel;   // env_step, replay_store, ..., ref_sgemm
  std::string what;     // one line for the report
  std::string size_label;
  json size;
  Cost cost;            // per unit
  std::map<std::string, double> per_unit;  // rate name -> count per unit (env steps, samples, ...)
  std::function<void()> fn;
  std::function<void()> setup;  // before each round's sample, untimed (may be empty)
  int calls = 1;
  int inner = 1;        // fn calls per sample, calibrated
  double inject = 1.0;  // the test hook's factor
  std::vector<double> seconds;  // per unit, one per round: the median chunk
  std::vector<double> best;     // per unit, one per round: the fastest chunk
  std::vector<double> ref[kRefs];  // the same round's reference seconds (sgemm, copy, cache_copy)
  std::vector<double> ref_best[kRefs];  // ... and their fastest chunks

  std::string name() const { return size_label.empty() ? kernel : kernel + "/" + size_label; }
};

double time_once(const Device& dev, Item& it, int reps) {
  dev.synchronize();
  const auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) it.fn();
  dev.synchronize();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A sample is kChunks chunks of `inner` calls, each chunk timed on its own
// (synchronized at its end); the sample is the median chunk. A stall of the
// machine (another process taking a core, an OpenMP thread descheduled at a
// barrier) lands in one chunk and is dropped instead of averaged in.
constexpr int kChunks = 5;

// Warm-up (pages touched, caches and BLAS buffers filled), then the calls
// per chunk that make a sample last about `target_s`: the fastest of three
// single calls sets the count, so a stall during calibration does not.
void calibrate(const Device& dev, Item& it, double target_s) {
  if (it.setup) it.setup();
  double t = time_once(dev, it, 1);
  for (int i = 0; i < 3; ++i) t = std::min(t, time_once(dev, it, 1));
  it.inner = static_cast<int>(std::clamp(std::round(target_s / kChunks / std::max(t, 1e-9)), 1.0, 100000.0));
}

// Seconds per unit of work: the median chunk and the fastest.
struct Sample {
  double median, best;
};
Sample sample(const Device& dev, Item& it) {
  if (it.setup) it.setup();
  std::vector<double> chunks;
  const double unit = static_cast<double>(it.inner) * it.calls;
  for (int c = 0; c < kChunks; ++c) chunks.push_back(time_once(dev, it, it.inner) / unit * it.inject);
  return {median_of(chunks), *std::min_element(chunks.begin(), chunks.end())};
}

std::map<std::string, double> parse_inject(const std::string& s) {
  std::map<std::string, double> out;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    if (tok.empty()) continue;
    const auto colon = tok.rfind(':');
    ACX_USAGE_CHECK(colon != std::string::npos && colon > 0,
                    std::string(kInjectEnv) + ": expected FIGURE:FACTOR, got " + quote_input(tok));
    char* end = nullptr;
    const double f = std::strtod(tok.c_str() + colon + 1, &end);
    ACX_USAGE_CHECK(end && *end == '\0' && f > 0, std::string(kInjectEnv) + ": bad factor in " + quote_input(tok));
    out[tok.substr(0, colon)] = f;
  }
  return out;
}

// The test hook's factor for `it`, by its kernel or its full name.
void set_injected_slowdown(Item& it, const std::map<std::string, double>& inject) {
  for (const std::string& key : {it.kernel, it.name()}) {
    const auto f = inject.find(key);
    if (f != inject.end()) it.inject = f->second;
  }
}

// ---- the reference kernels ---------------------------------------------------------------
// Three, measured in every round: sgemm (the compute ceiling), a copy far
// beyond the last-level cache (the DRAM ceiling), and a copy that fits in it
// (the cache ceiling: a kernel whose working set is cache-resident tracks
// the cache's contention, which a DRAM copy does not see).
constexpr int kRefGemm = 512;
constexpr size_t kRefCopyBytes = size_t{64} << 20;       // per array
constexpr size_t kRefCacheCopyBytes = size_t{1} << 20;   // per array
constexpr double kCacheResidentBytes = 8.0 * (1 << 20);  // a figure moving less per call uses the cache reference
const char* const kRefNames[kRefs] = {"sgemm", "copy", "cache_copy"};

struct References {
  Buffer<float> a, b, c;                    // sgemm operands (512, 512)
  Buffer<float> src, dst, small_src, small_dst;  // the copies
  Item item[kRefs];
};

void fill_random(Buffer<float>& buf, uint32_t tag, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(buf.size());
  PhiloxStream rng(7, RngPurpose::kTest, tag, 0);
  for (float& x : v) x = rng.uniform(lo, hi);
  buf.copy_from_host(v.data(), v.size());
}

// A STREAM-style copy: dst = src, counted as 2 x bytes (read + write). On the
// CPU an OpenMP loop over the device's threads (memmove would use one core);
// on a GPU cudaMemcpyAsync device to device.
void stream_copy(const Device& dev, float* dst, const float* src, int64_t n) {
  if (dev.is_cuda()) {
    memory::copy_device_to_device(dev, dst, src, n * sizeof(float));
    return;
  }
#pragma omp parallel for simd schedule(static) num_threads(dev.cpu_threads())
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

std::unique_ptr<References> make_references(const Device& dev) {
  auto r = std::make_unique<References>();
  const size_t nn = static_cast<size_t>(kRefGemm) * kRefGemm;
  r->a = Buffer<float>(dev, nn);
  r->b = Buffer<float>(dev, nn);
  r->c = Buffer<float>(dev, nn);
  fill_random(r->a, 1);
  fill_random(r->b, 2);
  constexpr int64_t n = static_cast<int64_t>(kRefCopyBytes / sizeof(float));
  constexpr int64_t m = static_cast<int64_t>(kRefCacheCopyBytes / sizeof(float));
  r->src = Buffer<float>(dev, n);
  r->dst = Buffer<float>(dev, n);
  r->small_src = Buffer<float>(dev, m);
  r->small_dst = Buffer<float>(dev, m);
  r->src.zero();
  r->small_src.zero();
  // First touch by the threads that will copy.
  stream_copy(dev, r->dst.data(), r->src.data(), n);
  stream_copy(dev, r->src.data(), r->dst.data(), n);
  stream_copy(dev, r->small_dst.data(), r->small_src.data(), m);

  Item& g = r->item[0];
  g.kernel = "ref_sgemm";
  g.what = fmt::format("sgemm {0}x{0}x{0} through acx::gemm ({1})", kRefGemm, blas_name(dev));
  g.cost = {2.0 * kRefGemm * kRefGemm * kRefGemm, 3.0 * kF * nn};
  g.fn = [&dev, p = r.get()] {
    GemmShape s;
    s.m = s.n = s.k = kRefGemm;
    gemm(dev, s, 1.0f, p->a.data(), p->b.data(), 0.0f, p->c.data());
  };
  Item& c = r->item[1];
  c.kernel = "ref_copy";
  c.what = fmt::format("copy of {} MiB, counted read + write", kRefCopyBytes >> 20);
  c.cost = {0.0, 2.0 * kRefCopyBytes};
  c.fn = [&dev, p = r.get()] { stream_copy(dev, p->dst.data(), p->src.data(), n); };
  Item& k = r->item[2];
  k.kernel = "ref_cache_copy";
  k.what = fmt::format("copy of {} KiB (cache-resident), counted read + write", kRefCacheCopyBytes >> 10);
  k.cost = {0.0, 2.0 * kRefCacheCopyBytes};
  k.fn = [&dev, p = r.get()] { stream_copy(dev, p->small_dst.data(), p->small_src.data(), m); };
  return r;
}

// ---- one size of the training iteration ---------------------------------------------------
// The real pieces (VecEnv, ReplayBuffer, Agent) as the trainer builds them,
// plus a TD3 update taken apart into its stages (the same kernels
// Agent::update launches, in the same order) so that each stage is timed on
// its own.
struct Rig {
  Device dev;
  EnvInfo info;
  BenchSize sz;
  int S, A;
  std::unique_ptr<VecEnv> env;
  std::unique_ptr<ReplayBuffer> replay;
  ReplayBatch batch;
  AgentConfig agent_cfg;
  std::unique_ptr<Agent> agent;
  Buffer<float> step_actions, actions, mu, obs_prev, sigma, low, high;  // (N, A) (N, A) (N, A) (N, S) (N) (A) (A)
  // The update's stages: actor (E = 1), twin critics (E = 2), their targets and optimizer state.
  Buffer<float> actor_p, actor_t, actor_g, actor_m, actor_v;        // (Pa)
  Buffer<float> critic_p, critic_t, critic_g, critic_m, critic_v;   // (2, Pc)
  Buffer<float> next_act, y, dq, loss, dq_da;                       // (B, A) (2, B) (2, B) (2) (B, A)
  std::unique_ptr<MlpTape> act_tape, actor_tape, target_actor_tape, critic_tape, target_critic_tape, critic0_tape;
  uint64_t step_index = 0, sample_index = 0, update_index = 0;
  int64_t adam_steps = 0;

  Rig(const Device& d, const std::string& env_name, const BenchSize& s, bool quick) : dev(d), sz(s) {
    info = find_registered_env(env_name);
    S = info.obs_dim;
    A = info.act_dim;
    const int64_t N = sz.n_envs;
    const int B = sz.batch;
    env = make_vec_env(dev, env_name, N);
    env->reset(11);

    agent_cfg.algo = Algo::kTd3;
    agent_cfg.actor_hidden = agent_cfg.critic_hidden = {sz.hidden, sz.hidden};
    agent_cfg.batch = B;
    reset_agent();

    ReplayConfig rc;
    rc.n_envs = N;
    rc.obs_dim = S;
    rc.act_dim = A;
    rc.capacity = std::max<int64_t>(quick ? int64_t{1} << 18 : int64_t{1} << 20, 16 * N);
    replay = std::make_unique<ReplayBuffer>(dev, rc);
    batch = replay->make_batch(B);

    // Actions inside 1.5x the box, fixed (the env clips what its physics needs).
    std::vector<float> a(N * A);
    PhiloxStream rng(3, RngPurpose::kTest, 0, 0);
    for (int64_t i = 0; i < N; ++i)
      for (int k = 0; k < A; ++k)
        a[i * A + k] = 0.5f * (info.action_low[k] + info.action_high[k]) +
                       0.75f * (info.action_high[k] - info.action_low[k]) * rng.uniform(-1.0f, 1.0f);
    step_actions = Buffer<float>::from_host(dev, a);
    actions = Buffer<float>(dev, N * A);
    mu = Buffer<float>(dev, N * A);
    obs_prev = Buffer<float>(dev, N * S);
    sigma = Buffer<float>::from_host(dev, std::vector<float>(N, 0.1f));
    low = Buffer<float>::from_host(dev, info.action_low);
    high = Buffer<float>::from_host(dev, info.action_high);

    // Fill the replay buffer with real transitions.
    while (replay->size_steps() < replay->capacity_steps()) {
      memory::copy_device_to_device(dev, obs_prev.data(), env->obs(), N * S * sizeof(float));
      env->step(step_actions.data());
      store();
    }
    replay->sample(B, 5, sample_index++, batch);

    const Mlp& actor = agent->actor();
    const Mlp& critic = agent->critic();
    const int64_t pa = actor.n_params(), pc = critic.n_params();
    auto zeros = [&](int64_t n) {
      Buffer<float> b(dev, static_cast<size_t>(n));
      b.zero();
      return b;
    };
    actor_p = Buffer<float>(dev, pa);
    mlp_init(actor, 1, 21, 1, actor_p.data());
    actor_t = Buffer<float>(dev, pa);
    actor_t.copy_from(actor_p);
    critic_p = Buffer<float>(dev, 2 * pc);
    mlp_init(critic, 2, 21, 2, critic_p.data());
    critic_t = Buffer<float>(dev, 2 * pc);
    critic_t.copy_from(critic_p);
    actor_g = zeros(pa), actor_m = zeros(pa), actor_v = zeros(pa);
    critic_g = zeros(2 * pc), critic_m = zeros(2 * pc), critic_v = zeros(2 * pc);
    next_act = Buffer<float>(dev, B * A);
    y = Buffer<float>(dev, 2 * B);
    dq = Buffer<float>(dev, 2 * B);
    loss = zeros(2);
    dq_da = Buffer<float>(dev, B * A);
    act_tape = std::make_unique<MlpTape>(actor, 1, static_cast<int>(N));
    actor_tape = std::make_unique<MlpTape>(actor, 1, B);
    target_actor_tape = std::make_unique<MlpTape>(actor, 1, B);
    critic_tape = std::make_unique<MlpTape>(critic, 2, B);
    target_critic_tape = std::make_unique<MlpTape>(critic, 2, B);
    critic0_tape = std::make_unique<MlpTape>(critic, 1, B);
  }

  // A fresh agent: every round of a figure that trains it starts from the same
  // weights, so its cost does not drift with what it learned (a run's rounds,
  // and two runs, then time the same work).
  void reset_agent() { agent = std::make_unique<Agent>(dev, info, agent_cfg); }

  void store() {
    replay->store(obs_prev.data(), actions.data(), env->reward(), env->final_obs(), env->terminated(),
                  env->truncated());
  }

  // act: mu(s) for every env, Gaussian exploration; step; store (the trainer's steps 1-3).
  void collect() {
    const int64_t N = sz.n_envs;
    agent->act(env->obs(), N, mu.data());
    ops::gaussian_explore(dev, N, A, mu.data(), low.data(), high.data(), sigma.data(), 9, step_index++,
                          actions.data());
    memory::copy_device_to_device(dev, obs_prev.data(), env->obs(), N * S * sizeof(float));
    env->step(actions.data());
    store();
  }

  TrainBatch train_batch() const {
    return {batch.obs.data(), batch.action.data(), batch.reward.data(), batch.next_obs.data(), batch.discount.data()};
  }

  // One learner step as the trainer runs it: sample, then Agent::update.
  void learn() {
    replay->sample(sz.batch, 5, sample_index++, batch);
    agent->update(train_batch());
  }

  // The TD3 critic step without its Adam: target actions (smoothed), twin
  // target critics, y, the online critics, the TD loss gradient, backward.
  void critic_update() {
    const Mlp &actor = agent->actor(), &critic = agent->critic();
    const int B = sz.batch;
    mlp_forward(actor, actor_t.data(), {MlpInput{batch.next_obs.data(), S, 0}}, *target_actor_tape);
    ops::smooth_target_actions(dev, B, A, target_actor_tape->output(), low.data(), high.data(), 0.2f, 0.5f, 13,
                               update_index++, next_act.data());
    mlp_forward(critic, critic_t.data(), {MlpInput{batch.next_obs.data(), S, 0}, MlpInput{next_act.data(), A, 0}},
                *target_critic_tape);
    ops::td_target(dev, TdTargetArgs{2, 1, B, target_critic_tape->output(), batch.reward.data(),
                                     batch.discount.data(), y.data()});
    mlp_forward(critic, critic_p.data(), {MlpInput{batch.obs.data(), S, 0}, MlpInput{batch.action.data(), A, 0}},
                *critic_tape);
    ops::td_loss_grad(dev, TdLoss::kMse, 1.0f, 2, B, critic_tape->output(), y.data(), B, dq.data(), loss.data());
    mlp_backward(critic, critic_p.data(), *critic_tape, dq.data(), B, 1.0f, critic_g.data());
  }
  Cost critic_update_cost() const {
    const Mlp &actor = agent->actor(), &critic = agent->critic();
    const int64_t B = sz.batch;
    return mlp_forward_cost(actor, 1, B, true) + mlp_forward_cost(critic, 2, B, true) * 2.0 +
           mlp_backward_cost(critic, 2, B, true, 0) + Cost{0, kF * B * (2.0 * A + 2 * 2 + 2 * 2 + 2 * 2)};
  }

  // The TD3 actor step without its Adam: mu(s), Q_0(s, mu(s)), dQ/da, the actor VJP.
  void actor_update() {
    const Mlp &actor = agent->actor(), &critic = agent->critic();
    const int B = sz.batch;
    mlp_forward(actor, actor_p.data(), {MlpInput{batch.obs.data(), S, 0}}, *actor_tape);
    mlp_forward(critic, critic_p.data(), {MlpInput{batch.obs.data(), S, 0}, MlpInput{actor_tape->output(), A, 0}},
                *critic0_tape);
    critic_action_grad(critic, critic_p.data(), *critic0_tape, S, dq_da.data());
    actor_vjp(actor, actor_p.data(), *actor_tape, dq_da.data(), static_cast<int64_t>(B) * A, -1.0f, actor_g.data());
  }
  Cost actor_update_cost() const {
    const Mlp &actor = agent->actor(), &critic = agent->critic();
    const int64_t B = sz.batch;
    return mlp_forward_cost(actor, 1, B, true) + mlp_forward_cost(critic, 1, B, true) +
           mlp_backward_cost(critic, 1, B, false, A) + mlp_backward_cost(actor, 1, B, true, 0);
  }

  int64_t n_update_params() const { return 2 * agent->critic().n_params() + agent->actor().n_params(); }

  // Adam over the twin critics' and the actor's parameters.
  void adam() {
    ++adam_steps;
    const AdamConfig cfg{3e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, false};
    const int64_t pa = agent->actor().n_params(), pc = agent->critic().n_params();
    // Gradients of zero would make the step a no-op in v; use the parameters as fake gradients.
    ops::adam_step(dev, 2 * pc, cfg, adam_steps, critic_t.data(), critic_m.data(), critic_v.data(), critic_p.data());
    ops::adam_step(dev, pa, cfg, adam_steps, actor_t.data(), actor_m.data(), actor_v.data(), actor_p.data());
  }

  void polyak() {
    ops::polyak_update(dev, agent->actor().n_params(), 0.005f, actor_p.data(), actor_t.data());
    ops::polyak_update(dev, 2 * agent->critic().n_params(), 0.005f, critic_p.data(), critic_t.data());
  }
};

std::string size_label(const BenchSize& s) { return fmt::format("n={},b={},h={}", s.n_envs, s.batch, s.hidden); }

// The figures of one size, each with its cost written next to the call it times.
std::vector<Item> make_items(Rig& r) {
  const int64_t N = r.sz.n_envs;
  const int64_t B = r.sz.batch;
  const double S = r.S, A = r.A;
  const json size = {{"n_envs", N}, {"batch", B}, {"hidden", r.sz.hidden}};
  const std::string label = size_label(r.sz);
  std::vector<Item> v;
  auto add = [&](std::string kernel, std::string what, Cost cost, std::map<std::string, double> per_unit,
                 std::function<void()> fn, int calls = 1, std::function<void()> setup = nullptr) {
    Item it;
    it.kernel = std::move(kernel);
    it.what = std::move(what);
    it.size_label = label;
    it.size = size;
    it.cost = cost;
    it.per_unit = std::move(per_unit);
    it.fn = std::move(fn);
    it.calls = calls;
    it.setup = std::move(setup);
    v.push_back(std::move(it));
  };
  // Env dynamics are a few dozen FLOPs per env and are not counted: the
  // roofline of a step is its memory traffic, every per-env array once.
  const Cost env_step{0.0, static_cast<double>(N) * (r.env->bytes_per_env() + kF * A)};
  add("env_step", "VecEnv::step of every env (auto-reset included)", env_step, {{"env_steps_per_s", double(N)}},
      [&r] { r.env->step(r.step_actions.data()); });
  // One row of every array: read from the env, written into the ring.
  const Cost store{0.0, static_cast<double>(N) * (2.0 * kF * (2 * S + A + 1) + 2.0 * 2)};
  add("replay_store", "ReplayBuffer::store of one step of every env", store, {{"transitions_per_s", double(N)}},
      [&r] { r.store(); });
  // Per sample: obs, action, next_obs gathered and written, reward and flags read, reward and discount written.
  const Cost sample{0.0, static_cast<double>(B) * (2.0 * kF * (2 * S + A) + kF + 2 + 2.0 * kF)};
  add("replay_sample", "ReplayBuffer::sample of one batch (1-step windows)", sample, {{"samples_per_s", double(B)}},
      [&r] { r.replay->sample(r.sz.batch, 5, r.sample_index++, r.batch); });
  add("actor_forward", "mu(s) for every env (mlp_forward, E = 1)", mlp_forward_cost(r.agent->actor(), 1, N, true),
      {{"env_steps_per_s", double(N)}},
      [&r] { mlp_forward(r.agent->actor(), r.actor_p.data(), {MlpInput{r.env->obs(), r.S, 0}}, *r.act_tape); });
  add("critic_update", "TD3 critic step without Adam: target actor, twin target critics, y, critics, backward",
      r.critic_update_cost(), {{"samples_per_s", double(B)}}, [&r] { r.critic_update(); });
  add("actor_update", "TD3 actor step without Adam: mu(s), Q_0(s, mu(s)), dQ/da, actor VJP", r.actor_update_cost(),
      {{"samples_per_s", double(B)}}, [&r] { r.actor_update(); });
  const double P = static_cast<double>(r.n_update_params());
  // Read p, m, v, g; write p, m, v. About 10 FLOPs per parameter.
  add("adam", "Adam step over twin critics and actor", Cost{10.0 * P, 7.0 * kF * P}, {{"params_per_s", P}},
      [&r] { r.adam(); });
  // Read online and target, write target.
  add("polyak", "Polyak averaging of the target actor and critics", Cost{3.0 * P, 3.0 * kF * P},
      {{"params_per_s", P}}, [&r] { r.polyak(); });
  const Cost adam_c{10.0 * P, 7.0 * kF * P}, polyak_c{3.0 * P, 3.0 * kF * P};
  // Agent::update, two calls per unit pair: one critic step each, the actor step, actor Adam and Polyak every second.
  const Cost update = r.critic_update_cost() + r.actor_update_cost() * 0.5 + adam_c * 0.75 + polyak_c * 0.5;
  add("update", "Agent::update (TD3, policy delay 2), mean of 2 calls", update,
      {{"updates_per_s", 1.0}, {"samples_per_s", double(B)}},
      [&r] {
        r.agent->update(r.train_batch());
        r.agent->update(r.train_batch());
      },
      2, [&r] { r.reset_agent(); });
  // Throughput of the loop: act + explore + step + store.
  const Cost collect = mlp_forward_cost(r.agent->actor(), 1, N, true) + Cost{0, static_cast<double>(N) * kF * (3 * A + 2 * S)} +
                       env_step + store;
  add("collect", "act (mu + Gaussian noise), step, store for every env", collect, {{"env_steps_per_s", double(N)}},
      [&r] { r.collect(); });
  // The training iteration at 2 updates per env step of all envs.
  add("iteration", "collect, then 2 x (sample + Agent::update)", collect + (update + sample) * 2.0,
      {{"env_steps_per_s", double(N)}, {"updates_per_s", 2.0}, {"samples_per_s", 2.0 * B}},
      [&r] {
        r.collect();
        r.learn();
        r.learn();
      },
      1, [&r] { r.reset_agent(); });
  return v;
}

// ---- ceilings --------------------------------------------------------------------------------
// FP32 lanes per SM by compute capability (the CUDA C++ Programming Guide's
// throughput table: 64 on 6.0, 7.x, 8.0; 128 on 6.1, 8.6, 8.9, 9.0 and later).
int fp32_lanes_per_sm(int major, int minor) {
  if (major == 8 && minor == 0) return 64;
  if (major == 7 || (major == 6 && minor == 0)) return 64;
  return 128;
}

json machine_json(const Device& dev) {
  const MachineInfo m = query_machine();
  json j = {{"cpu_model", m.cpu_model},
            {"cpu_threads", m.cpu_threads},
            {"hardware_threads", m.hardware_threads},
            {"blas", m.blas},
            {"blas_threads", m.blas_threads},
            {"cuda_build", m.cuda_build},
            {"cuda_runtime", m.cuda_runtime},
            {"cuda_driver", m.cuda_driver},
            {"device", dev.describe()},
            {"device_threads", dev.cpu_threads()}};
  if (!m.cuda_unusable.empty()) j["cuda_unusable"] = m.cuda_unusable;
  json gpus = json::array();
  for (const CudaDeviceInfo& d : m.cuda_devices) {
    const cuda_api::DeviceProps p = cuda_api::properties(d.ordinal);
    gpus.push_back({{"ordinal", d.ordinal},
                    {"name", d.name},
                    {"compute_capability", fmt::format("{}.{}", d.major, d.minor)},
                    {"memory_gib", d.memory_gib},
                    {"multiprocessors", d.multiprocessors},
                    {"sm_clock_mhz", p.clock_khz / 1000},
                    {"memory_clock_mhz", p.memory_clock_khz / 1000},
                    {"memory_bus_bits", p.memory_bus_bits}});
  }
  j["cuda_devices"] = gpus;
  return j;
}

// The roofline's two ceilings on the device in use. CPU: this run's sgemm and
// copy (a practical peak: what the BLAS and the memory system give, not the
// FMA peak). GPU: the device's properties.
json ceilings_json(const Device& dev, double sgemm_gflops, double copy_gbps, double cache_gbps) {
  if (dev.is_cuda()) {
    const cuda_api::DeviceProps p = cuda_api::properties(dev.cuda_ordinal());
    const double gflops = 2.0 * p.multiprocessors * fp32_lanes_per_sm(p.major, p.minor) * p.clock_khz * 1e-6;
    const double gbps = 2.0 * p.memory_clock_khz * 1e3 * (p.memory_bus_bits / 8.0) * 1e-9;
    return {{"gflops", gflops},
            {"gbps", gbps},
            {"cache_gbps", cache_gbps},
            {"source", fmt::format("device properties: 2 x {} SMs x {} FP32 lanes x {} MHz; 2 x {} MHz x {} bits",
                                   p.multiprocessors, fp32_lanes_per_sm(p.major, p.minor), p.clock_khz / 1000,
                                   p.memory_clock_khz / 1000, p.memory_bus_bits)}};
  }
  return {{"gflops", sgemm_gflops},
          {"gbps", copy_gbps},
          {"cache_gbps", cache_gbps},
          {"source", fmt::format("measured in this run: sgemm {0}^3, a {1} MiB copy (DRAM) and a {2} KiB copy (cache)",
                                 kRefGemm, kRefCopyBytes >> 20, kRefCacheCopyBytes >> 10)}};
}

json ratios_json(const std::vector<double>& t, const std::vector<double>& ref) {
  std::vector<double> r;
  for (size_t i = 0; i < t.size(); ++i) r.push_back(t[i] / ref[i]);
  return summary(r);
}

json item_json(const Item& it, const json& ceil) {
  const json sec = summary(it.seconds);
  const double med = sec["median"].get<double>();
  json j = {{"name", it.name()}, {"kernel", it.kernel}, {"what", it.what}, {"size", it.size}};
  j["seconds"] = sec;
  j["seconds"]["samples"] = it.seconds;
  j["seconds"]["best_samples"] = it.best;  // the fastest chunk of each round
  j["calls_per_chunk"] = it.inner;
  j["chunks_per_sample"] = kChunks;
  j["flops"] = it.cost.flops;
  j["bytes"] = it.cost.bytes;
  j["gflops"] = it.cost.flops / med * 1e-9;
  j["gbps"] = it.cost.bytes / med * 1e-9;
  // The memory ceiling of the level the figure's traffic fits in.
  const bool cached = it.cost.bytes <= kCacheResidentBytes;
  const double peak_f = ceil["gflops"].get<double>() * 1e9;
  const double peak_b = ceil[cached ? "cache_gbps" : "gbps"].get<double>() * 1e9;
  const double intensity = it.cost.bytes > 0 ? it.cost.flops / it.cost.bytes : 0.0;
  const bool compute = intensity > peak_f / peak_b;
  const double floor_s = std::max(it.cost.flops / peak_f, it.cost.bytes / peak_b);
  j["roofline"] = {{"intensity_flop_per_byte", intensity},
                   {"memory_level", cached ? "cache" : "dram"},
                   {"bound", compute ? "compute" : "memory"},
                   {"ceiling_gflops", std::min(peak_f, intensity * peak_b) * 1e-9},
                   {"floor_s", floor_s},
                   {"fraction", floor_s / med}};
  json rates = json::object();
  for (const auto& [k, n] : it.per_unit) rates[k] = n / med;
  j["rates"] = rates;
  // The figure as a ratio to the reference of its bound (time / reference
  // time, taken within each round), and to the others too.
  j["reference"] = compute ? "sgemm" : (cached ? "cache_copy" : "copy");
  json ratios = json::object();
  for (int r = 0; r < kRefs; ++r) ratios[kRefNames[r]] = ratios_json(it.seconds, it.ref[r]);
  j["ratios"] = ratios;
  // What --compare judges (bench.h): the fastest chunk of the figure over
  // the fastest chunk of its reference, over all rounds.
  const int ref = compute ? 0 : (cached ? 2 : 1);
  const double fig_best = *std::min_element(it.best.begin(), it.best.end());
  const double ref_best = *std::min_element(it.ref_best[ref].begin(), it.ref_best[ref].end());
  j["gate"] = {{"figure_best_s", fig_best}, {"reference_best_s", ref_best}, {"ratio", fig_best / ref_best},
               {"rounds", it.best.size()}};
  if (it.inject != 1.0) j["injected_slowdown"] = it.inject;
  return j;
}

std::string iso_time_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string si(double x, const char* unit) {
  if (!(x > 0) || !std::isfinite(x)) return "-";
  const char* p[] = {"", "k", "M", "G", "T"};
  int i = 0;
  while (x >= 1000 && i < 4) x /= 1000, ++i;
  return fmt::format("{:.3g} {}{}", x, p[i], unit);
}

std::string duration(double s) {
  if (s >= 1) return fmt::format("{:.3g} s", s);
  if (s >= 1e-3) return fmt::format("{:.3g} ms", s * 1e3);
  return fmt::format("{:.3g} us", s * 1e6);
}

}  // namespace

BenchSize parse_size(const std::string& s) {
  BenchSize b;
  long long n = 0;
  int batch = 0, hidden = 0;
  char tail = 0;
  ACX_USAGE_CHECK(std::sscanf(s.c_str(), "%lld,%d,%d%c", &n, &batch, &hidden, &tail) == 3 && n >= 1 && batch >= 1 &&
                      hidden >= 1,
                  "--size expects N_ENVS,BATCH,HIDDEN (positive integers), got " + quote_input(s));
  b.n_envs = n;
  b.batch = batch;
  b.hidden = hidden;
  return b;
}

// ---- --metric instructions ---------------------------------------------------------------
namespace {

// Instructions per unit of each figure, counted by callgrind in this process:
// one warm-up call, then one call with collection on, dumped under the
// figure's name and read back from the dump files.
json count_instructions(const BenchOptions& opt, const std::vector<BenchSize>& sizes, std::ostream& log) {
#if ACX_HAVE_CALLGRIND
  const char* dir = std::getenv(kCallgrindDirEnv);
  ACX_CHECK(dir && *dir, std::string(kCallgrindDirEnv) + " is not set inside the callgrind run");
  const Device dev = Device::create(opt.device, 1, &log);
  const std::map<std::string, double> inject = parse_inject(opt.inject);
  std::vector<Item> done;
  for (const BenchSize& sz : sizes) {
    log << fmt::format("acx bench: {} {}: counting instructions under callgrind ...\n", opt.env, size_label(sz))
        << std::flush;
    Rig rig(dev, opt.env, sz, opt.quick);
    // Building the rig runs uninstrumented (valgrind starts with
    // --instr-atstart=no): several times faster, and nothing of it is counted.
    CALLGRIND_START_INSTRUMENTATION;
    for (Item& it : make_items(rig)) {
      set_injected_slowdown(it, inject);
      if (it.setup) it.setup();
      it.fn();  // warm-up: first-touch page faults and BLAS buffers are not the figure
      if (it.setup) it.setup();
      CALLGRIND_ZERO_STATS;
      CALLGRIND_TOGGLE_COLLECT;
      it.fn();
      CALLGRIND_TOGGLE_COLLECT;
      const std::string name = it.name();  // alive while callgrind reads it (the macro keeps the pointer)
      CALLGRIND_DUMP_STATS_AT(name.c_str());
      it.fn = it.setup = nullptr;
      done.push_back(std::move(it));
    }
    CALLGRIND_STOP_INSTRUMENTATION;
  }
  // The dumps: "desc: Trigger: Client Request: NAME" and "totals: IR" (or "summary:").
  std::map<std::string, double> counts;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path());
    std::string line, name;
    double ir = -1;
    while (std::getline(in, line)) {
      const std::string trigger = "desc: Trigger: Client Request: ";
      if (line.rfind(trigger, 0) == 0) name = line.substr(trigger.size());
      for (const char* key : {"totals: ", "summary: "})
        if (line.rfind(key, 0) == 0) ir = std::strtod(line.c_str() + std::strlen(key), nullptr);
    }
    if (!name.empty() && ir >= 0) counts[name] = ir;
  }
  json figs = json::array();
  for (const Item& it : done) {
    const auto c = counts.find(it.name());
    ACX_CHECK(c != counts.end(), "callgrind wrote no count for " + it.name());
    const double per_unit = c->second / it.calls * it.inject;
    json f = {{"name", it.name()}, {"kernel", it.kernel}, {"what", it.what}, {"size", it.size},
              {"instructions", per_unit}, {"flops", it.cost.flops}, {"bytes", it.cost.bytes},
              {"gate", {{"ratio", per_unit}, {"rounds", 1}, {"metric", "instructions"}}}};
    if (it.inject != 1.0) f["injected_slowdown"] = it.inject;
    figs.push_back(f);
  }
  json j;
  j["figures"] = figs;
  j["machine"] = machine_json(dev);
  return j;
#else
  (void)opt, (void)sizes, (void)log;
  throw UsageError("--metric instructions needs valgrind's callgrind.h at build time (Debian's valgrind package)");
#endif
}

}  // namespace

bool under_callgrind() {
#if ACX_HAVE_CALLGRIND
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

json instructions_under_callgrind(const BenchOptions& opt, std::ostream& log) {
  ACX_USAGE_CHECK(ACX_HAVE_CALLGRIND,
                  "--metric instructions needs valgrind's callgrind.h at build time (Debian's valgrind package)");
  char exe[4096] = {};
  ACX_CHECK(::readlink("/proc/self/exe", exe, sizeof exe - 1) > 0, "cannot find this executable (/proc/self/exe)");
  char tmpl[] = "/tmp/acx-callgrind-XXXXXX";
  ACX_CHECK(::mkdtemp(tmpl) != nullptr, "cannot create a temporary directory for callgrind's output");
  const std::string dir = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};
  std::vector<std::string> args = {"valgrind", "--tool=callgrind", "--collect-atstart=no", "--instr-atstart=no", "-q",
                                   "--callgrind-out-file=" + dir + "/cg.out", exe, "bench", "--metric", "instructions",
                                   "--env", opt.env, "--device", "cpu", "--json", dir + "/inner.json"};
  if (opt.quick) args.push_back("--quick");
  for (const BenchSize& s : opt.sizes) {
    args.push_back("--size");
    args.push_back(fmt::format("{},{},{}", s.n_envs, s.batch, s.hidden));
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string env_var = std::string(kCallgrindDirEnv) + "=" + dir;
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  envp.push_back(const_cast<char*>(env_var.c_str()));
  envp.push_back(nullptr);
  log << "acx bench: counting instructions under valgrind's callgrind (about 50x slower than running natively)\n"
      << std::flush;
  // The inner run's report is this run's to print: its stdout goes nowhere.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "valgrind", &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw UsageError("--metric instructions runs valgrind, which could not be started (" +
                                std::string(std::strerror(rc)) + "; scripts/install_deps.sh installs it)");
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw Error("the callgrind run of acx bench failed (its messages are above)");
  return load_report(dir + "/inner.json");
}

json run(const BenchOptions& opt, std::ostream& log) {
  const Device dev = Device::create(opt.device, opt.threads, &log);
  find_registered_env(opt.env);  // UsageError for an unknown env, before any work
  const int repeats = opt.repeats > 0 ? opt.repeats : (opt.quick ? 7 : 11);
  ACX_USAGE_CHECK(repeats >= 3, "--repeats must be at least 3 (medians need a few samples)");
  std::vector<BenchSize> sizes = opt.sizes;
  if (sizes.empty()) {
    if (opt.quick) {
      sizes = {{1024, 256, 256}, {16384, 1024, 64}};
    } else {
      sizes = {{1024, 256, 256}, {16384, 256, 256}, {16384, 1024, 64}, {65536, 4096, 256}};
    }
  }
  const EnvInfo env_info = find_registered_env(opt.env);
  json sizes_j = json::array();
  for (const BenchSize& s : sizes) sizes_j.push_back({{"n_envs", s.n_envs}, {"batch", s.batch}, {"hidden", s.hidden}});
  ACX_USAGE_CHECK(opt.metric == "time" || opt.metric == "instructions",
                  "--metric must be time or instructions, got " + quote_input(opt.metric));
  if (opt.metric == "instructions") {
    ACX_USAGE_CHECK(under_callgrind(), "--metric instructions counts under valgrind: run it as acx bench --metric "
                                       "instructions, which starts valgrind itself");
    json j = count_instructions(opt, sizes, log);
    j["schema"] = kSchema;
    j["schema_version"] = kSchemaVersion;
    j["acx_version"] = ACX_VERSION;
    j["created_utc"] = iso_time_utc();
    j["config"] = {{"env", opt.env},     {"obs_dim", env_info.obs_dim}, {"act_dim", env_info.act_dim},
                   {"device", "cpu"},    {"backend", "cpu"},            {"threads", 1},
                   {"quick", opt.quick}, {"sizes", sizes_j},            {"metric", "instructions"},
                   {"inject", opt.inject}};
    return j;
  }
  const double target_s = opt.quick ? 0.005 : 0.05;  // a sample lasts about this long (or kChunks calls)
  const std::map<std::string, double> inject = parse_inject(opt.inject);

  auto refs = make_references(dev);
  for (Item& ref : refs->item) calibrate(dev, ref, target_s);
  std::vector<Item> done;
  for (const BenchSize& sz : sizes) {
    log << fmt::format("acx bench: {} {} on {} ...\n", opt.env, size_label(sz), dev.describe()) << std::flush;
    std::vector<Item> items;
    const std::string tail = "/" + size_label(sz);
    if (!opt.only.empty() && std::none_of(opt.only.begin(), opt.only.end(), [&](const std::string& n) {
          return n.size() > tail.size() && n.compare(n.size() - tail.size(), std::string::npos, tail) == 0;
        }))
      continue;  // no figure of this size asked for
    Rig rig(dev, opt.env, sz, opt.quick);
    for (Item& it : make_items(rig)) {
      if (opt.only.empty() || std::find(opt.only.begin(), opt.only.end(), it.name()) != opt.only.end())
        items.push_back(std::move(it));
    }
    for (Item& it : items) {
      set_injected_slowdown(it, inject);
      calibrate(dev, it, target_s);
    }
    // Rounds: the references, then every figure; ratios are taken within a round.
    for (int r = 0; r < repeats; ++r) {
      Sample t_ref[kRefs];
      for (int k = 0; k < kRefs; ++k) {
        t_ref[k] = sample(dev, refs->item[k]);
        refs->item[k].seconds.push_back(t_ref[k].median);
        refs->item[k].best.push_back(t_ref[k].best);
      }
      for (Item& it : items) {
        const Sample s = sample(dev, it);
        it.seconds.push_back(s.median);
        it.best.push_back(s.best);
        for (int k = 0; k < kRefs; ++k) {
          it.ref[k].push_back(t_ref[k].median);
          it.ref_best[k].push_back(t_ref[k].best);
        }
      }
    }
    for (Item& it : items) {
      it.fn = it.setup = nullptr;  // the rig goes away with this scope
      done.push_back(std::move(it));
    }
  }

  // Reference rates from their medians.
  double rate[kRefs];
  for (int k = 0; k < kRefs; ++k) {
    const Item& ref = refs->item[k];
    rate[k] = (k == 0 ? ref.cost.flops : ref.cost.bytes) / median_of(ref.seconds) * 1e-9;
  }
  const json ceil = ceilings_json(dev, rate[0], rate[1], rate[2]);

  json j;
  j["schema"] = kSchema;
  j["schema_version"] = kSchemaVersion;
  j["acx_version"] = ACX_VERSION;
  j["created_utc"] = iso_time_utc();
  j["config"] = {{"env", opt.env},
                 {"obs_dim", env_info.obs_dim},
                 {"act_dim", env_info.act_dim},
                 {"device", opt.device},
                 {"backend", backend_name(dev.backend())},
                 {"threads", dev.is_cuda() ? 0 : dev.cpu_threads()},
                 {"quick", opt.quick},
                 {"repeats", repeats},
                 {"sizes", sizes_j},
                 {"sample_target_s", target_s},
                 {"metric", "time"},
                 {"inject", opt.inject}};
  j["machine"] = machine_json(dev);
  json refs_j = json::object();
  for (int k = 0; k < kRefs; ++k) {
    const Item& ref = refs->item[k];
    json sec = summary(ref.seconds);
    sec["samples"] = ref.seconds;
    sec["best_samples"] = ref.best;
    refs_j[kRefNames[k]] = {{"what", ref.what}, {"flops", ref.cost.flops}, {"bytes", ref.cost.bytes},
                            {"seconds", sec}, {k == 0 ? "gflops" : "gbps", rate[k]}};
  }
  j["reference"] = refs_j;
  j["ceilings"] = ceil;
  json figs = json::array();
  for (const Item& it : done) figs.push_back(item_json(it, ceil));
  j["figures"] = figs;
  return j;
}

std::string format_report(const json& j) {
  std::string out;
  const json& m = j["machine"];
  if (j["config"].value("metric", "time") == "instructions") {
    out += fmt::format("machine: {}; instructions counted by valgrind's callgrind, one thread\n\n",
                       m["cpu_model"].get<std::string>());
    out += "| figure | instructions per unit | per FLOP |\n| --- | --- | --- |\n";
    for (const json& f : j["figures"]) {
      const double ir = f["instructions"].get<double>(), flops = f["flops"].get<double>();
      out += fmt::format("| {} | {} | {} |\n", f["name"].get<std::string>(), si(ir, ""),
                         flops > 0 ? fmt::format("{:.3g}", ir / flops) : std::string("-"));
    }
    return out;
  }
  out += fmt::format("machine: {} ({} hardware threads); device {}\n", m["cpu_model"].get<std::string>(),
                     m["hardware_threads"].get<int>(), m["device"].get<std::string>());
  out += fmt::format("blas: {} ({} threads)\n", m["blas"].get<std::string>(), m["blas_threads"].get<int>());
  for (const json& g : m["cuda_devices"]) {
    out += fmt::format("gpu: {} (sm_{}, {} SMs, {} MHz, memory {} MHz x {} bits), driver {}\n",
                       g["name"].get<std::string>(), g["compute_capability"].get<std::string>(),
                       g["multiprocessors"].get<int>(), g["sm_clock_mhz"].get<int>(),
                       g["memory_clock_mhz"].get<int>(), g["memory_bus_bits"].get<int>(),
                       m["cuda_driver"].get<std::string>());
  }
  const json& ref = j["reference"];
  out += fmt::format("reference: sgemm {} ({:.1f} GFLOP/s), copy {} ({:.1f} GB/s), cache copy {} ({:.1f} GB/s); {} rounds\n",
                     duration(ref["sgemm"]["seconds"]["median"].get<double>()), ref["sgemm"]["gflops"].get<double>(),
                     duration(ref["copy"]["seconds"]["median"].get<double>()), ref["copy"]["gbps"].get<double>(),
                     duration(ref["cache_copy"]["seconds"]["median"].get<double>()),
                     ref["cache_copy"]["gbps"].get<double>(), j["config"]["repeats"].get<int>());
  out += fmt::format("ceilings: {:.1f} GFLOP/s, {:.1f} GB/s DRAM, {:.1f} GB/s cache ({})\n\n",
                     j["ceilings"]["gflops"].get<double>(), j["ceilings"]["gbps"].get<double>(),
                     j["ceilings"]["cache_gbps"].get<double>(), j["ceilings"]["source"].get<std::string>());
  out += "| figure | median | min .. max | rate | GFLOP/s | GB/s | bound | of roofline | / reference |\n";
  out += "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const json& f : j["figures"]) {
    const json& s = f["seconds"];
    std::string rates;
    for (const auto& [k, v] : f["rates"].items()) {
      std::string unit = k.substr(0, k.rfind("_per_s"));
      std::replace(unit.begin(), unit.end(), '_', '-');
      rates += (rates.empty() ? "" : ", ") + si(v.get<double>(), (" " + unit + "/s").c_str());
    }
    const std::string refname = f["reference"].get<std::string>();
    out += fmt::format("| {} | {} | {} .. {} | {} | {} | {} | {} | {:.0f}% | {:.3g} x {} |\n",
                       f["name"].get<std::string>(), duration(s["median"].get<double>()),
                       duration(s["min"].get<double>()), duration(s["max"].get<double>()), rates,
                       f["flops"].get<double>() > 0 ? fmt::format("{:.1f}", f["gflops"].get<double>()) : "-",
                       fmt::format("{:.1f}", f["gbps"].get<double>()), f["roofline"]["bound"].get<std::string>(),
                       100.0 * f["roofline"]["fraction"].get<double>(),
                       f["ratios"][refname]["median"].get<double>(), refname);
  }
  return out;
}

}  // namespace acx::bench
