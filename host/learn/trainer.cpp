#include "host/learn/trainer.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>

#include "envs/lqr_riccati.h"
#include "envs/vec_env.h"
#include "host/io/atomic_file.h"
#include "host/io/metrics.h"
#include "host/io/safetensors.h"
#include "host/learn/agent.h"
#include "host/learn/train_config.h"
#include "kernels/episode_stats.h"
#include "kernels/explore.h"
#include "kernels/normalizer.h"
#include "kernels/replay.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/machine.h"

namespace acx {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCheckpointFormat = "acx-checkpoint-1";
constexpr const char* kCheckpointName = "checkpoint.safetensors";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Seeds of the separate streams a run draws from, derived from run.seed.
uint64_t mix_seed(uint64_t seed, uint64_t salt) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (salt + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
enum Salt : uint64_t { kSaltEnv = 1, kSaltExplore = 2, kSaltReplay = 3, kSaltSmooth = 4, kSaltEval = 5, kSaltInit = 6 };

// A per-agent variant list: empty, or one value per agent (run.agents).
std::vector<float> variant(const Config& c, const std::string& key) {
  const std::vector<double>& v = c.get_float_list(key);
  const int64_t k = c.get_int("run.agents");
  ACX_USAGE_CHECK(v.empty() || static_cast<int64_t>(v.size()) == k,
                  fmt::format("{} has {} value{} but run.agents is {}: give one per agent, or none", key, v.size(),
                              v.size() == 1 ? "" : "s", k));
  return std::vector<float>(v.begin(), v.end());
}

AgentConfig agent_config(const Config& c) {
  AgentConfig a;
  a.actor_lr_per_agent = variant(c, "variants.actor_lr");
  a.critic_lr_per_agent = variant(c, "variants.critic_lr");
  a.algo = parse_algo(c.get_string("algo.name"));
  a.n_agents = static_cast<int>(c.get_int("run.agents"));
  a.actor_hidden.clear();
  a.critic_hidden.clear();
  for (int64_t w : c.get_int_list("net.actor_hidden")) a.actor_hidden.push_back(static_cast<int>(w));
  for (int64_t w : c.get_int_list("net.critic_hidden")) a.critic_hidden.push_back(static_cast<int>(w));
  a.actor_lr = static_cast<float>(c.get_float("optim.actor_lr"));
  a.critic_lr = static_cast<float>(c.get_float("optim.critic_lr"));
  a.weight_decay = static_cast<float>(c.get_float("optim.weight_decay"));
  a.tau = static_cast<float>(c.get_float("algo.tau"));
  a.policy_delay = static_cast<int>(c.get_int("algo.policy_delay"));
  a.target_noise = static_cast<float>(c.get_float("algo.target_noise"));
  a.target_noise_clip = static_cast<float>(c.get_float("algo.target_noise_clip"));
  a.max_grad_norm = static_cast<float>(c.get_float("algo.max_grad_norm"));
  a.loss = c.get_string("algo.loss") == "huber" ? TdLoss::kHuber : TdLoss::kMse;
  a.huber_delta = static_cast<float>(c.get_float("algo.huber_delta"));
  a.batch = static_cast<int>(c.get_int("algo.batch_size"));
  a.reward_scale = static_cast<float>(c.get_float("algo.reward_scale"));
  a.final_init_bound = static_cast<float>(c.get_float("net.final_init_bound"));
  a.seed = mix_seed(static_cast<uint64_t>(c.get_int("run.seed")), kSaltInit);
  a.smoothing_seed = mix_seed(static_cast<uint64_t>(c.get_int("run.seed")), kSaltSmooth);
  return a;
}

safetensors::DType dtype_from_name(const std::string& name) {
  using safetensors::DType;
  for (DType d : {DType::kF32, DType::kF64, DType::kI64, DType::kI32, DType::kU8, DType::kU32})
    if (name == safetensors::dtype_name(d)) return d;
  throw Error("unknown array dtype " + name);
}

safetensors::Tensor to_tensor(HostArray a) {
  safetensors::Tensor t;
  t.name = std::move(a.name);
  t.dtype = dtype_from_name(a.dtype);
  t.shape = std::move(a.shape);
  t.data = std::move(a.bytes);
  return t;
}

std::vector<HostArray> with_prefix(const std::vector<HostArray>& arrays, const std::string& prefix) {
  std::vector<HostArray> out = arrays;
  for (HostArray& a : out) a.name = prefix + a.name;
  return out;
}

// Arrays of a loaded checkpoint whose names start with prefix, prefix removed.
std::vector<HostArray> arrays_with_prefix(const safetensors::SafetensorsFile& f, const std::string& prefix) {
  std::vector<HostArray> out;
  for (const safetensors::Tensor& t : f.tensors()) {
    if (t.name.rfind(prefix, 0) != 0) continue;
    out.push_back(HostArray{t.name.substr(prefix.size()), safetensors::dtype_name(t.dtype), t.shape, t.data});
  }
  return out;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? kNaN : s / static_cast<double>(v.size());
}

double std_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return v.empty() ? kNaN : std::sqrt(s / static_cast<double>(v.size()));
}

struct EvalEpisodes {
  std::vector<double> returns;  // every episode, agent-major
  // lqr only (else empty): the optimal return from each episode's start state
  // over the same horizon, -x0' P_0 x0 (envs/lqr_riccati.h).
  std::vector<double> optimal_returns;
  double expected_optimal_return = 0;  // lqr: over the reset distribution
};

// Each agent's cost relative to the optimum from the same start states:
// sum of -return over sum of -optimal return, over its episodes.
std::vector<double> lqr_cost_ratios(const EvalEpisodes& e, int n_agents) {
  std::vector<double> out;
  if (e.optimal_returns.empty()) return out;
  const size_t per = e.returns.size() / static_cast<size_t>(n_agents);
  for (int k = 0; k < n_agents; ++k) {
    double cost = 0, opt = 0;
    for (size_t i = k * per; i < (k + 1) * per; ++i) cost -= e.returns[i], opt -= e.optimal_returns[i];
    out.push_back(cost / opt);
  }
  return out;
}

// The time limit of evaluation episodes: run.eval_max_steps, else env.max_steps.
int eval_max_steps(const Config& c) {
  const int64_t e = c.get_int("run.eval_max_steps");
  return static_cast<int>(e > 0 ? e : c.get_int("env.max_steps"));
}

// Runs `episodes` episodes per agent with the deterministic policy on fresh
// envs keyed by `seed`; returns every episode's return, agent-major.
EvalEpisodes run_eval(const Device& dev, Agent& agent, const RunningNormalizer* norm, const EnvInfo& info,
                      int n_agents, int episodes, int max_steps, uint64_t seed) {
  const int64_t n = static_cast<int64_t>(n_agents) * episodes;
  auto env = make_vec_env(dev, info.name, n);
  if (max_steps > 0) env->set_max_steps(max_steps);
  env->reset(seed);
  EvalEpisodes out;
  if (info.name == "lqr") {
    // The registered lqr env runs the default Params (envs/builtin_envs.cu).
    const Lqr::Params p;
    const FiniteHorizonLqr opt = solve_finite_horizon(p, env->max_steps());
    out.expected_optimal_return = -opt.expected_cost;
    const std::vector<float> x0 = env->state_host();
    const int sd = info.state_dim;
    for (int64_t i = 0; i < n; ++i) {
      const std::vector<double> x(x0.begin() + i * sd, x0.begin() + i * sd + p.n);
      out.optimal_returns.push_back(-quadratic_cost(opt.P[0], x));
    }
  }
  Buffer<float> actions(dev, n * info.act_dim), normed(dev, norm ? n * info.obs_dim : 0);
  std::vector<double>& returns = out.returns;
  returns.assign(n, kNaN);
  int64_t remaining = n;
  for (int t = 0; t <= env->max_steps() && remaining > 0; ++t) {
    const float* obs = env->obs();
    if (norm) {
      norm->normalize(obs, episodes, normed.data());  // each agent's rows with its statistics
      obs = normed.data();
    }
    agent.act(obs, episodes, actions.data());
    env->step(actions.data());
    const auto term = env->terminated_host(), trunc = env->truncated_host();
    const auto done = env->done_return_host();
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(returns[i]) && (term[i] || trunc[i])) {
        returns[i] = done[i];
        --remaining;
      }
    }
  }
  ACX_CHECK(remaining == 0, "evaluation episodes did not end within the time limit");
  return out;
}

struct EvalRecord {
  int64_t env_steps;
  double wall_s, mean, std;
  std::vector<double> per_agent;
  std::vector<double> lqr_cost_ratio;  // per agent, lqr only
};

class Run {
 public:
  Run(const Device& dev, Config cfg, std::string out_dir, bool resume)
      : dev_(dev), cfg_(std::move(cfg)), out_(std::move(out_dir)) {
    info_ = find_registered_env(cfg_.get_string("env.name"));
    K_ = static_cast<int>(cfg_.get_int("run.agents"));
    N_ = cfg_.get_int("env.n_envs");
    seed_ = static_cast<uint64_t>(cfg_.get_int("run.seed"));
    total_ = cfg_.get_int("run.total_env_steps");

    const AgentConfig acfg = agent_config(cfg_);
    agent_ = std::make_unique<Agent>(dev_, info_, acfg);
    env_ = make_vec_env(dev_, info_.name, K_ * N_);
    if (cfg_.get_int("env.max_steps") > 0) env_->set_max_steps(static_cast<int>(cfg_.get_int("env.max_steps")));
    ReplayConfig rc;
    rc.capacity = cfg_.get_int("replay.capacity") * K_;
    rc.n_envs = K_ * N_;
    rc.obs_dim = info_.obs_dim;
    rc.act_dim = info_.act_dim;
    rc.n_step = static_cast<int>(cfg_.get_int("algo.n_step"));
    rc.gamma = static_cast<float>(cfg_.get_float("algo.gamma"));
    rc.n_members = K_;
    replay_ = std::make_unique<ReplayBuffer>(dev_, rc);
    batch_ = std::make_unique<ReplayBatch>(replay_->make_batch(acfg.batch));
    if (cfg_.get_bool("obs_norm.enabled")) {
      NormalizerConfig nc;
      nc.clip = static_cast<float>(cfg_.get_float("obs_norm.clip"));
      norm_ = std::make_unique<RunningNormalizer>(dev_, info_.obs_dim, nc, K_);  // statistics per agent
      norm_obs_ = Buffer<float>(dev_, K_ * N_ * info_.obs_dim);
      norm_batch_obs_ = Buffer<float>(dev_, K_ * acfg.batch * info_.obs_dim);
      norm_batch_next_ = Buffer<float>(dev_, K_ * acfg.batch * info_.obs_dim);
    }
    actions_ = Buffer<float>(dev_, K_ * N_ * info_.act_dim);
    mu_ = Buffer<float>(dev_, K_ * N_ * info_.act_dim);
    obs_prev_ = Buffer<float>(dev_, K_ * N_ * info_.obs_dim);
    low_ = Buffer<float>::from_host(dev_, info_.action_low);
    high_ = Buffer<float>::from_host(dev_, info_.action_high);
    // One noise scale per env: agent k's sigma (explore.sigma or its
    // variant), or spread log-uniformly from sigma_min up to it.
    const std::vector<float> agent_sigma = variant(cfg_, "variants.explore_sigma");
    const double sigma_min = cfg_.get_float("explore.sigma_min");
    std::vector<float> sig;
    for (int k = 0; k < K_; ++k) {
      const double sigma = agent_sigma.empty() ? cfg_.get_float("explore.sigma") : agent_sigma[k];
      if (sigma_min < 0) {
        sig.insert(sig.end(), N_, static_cast<float>(sigma));
        continue;
      }
      ACX_USAGE_CHECK(sigma_min > 0 && sigma_min <= sigma,
                      fmt::format("explore.sigma_min must be in (0, sigma] for every agent's sigma, here {}", sigma));
      const std::vector<float> per = log_uniform_sigmas(N_, static_cast<float>(sigma_min), static_cast<float>(sigma));
      sig.insert(sig.end(), per.begin(), per.end());
    }
    sigma_ = Buffer<float>::from_host(dev_, sig);
    ou_state_ = Buffer<float>(dev_, K_ * N_ * info_.act_dim);
    ou_state_.zero();
    episode_sums_ = Buffer<double>(dev_, 3 * K_);
    episode_sums_.zero();

    fs::create_directories(out_);
    if (resume) {
      load_checkpoint();
    } else {
      env_->reset(mix_seed(seed_, kSaltEnv));
    }
    std::vector<MetricColumn> cols = {
        {"env_steps", MetricKind::kInt, ""},
        {"total_env_steps", MetricKind::kInt, "charts/total_env_steps"},
        {"updates", MetricKind::kInt, "charts/updates"},
        {"wall_s", MetricKind::kFloat64, ""},
        {"env_steps_per_s", MetricKind::kFloat64, "charts/env_steps_per_s"},
        {"updates_per_s", MetricKind::kFloat64, "charts/updates_per_s"},
        {"train_return", MetricKind::kFloat64, "train/return"},
        {"train_episodes", MetricKind::kInt, "train/episodes"},
        {"eval_return", MetricKind::kFloat64, "eval/return"},
        {"eval_return_std", MetricKind::kFloat64, "eval/return_std"},
        {"critic_loss", MetricKind::kFloat32, "losses/critic"},
        {"actor_loss", MetricKind::kFloat32, "losses/actor"},
        {"mean_q", MetricKind::kFloat32, "losses/mean_q"},
    };
    MetricsOptions mo;
    if (resume) mo.resume_env_steps = env_steps_;
    metrics_ = std::make_unique<MetricsWriter>(out_, cols, mo);
  }

  TrainResult run() {
    const std::string header = fmt::format(
        "acx train: {} ({}), {} agent{} x {} envs on {}\n"
        "  replay {:.1f} MB, networks and optimizer {:.1f} MB, envs {:.1f} MB; {} env steps per agent; out {}\n",
        info_.name, cfg_.get_string("algo.name"), K_, K_ > 1 ? "s" : "", N_, dev_.describe(),
        replay_->bytes() / 1e6, agent_->bytes() / 1e6, env_->bytes_per_env() * K_ * N_ / 1e6, total_, out_);
    std::cerr << header;
    ProgressLine progress;
    const auto t0 = std::chrono::steady_clock::now();
    const double wall_before = wall_s_;
    auto elapsed = [&] { return wall_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    int64_t last_log_steps = env_steps_;
    double last_log_wall = elapsed();
    int64_t last_log_updates = agent_->n_updates();
    double eval_mean = kNaN;

    const int64_t log_every = cfg_.get_int("run.log_every"), eval_every = cfg_.get_int("run.eval_every"),
                  ckpt_every = cfg_.get_int("run.checkpoint_every");
    auto crossed = [](int64_t before, int64_t after, int64_t every) { return every > 0 && before / every != after / every; };

    while (env_steps_ < total_) {
      const int64_t before = env_steps_;
      iterate();
      const int64_t after = env_steps_;
      const bool last = after >= total_;
      double eval_std = kNaN;
      bool evaluated = false;
      if (crossed(before, after, eval_every) || last) {
        evaluate(elapsed(), &eval_mean, &eval_std);
        evaluated = true;
      }
      if (crossed(before, after, log_every) || last || evaluated) {
        const double now = elapsed();
        log_row(now, last_log_steps, last_log_wall, last_log_updates, evaluated ? eval_mean : kNaN, eval_std);
        last_log_steps = env_steps_;
        last_log_wall = now;
        last_log_updates = agent_->n_updates();
      }
      if (crossed(before, after, ckpt_every) || last) {
        wall_s_ = elapsed();
        save_checkpoint();
      }
      ProgressStatus st;
      st.env_steps = env_steps_;
      st.total_env_steps = total_;
      st.elapsed_s = elapsed() - wall_before;
      st.env_steps_per_s = st.elapsed_s > 0 ? (env_steps_ - steps_at_start_) * K_ / st.elapsed_s : 0;
      st.train_return = last_train_return_;
      st.eval_return = eval_mean;
      if (!evals_.empty() && !evals_.back().lqr_cost_ratio.empty())
        st.eval_cost_ratio = mean_of(evals_.back().lqr_cost_ratio);
      progress.update(st);
      if (last) progress.finish(st);
    }
    wall_s_ = elapsed();
    return finish();
  }

 private:
  void iterate() {
    const int64_t kn = K_ * N_;
    const uint64_t step_index = static_cast<uint64_t>(env_steps_ / N_);
    const uint64_t explore_seed = mix_seed(seed_, kSaltExplore);
    // 1. act
    if (env_steps_ < cfg_.get_int("algo.warmup_steps")) {
      ops::uniform_actions(dev_, kn, info_.act_dim, low_.data(), high_.data(), explore_seed, step_index,
                           actions_.data());
    } else {
      const float* obs = env_->obs();
      if (norm_) {
        norm_->normalize(obs, N_, norm_obs_.data());
        obs = norm_obs_.data();
      }
      agent_->act(obs, N_, mu_.data());
      if (cfg_.get_string("explore.noise") == "ou") {
        OuConfig ou;
        ou.theta = static_cast<float>(cfg_.get_float("explore.ou_theta"));
        ops::ou_explore(dev_, kn, info_.act_dim, mu_.data(), low_.data(), high_.data(), ou, sigma_.data(),
                        env_->terminated(), env_->truncated(), explore_seed, step_index, ou_state_.data(),
                        actions_.data());
      } else {
        ops::gaussian_explore(dev_, kn, info_.act_dim, mu_.data(), low_.data(), high_.data(), sigma_.data(),
                              explore_seed, step_index, actions_.data());
      }
    }
    // 2. step, 3. store
    if (norm_) norm_->update(env_->obs(), N_);
    memory::copy_device_to_device(dev_, obs_prev_.data(), env_->obs(), kn * info_.obs_dim * sizeof(float));
    env_->step(actions_.data());
    replay_->store(obs_prev_.data(), actions_.data(), env_->reward(), env_->final_obs(), env_->terminated(),
                   env_->truncated());
    const VecEnvArrays& a = env_->arrays();
    ops::accumulate_episode_stats(dev_, EpisodeStatsArgs{K_, N_, a.terminated, a.truncated, a.done_return,
                                                         a.done_length, episode_sums_.data()});
    env_steps_ += N_;
    // 4. the updates due at this env step
    const int64_t starts = cfg_.get_int("algo.learning_starts");
    const int batch = agent_->config().batch;
    if (env_steps_ < starts || replay_->size() / K_ < batch) return;
    const double utd = cfg_.get_float("algo.updates_per_step");
    const int64_t due = static_cast<int64_t>(std::floor(utd * static_cast<double>(env_steps_ - starts + N_)));
    const uint64_t replay_seed = mix_seed(seed_, kSaltReplay);
    while (agent_->n_updates() < due) {
      const uint64_t u = static_cast<uint64_t>(agent_->n_updates());
      replay_->sample(batch, replay_seed, u, *batch_);
      TrainBatch tb{batch_->obs.data(), batch_->action.data(), batch_->reward.data(), batch_->next_obs.data(),
                    batch_->discount.data()};
      if (norm_) {
        norm_->normalize(tb.obs, batch, norm_batch_obs_.data());
        norm_->normalize(tb.next_obs, batch, norm_batch_next_.data());
        tb.obs = norm_batch_obs_.data();
        tb.next_obs = norm_batch_next_.data();
      }
      agent_->update(tb, u);
    }
  }

  // Stops the run: names the quantity, the step and the checkpoint that stays.
  [[noreturn]] void stop_diverged(const std::string& quantity, double value, int agent) const {
    const std::string ckpt = (fs::path(out_) / kCheckpointName).string();
    throw Error(fmt::format("{} is {} at env step {} (update {}, agent {}); stopping. {}", quantity, value, env_steps_,
                            agent_->n_updates(), agent,
                            fs::exists(ckpt) ? "The last good checkpoint is kept: " + ckpt
                                             : std::string("No checkpoint was written yet.")));
  }

  void check_finite(const AgentStats& s) const {
    for (int k = 0; k < K_; ++k) {
      const std::pair<const char*, float> q[] = {
          {"critic loss", s.critic_loss[k]}, {"actor loss", s.actor_loss[k]}, {"mean Q", s.mean_q[k]}};
      for (const auto& [name, v] : q) {
        if (!std::isfinite(v)) stop_diverged(name, v, k);
      }
    }
  }

  void evaluate(double wall, double* mean, double* stdev) {
    const int episodes = static_cast<int>(cfg_.get_int("run.eval_episodes"));
    const uint64_t seed = mix_seed(seed_ ^ static_cast<uint64_t>(env_steps_), kSaltEval);
    const EvalEpisodes e = run_eval(dev_, *agent_, norm_.get(), info_, K_, episodes, eval_max_steps(cfg_), seed);
    const std::vector<double>& r = e.returns;
    EvalRecord rec{env_steps_, wall, 0, 0, {}, lqr_cost_ratios(e, K_)};
    lqr_optimal_return_ = e.expected_optimal_return;
    for (int k = 0; k < K_; ++k) {
      rec.per_agent.push_back(mean_of(std::vector<double>(r.begin() + k * episodes, r.begin() + (k + 1) * episodes)));
    }
    rec.mean = mean_of(rec.per_agent);
    rec.std = std_of(r);
    for (size_t i = 0; i < r.size(); ++i) {
      if (!std::isfinite(r[i])) stop_diverged("the evaluation return", r[i], static_cast<int>(i) / episodes);
    }
    evals_.push_back(rec);
    *mean = rec.mean;
    *stdev = rec.std;
  }

  void log_row(double now, int64_t last_steps, double last_wall, int64_t last_updates, double eval_mean,
               double eval_std) {
    const AgentStats s = agent_->stats();
    if (agent_->n_updates() > 0) check_finite(s);
    const std::vector<double> sums = episode_sums_.to_host();
    episode_sums_.zero();
    double ret_sum = 0, eps = 0;
    int agents_with_episodes = 0;
    for (int k = 0; k < K_; ++k) {
      eps += sums[3 * k];
      if (sums[3 * k] > 0) {
        ret_sum += sums[3 * k + 1] / sums[3 * k];
        ++agents_with_episodes;
      }
    }
    const double train_return = agents_with_episodes ? ret_sum / agents_with_episodes : kNaN;
    if (!std::isnan(train_return)) last_train_return_ = train_return;
    const double dt = now - last_wall;
    const bool updated = agent_->n_updates() > 0;
    metrics_->write_row({static_cast<double>(env_steps_), static_cast<double>(env_steps_ * K_),
                         static_cast<double>(agent_->n_updates()), now,
                         dt > 0 ? (env_steps_ - last_steps) * K_ / dt : kNaN,
                         dt > 0 ? (agent_->n_updates() - last_updates) / dt : kNaN, train_return, eps, eval_mean,
                         eval_std, updated ? mean_of({s.critic_loss.begin(), s.critic_loss.end()}) : kNaN,
                         agent_->n_actor_updates() > 0 ? mean_of({s.actor_loss.begin(), s.actor_loss.end()}) : kNaN,
                         updated ? mean_of({s.mean_q.begin(), s.mean_q.end()}) : kNaN});
  }

  std::vector<safetensors::Tensor> checkpoint_tensors() {
    std::vector<safetensors::Tensor> t;
    for (const StateTensor& s : agent_->state()) {
      size_t n = 1;
      for (int64_t d : s.shape) n *= static_cast<size_t>(d);
      t.push_back(to_tensor(device_to_host_array(dev_, s.name, s.shape, s.data, n)));
    }
    // The actor layer by layer, (K, out, in) and (K, out), for readers that
    // want PyTorch-style tensors (tools/eval_in_gymnasium.py).
    const Mlp& actor = agent_->actor();
    const std::vector<float> params = t[0].values<float>();
    const int64_t P = actor.n_params();
    for (int l = 0; l < actor.n_layers(); ++l) {
      const int64_t out = actor.layer_out(l), in = actor.layer_in(l);
      std::vector<float> w, b;
      for (int k = 0; k < K_; ++k) {
        const float* p = params.data() + k * P;
        w.insert(w.end(), p + actor.weight_offset(l), p + actor.weight_offset(l) + out * in);
        b.insert(b.end(), p + actor.bias_offset(l), p + actor.bias_offset(l) + out);
      }
      t.push_back(safetensors::Tensor::from(fmt::format("actor.layers.{}.weight", l), {K_, out, in}, w));
      t.push_back(safetensors::Tensor::from(fmt::format("actor.layers.{}.bias", l), {K_, out}, b));
    }
    for (HostArray& a : env_->to_host()) t.push_back(to_tensor(std::move(a)));
    if (cfg_.get_bool("run.save_replay")) {
      for (HostArray& a : with_prefix(replay_->to_host(), "replay.")) t.push_back(to_tensor(std::move(a)));
    }
    if (norm_) {
      for (HostArray& a : with_prefix(norm_->to_host(), "obs_norm.")) t.push_back(to_tensor(std::move(a)));
    }
    t.push_back(to_tensor(device_to_host_array(dev_, "explore.ou_state", {K_ * N_, info_.act_dim}, ou_state_.data(),
                                               K_ * N_ * info_.act_dim)));
    t.push_back(to_tensor(device_to_host_array(dev_, "stats.episode_sums", {K_, 3}, episode_sums_.data(), 3 * K_)));
    return t;
  }

  void save_checkpoint() {
    const AgentStats s = agent_->stats();
    if (agent_->n_updates() > 0) check_finite(s);  // never replace a good checkpoint with a diverged one
    std::map<std::string, std::string> meta;
    meta["format"] = kCheckpointFormat;
    meta["acx_version"] = ACX_VERSION;
    meta["env"] = info_.name;
    meta["algo"] = cfg_.get_string("algo.name");
    meta["agents"] = std::to_string(K_);
    meta["config"] = cfg_.to_toml();
    meta["env_steps"] = std::to_string(env_steps_);
    meta["updates"] = std::to_string(agent_->n_updates());
    meta["actor_updates"] = std::to_string(agent_->n_actor_updates());
    meta["wall_s"] = fmt::format("{:.17g}", wall_s_);
    meta["last_train_return"] = fmt::format("{:.17g}", last_train_return_);
    meta["replay_saved"] = cfg_.get_bool("run.save_replay") ? "1" : "0";
    nlohmann::json layers = nlohmann::json::array();
    for (int l = 0; l < agent_->actor().n_layers(); ++l) {
      layers.push_back({{"in", agent_->actor().layer_in(l)}, {"out", agent_->actor().layer_out(l)},
                        {"activation", l + 1 == agent_->actor().n_layers() ? "tanh_scaled" : "relu"}});
    }
    meta["actor_layers"] = layers.dump();
    meta["action_low"] = nlohmann::json(info_.action_low).dump();
    meta["action_high"] = nlohmann::json(info_.action_high).dump();
    safetensors::save_safetensors((fs::path(out_) / kCheckpointName).string(), checkpoint_tensors(), meta);
  }

  void load_checkpoint() {
    const std::string path = (fs::path(out_) / kCheckpointName).string();
    ACX_USAGE_CHECK(fs::exists(path), "cannot resume: " + path + " does not exist");
    const safetensors::SafetensorsFile f = safetensors::load_safetensors(path);
    ACX_USAGE_CHECK(f.metadata().count("format") && f.meta("format") == kCheckpointFormat,
                    path + " is not an acx checkpoint (format '" +
                        (f.metadata().count("format") ? f.meta("format") : std::string("none")) + "')");
    ACX_USAGE_CHECK(f.meta("env") == info_.name,
                    "mismatched checkpoint " + path + ": it is for env " + f.meta("env") + ", the config says " + info_.name);
    {
      // The run's options must be the checkpoint's, but for its length.
      Config saved(train_schema());
      saved.load_toml_string(f.meta("config"), path + " (config)");
      saved.set("run.total_env_steps", cfg_.get_int("run.total_env_steps"), "resume");
      ACX_USAGE_CHECK(saved.to_toml() == cfg_.to_toml(),
                      "mismatched checkpoint " + path + ": its config differs from " + out_ + "/config.toml");
    }
    ACX_USAGE_CHECK(f.meta("replay_saved") == "1",
                    "cannot resume " + path + " exactly: it was saved without the replay buffer (run.save_replay)");
    for (const StateTensor& s : agent_->state()) {
      const auto& t = f.expect(s.name, safetensors::DType::kF32, s.shape);
      memory::copy_host_to_device(dev_, s.data, t.data.data(), t.data.size());
    }
    env_->from_host(arrays_with_prefix(f, ""));
    replay_->from_host(arrays_with_prefix(f, "replay."));
    if (norm_) norm_->from_host(arrays_with_prefix(f, "obs_norm."));
    const auto& ou = f.expect("explore.ou_state", safetensors::DType::kF32, {K_ * N_, info_.act_dim});
    memory::copy_host_to_device(dev_, ou_state_.data(), ou.data.data(), ou.data.size());
    const auto& es = f.expect("stats.episode_sums", safetensors::DType::kF64, {K_, 3});
    memory::copy_host_to_device(dev_, episode_sums_.data(), es.data.data(), es.data.size());
    env_steps_ = std::stoll(f.meta("env_steps"));
    agent_->set_counters(std::stoll(f.meta("updates")), std::stoll(f.meta("actor_updates")));
    wall_s_ = std::stod(f.meta("wall_s"));
    last_train_return_ = std::stod(f.meta("last_train_return"));
    steps_at_start_ = env_steps_;
    std::cerr << fmt::format("acx train: resuming {} at env step {} (update {})\n", path, env_steps_,
                             agent_->n_updates());
  }

  TrainResult finish() {
    nlohmann::json j;
    j["env"] = info_.name;
    j["algo"] = cfg_.get_string("algo.name");
    j["agents"] = K_;
    j["seed"] = seed_;
    j["env_steps"] = env_steps_;
    j["total_env_steps"] = env_steps_ * K_;
    j["updates"] = agent_->n_updates();
    j["wall_s"] = wall_s_;
    j["device"] = dev_.describe();
    j["cpu"] = cpu_model_name();
    nlohmann::json ev = nlohmann::json::array();
    for (const EvalRecord& e : evals_) {
      ev.push_back({{"env_steps", e.env_steps}, {"wall_s", e.wall_s}, {"mean", e.mean}, {"std", e.std},
                    {"per_agent", e.per_agent}});
      if (!e.lqr_cost_ratio.empty()) ev.back()["lqr_cost_ratio_per_agent"] = e.lqr_cost_ratio;
    }
    j["evals"] = ev;
    // Per-agent hyper-parameters when the run is a sweep (variants.*).
    nlohmann::json variants = nlohmann::json::object();
    for (const char* name : {"actor_lr", "critic_lr", "explore_sigma"}) {
      const std::vector<double>& v = cfg_.get_float_list(std::string("variants.") + name);
      if (!v.empty()) variants[name] = v;
    }
    if (!variants.empty()) j["variants"] = variants;
    const double final_eval = evals_.empty() ? kNaN : evals_.back().mean;
    j["final_eval_return"] = final_eval;
    if (!evals_.empty()) j["final_eval_per_agent"] = evals_.back().per_agent;
    if (info_.name == "lqr" && !evals_.empty()) {
      // Cost over the optimal cost from the same start states, over the
      // evaluation's horizon (a ratio of 1 is optimal); mean over agents.
      j["lqr_optimal_return"] = lqr_optimal_return_;
      j["lqr_cost_ratio"] = mean_of(evals_.back().lqr_cost_ratio);
      j["lqr_cost_ratio_per_agent"] = evals_.back().lqr_cost_ratio;
    }
    const std::string path = (fs::path(out_) / "summary.json").string();
    write_file_atomic(path, j.dump(2) + "\n");
    plot();
    std::cout << j.dump(2) << "\n";
    return TrainResult{final_eval, wall_s_, path};
  }

  void plot() const {
    // matplotlib from Debian's python3-matplotlib (scripts/install_deps.sh).
    const std::string script = std::string(ACX_SOURCE_DIR) + "/tools/plot_learning_curve.py";
    if (!fs::exists(script)) return;
    const std::string cmd = "python3 '" + script + "' '" + out_ + "' > /dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::cerr << "acx train: note: learning_curve.png not drawn (needs python3 with matplotlib: " << script << ")\n";
    }
  }

  Device dev_;
  Config cfg_;
  std::string out_;
  EnvInfo info_;
  int K_ = 1;
  int64_t N_ = 1;
  uint64_t seed_ = 1;
  int64_t total_ = 0;
  std::unique_ptr<Agent> agent_;
  std::unique_ptr<VecEnv> env_;
  std::unique_ptr<ReplayBuffer> replay_;
  std::unique_ptr<ReplayBatch> batch_;
  std::unique_ptr<RunningNormalizer> norm_;
  std::unique_ptr<MetricsWriter> metrics_;
  Buffer<float> actions_, mu_, obs_prev_, low_, high_, sigma_, ou_state_, norm_obs_, norm_batch_obs_, norm_batch_next_;
  Buffer<double> episode_sums_;
  int64_t env_steps_ = 0, steps_at_start_ = 0;
  double wall_s_ = 0;
  double last_train_return_ = kNaN;
  double lqr_optimal_return_ = kNaN;
  std::vector<EvalRecord> evals_;
};

}  // namespace

Config resolve_train_config(const std::string& env, const std::string& config_file,
                            const std::vector<std::string>& overrides) {
  Config cfg(train_schema());
  // The env decides its defaults: from the flag, else from the file, else the schema's.
  std::string name = env;
  if (name.empty() && !config_file.empty()) {
    Config probe(train_schema());
    probe.load_toml(config_file);
    name = probe.get_string("env.name");
  }
  if (name.empty()) name = cfg.get_string("env.name");
  (void)find_registered_env(name);  // a clear error for an unknown env
  for (const auto& [k, v] : env_defaults(name)) cfg.load_toml_string(k + " = " + v, "env defaults of " + name);
  cfg.set("env.name", name, "--env");
  if (!config_file.empty()) cfg.load_toml(config_file);
  for (const std::string& o : overrides) cfg.apply_override(o);
  if (!env.empty()) cfg.set("env.name", env, "--env");
  (void)find_registered_env(cfg.get_string("env.name"));
  return cfg;
}

TrainResult train(const Device& dev, Config cfg, const std::string& out_dir, bool resume) {
  const fs::path dir(out_dir);
  const fs::path config_path = dir / "config.toml";
  if (resume) {
    ACX_USAGE_CHECK(fs::exists(config_path), "cannot resume: " + config_path.string() + " does not exist");
    write_file_atomic(config_path.string(), cfg.to_toml("acx train: the resolved configuration of this run. "
                                                        "`acx train --config` this file to repeat it."));
  } else {
    ACX_USAGE_CHECK(!fs::exists(dir / "metrics.csv") && !fs::exists(dir / kCheckpointName),
                    out_dir + " already holds a run; use --resume " + out_dir + " to continue it, or another --out");
    fs::create_directories(dir);
    write_file_atomic(config_path.string(), cfg.to_toml("acx train: the resolved configuration of this run. "
                                                        "`acx train --config` this file to repeat it."));
  }
  Run run(dev, std::move(cfg), out_dir, resume);
  return run.run();
}

EvalResult evaluate_checkpoint(const Device& dev, const std::string& checkpoint, int episodes, uint64_t seed) {
  ACX_USAGE_CHECK(episodes >= 1, "--episodes must be at least 1");
  ACX_USAGE_CHECK(fs::exists(checkpoint), "checkpoint " + checkpoint + " does not exist");
  const safetensors::SafetensorsFile f = safetensors::load_safetensors(checkpoint);
  ACX_USAGE_CHECK(f.metadata().count("format") && f.meta("format") == kCheckpointFormat,
                  checkpoint + " is not an acx checkpoint");
  Config cfg(train_schema());
  cfg.load_toml_string(f.meta("config"), checkpoint + " (config)");
  const EnvInfo info = find_registered_env(cfg.get_string("env.name"));
  Agent agent(dev, info, agent_config(cfg));
  for (const StateTensor& s : agent.state()) {
    if (s.name != "actor.params") continue;
    const auto& t = f.expect(s.name, safetensors::DType::kF32, s.shape);
    memory::copy_host_to_device(dev, s.data, t.data.data(), t.data.size());
  }
  std::unique_ptr<RunningNormalizer> norm;
  if (cfg.get_bool("obs_norm.enabled")) {
    NormalizerConfig nc;
    nc.clip = static_cast<float>(cfg.get_float("obs_norm.clip"));
    norm = std::make_unique<RunningNormalizer>(dev, info.obs_dim, nc, static_cast<int>(cfg.get_int("run.agents")));
    norm->from_host(arrays_with_prefix(f, "obs_norm."));
  }
  EvalResult r;
  r.agents = static_cast<int>(cfg.get_int("run.agents"));
  r.env = info.name;
  const EvalEpisodes e =
      run_eval(dev, agent, norm.get(), info, r.agents, episodes, eval_max_steps(cfg), mix_seed(seed, kSaltEval));
  r.returns = e.returns;
  r.lqr_cost_ratio = lqr_cost_ratios(e, r.agents);
  r.lqr_optimal_return = e.expected_optimal_return;
  r.mean = mean_of(r.returns);
  r.std = std_of(r.returns);
  return r;
}

}  // namespace acx
