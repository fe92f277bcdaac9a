#include "host/learn/trainer.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <limits>
#include <map>
#include <optional>

#include "envs/lqr_riccati.h"
#include "envs/vec_env.h"
#include "host/dist/comm.h"
#include "host/io/atomic_file.h"
#include "host/io/read_file.h"
#include "host/io/metrics.h"
#include "host/io/run_lock.h"
#include "host/io/safetensors.h"
#include "host/learn/agent.h"
#include "host/learn/checkpoint.h"
#include "host/learn/thread_governor.h"
#include "host/learn/train_config.h"
#include "kernels/episode_stats.h"
#include "kernels/counter.h"
#include "kernels/explore.h"
#include "kernels/normalizer.h"
#include "kernels/replay.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/graph.h"
#include "kernels/runtime/machine.h"

namespace acx {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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
  const int e = c.get_int32("run.eval_max_steps");
  return e > 0 ? e : c.get_int32("env.max_steps");
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

// What a checkpoint read for resuming or evaluating has passed: its
// metadata, its config (the one it was trained with) and the file with the
// tensors asked for, all checked (host/learn/checkpoint.h) before anything
// is allocated from them.
struct CheckedCheckpoint {
  safetensors::SafetensorsFile file;
  CheckpointMeta meta;
  Config config;
  EnvInfo env;
};

CheckedCheckpoint read_checkpoint(const std::string& path, const safetensors::TensorFilter& want = {}) {
  safetensors::SafetensorsFile f = safetensors::load_safetensors(path, want);
  CheckpointMeta meta = parse_checkpoint_meta(f.metadata(), path);
  if (!f.checksummed()) throw Error("corrupt checkpoint " + path + ": its checksums are missing");
  Config cfg = checkpoint_config(meta, path);
  const EnvInfo env = find_registered_env(cfg.get_string("env.name"));
  check_checkpoint_meta(meta, cfg, env, path);
  check_checkpoint_shapes(f, cfg, env);
  check_finite_tensors(f);
  return CheckedCheckpoint{std::move(f), std::move(meta), std::move(cfg), env};
}

// How a Run starts: from scratch, from the checkpoint in its directory, or
// over from step 0 with the directory's config (a run that stopped before
// its first checkpoint).
enum class Start { kFresh, kResume, kRestart };

// Refuses a run whose buffers cannot fit the device, naming what they need.
void check_memory(const Device& dev, int64_t replay_bytes, int64_t agent_bytes, const Config& c) {
  const uint64_t have = dev.memory_bytes();
  const uint64_t need = static_cast<uint64_t>(replay_bytes) + static_cast<uint64_t>(agent_bytes);
  if (need <= have) return;
  throw UsageError(fmt::format(
      "this run needs {:.3g} GB ({:.3g} GB of replay: replay.capacity {} x run.agents {}; {:.3g} GB of networks), "
      "more than the {:.3g} GB of memory of {}: lower replay.capacity, run.agents or the network widths",
      need / 1e9, replay_bytes / 1e9, c.get_int("replay.capacity"), c.get_int("run.agents"), agent_bytes / 1e9,
      have / 1e9, dev.describe()));
}

// Draws learning_curve.png with tools/plot_learning_curve.py: a child
// process from an argument vector (no shell: the directory's name is data,
// never a command), its output discarded. Returns whether it succeeded.
bool run_plot_script(const std::string& script, const std::string& dir) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::string python = "python3";
  std::vector<char*> argv = {python.data(), const_cast<char*>(script.c_str()), const_cast<char*>(dir.c_str()), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "python3", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return false;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class Run {
 public:
  // Everything is checked before anything is allocated or written: the
  // checkpoint (kResume), the run's length against it, the memory the
  // buffers need. Then the buffers, the restored state, DIR/config.toml and
  // the metrics files.
  Run(const Device& dev, Config cfg, std::string out_dir, Start start, Output output, const DataParallelHooks* dp,
      const PopulationHooks* pop)
      : dev_(dev), cfg_(std::move(cfg)), out_(std::move(out_dir)), output_(output), dp_(dp) {
    info_ = find_registered_env(cfg_.get_string("env.name"));
    K_ = cfg_.get_int32("run.agents");
    N_ = cfg_.get_int("env.n_envs");
    seed_ = static_cast<uint64_t>(cfg_.get_int("run.seed"));
    // A data-parallel rank steps its own envs and samples its own replay;
    // rank 0 keeps the one-process streams.
    stream_seed_ = (dp_ && dp_->rank > 0) ? mix_seed(seed_, kSaltRank + static_cast<uint64_t>(dp_->rank)) : seed_;
    total_ = cfg_.get_int("run.total_env_steps");

    std::optional<CheckedCheckpoint> ckpt;
    if (start == Start::kResume) {
      ckpt = read_checkpoint((fs::path(out_) / kCheckpointName).string());
      check_resumable(*ckpt);
    }

    if (cfg_.get_bool("pbt.enabled")) setup_pbt(pop);
    // Ranks that depend on each other check that they agree (start step,
    // state, checkpoints) through their launch's collective.
    if (dp_) {
      check_same_ = dp_->check_same;
    } else if (pbt_ && pop_.transport->size() > 1) {
      ACX_CHECK(static_cast<bool>(pop_.check_same), "a population launch without its agreement check");
      check_same_ = pop_.check_same;
    }

    AgentConfig acfg = agent_config(cfg_);
    if (dp_ && dp_->rank > 0) {
      // Each rank's batch rows get their own target-smoothing and policy
      // noise (the networks' initialization stays the same on every rank).
      acfg.smoothing_seed = mix_seed(acfg.smoothing_seed, kSaltRank + static_cast<uint64_t>(dp_->rank));
      acfg.policy_seed = mix_seed(acfg.policy_seed, kSaltRank + static_cast<uint64_t>(dp_->rank));
    }
    ReplayConfig rc;
    rc.capacity = checked_product({cfg_.get_int("replay.capacity"), K_}, "replay.capacity x run.agents");
    rc.n_envs = checked_product({K_, N_}, "run.agents x env.n_envs");
    rc.obs_dim = info_.obs_dim;
    rc.act_dim = info_.act_dim;
    rc.n_step = cfg_.get_int32("algo.n_step");
    rc.gamma = static_cast<float>(cfg_.get_float("algo.gamma"));
    rc.n_members = K_;
    check_memory(dev_, ReplayBuffer::bytes_for(rc), Agent::bytes_for(info_, acfg), cfg_);

    agent_ = std::make_unique<Agent>(dev_, info_, acfg);
    if (dp_) agent_->set_grad_reduce(dp_->grad_reduce);
    env_ = make_vec_env(dev_, info_.name, K_ * N_);
    if (cfg_.get_int("env.max_steps") > 0) env_->set_max_steps(cfg_.get_int32("env.max_steps"));
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
    redraw_sigma_ = cfg_.get_bool("explore.sigma_redraw");
    if (redraw_sigma_) {
      ACX_USAGE_CHECK(sigma_min > 0, "explore.sigma_redraw needs explore.sigma_min > 0: the scales are drawn from "
                                     "[sigma_min, sigma]");
      std::vector<float> hi;
      for (int k = 0; k < K_; ++k)
        hi.push_back(static_cast<float>(agent_sigma.empty() ? cfg_.get_float("explore.sigma") : agent_sigma[k]));
      sigma_hi_ = Buffer<float>::from_host(dev_, hi);
    }
    ou_state_ = Buffer<float>(dev_, K_ * N_ * info_.act_dim);
    ou_state_.zero();
    episode_sums_ = Buffer<double>(dev_, 3 * K_);
    episode_sums_.zero();
    episode_partial_ = Buffer<double>(dev_, static_cast<size_t>(episode_stats_scratch(K_, N_)));
    step_counter_ = Buffer<uint64_t>(dev_, 1);

    if (pbt_) {
      for (int k = 0; k < K_; ++k) {
        hyper_[k].v[kPbtActorLr] = acfg.actor_lr_per_agent.empty() ? acfg.actor_lr : acfg.actor_lr_per_agent[k];
        hyper_[k].v[kPbtCriticLr] = acfg.critic_lr_per_agent.empty() ? acfg.critic_lr : acfg.critic_lr_per_agent[k];
        hyper_[k].v[kPbtExploreSigma] =
            static_cast<float>(agent_sigma.empty() ? cfg_.get_float("explore.sigma") : agent_sigma[k]);
      }
      initial_hyper_ = hyper_;
    }
    if (ckpt) {
      restore(*ckpt);
    } else {
      env_->reset(mix_seed(stream_seed_, kSaltEnv));
    }
    const uint64_t vector_step = static_cast<uint64_t>(env_steps_ / N_);
    step_counter_.copy_from_host(&vector_step, 1);
    setup_graphs();
    // Every coordinated rank starts from a checkpoint of the same step, or
    // none does (every rank takes part, with or without a checkpoint).
    if (check_same_) check_same_("starting env step (from their checkpoints)", std::to_string(env_steps_));
    if (pbt_) start_lineage(start);
    write_file_atomic((fs::path(out_) / "config.toml").string(),
                      cfg_.to_toml("acx train: the resolved configuration of this run. "
                                   "`acx train --config` this file to repeat it."));
    if (env_steps_ >= total_) return;  // a finished run: nothing is appended to its logs
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
    if (agent_->is_sac()) {
      cols.push_back({"alpha", MetricKind::kFloat32, "losses/alpha"});
      cols.push_back({"entropy", MetricKind::kFloat32, "losses/entropy"});
    }
    MetricsOptions mo;
    // Resuming keeps the rows up to the checkpoint; starting over keeps none.
    if (start != Start::kFresh) mo.resume_env_steps = env_steps_;
    metrics_ = std::make_unique<MetricsWriter>(out_, cols, mo);
  }

  TrainResult run() {
    if (env_steps_ >= total_) {
      std::cerr << fmt::format("acx train: {} is complete at env step {} of run.total_env_steps {}; nothing to "
                               "train (raise run.total_env_steps with --set to continue it); summary.json rewritten\n",
                               printable(out_), env_steps_, total_);
      return finish();
    }
    const std::string header = fmt::format(
        "acx train: {} ({}), {} agent{} x {} envs on {}{}\n"
        "  replay {:.1f} MB, networks and optimizer {:.1f} MB, envs {:.1f} MB; {} env steps per agent; out {}\n",
        info_.name, cfg_.get_string("algo.name"), K_, K_ > 1 ? "s" : "", N_, dev_.describe(),
        dev_.is_cuda() ? (graphs_on_ ? ", CUDA graphs on" : ", CUDA graphs off (" + graph_why_not_ + ")") : "",
        replay_->bytes() / 1e6, agent_->bytes() / 1e6, env_->bytes_per_env() * K_ * N_ / 1e6, total_,
        printable(out_));
    if (output_ != Output::kQuiet) std::cerr << header;
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

    // run.threads = 0 on the CPU: the thread count is measured, not guessed
    // (host/learn/thread_governor.h); results do not depend on it.
    if (!dev_.is_cuda() && cfg_.get_int("run.threads") == 0 && dev_.cpu_threads() > 1) {
      governor_ = std::make_unique<ThreadGovernor>(dev_.cpu_threads(), [d = dev_](int n) { d.set_cpu_threads(n); });
    }
    while (env_steps_ < total_) {
      const int64_t before = env_steps_;
      const auto iter_start = std::chrono::steady_clock::now();
      iterate();
      if (governor_) governor_->record(std::chrono::duration<double>(std::chrono::steady_clock::now() - iter_start).count());
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
      if (pbt_ && crossed(before, after, pbt_->interval) && !last) pbt_round(progress.is_tty());
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
      if (output_ != Output::kQuiet) progress.update(st);
      if (last && output_ != Output::kQuiet) progress.finish(st);
    }
    wall_s_ = elapsed();
    return finish();
  }

 private:
  // One iteration: launched, or as a CUDA graph (run.cuda_graph). The
  // iteration's shape (warm-up or not, the updates it takes and where the
  // first falls in the policy-delay cycle) picks its graph; each shape runs
  // launched the first time (its buffers are allocated then), is captured
  // the second, and is replayed from then on, the host redoing only its
  // own bookkeeping (kernels/runtime/graph.h).
  void iterate() {
    if (!graphs_on_) {
      iterate_body();
      return;
    }
    const IterationShape shape = next_shape();
    auto it = graphs_.find(shape);
    if (it == graphs_.end()) {
      // A new shape's first run may allocate, and a buffer that grows frees
      // the memory it had: the graphs captured so far are dropped (captured
      // again at their next iteration) rather than trusted to point at it.
      for (auto& [other, graph] : graphs_) graph = StreamGraph();
      if (graphs_.size() < kMaxGraphs) graphs_.emplace(shape, StreamGraph());  // past the cap: launched
      iterate_body();
      ++graph_stats_.launched;
      return;
    }
    if (it->second.empty()) {
      // The capture runs the host's side of the iteration (counters move on)
      // while the device does nothing: if it fails, the host's counters are
      // put back and, under auto, the run goes on launched.
      const HostCounters before = host_counters();
      try {
        it->second = StreamGraph::capture(dev_, [this] { iterate_body(); });
      } catch (const Error& e) {
        set_host_counters(before);
        if (cfg_.get_string("run.cuda_graph") == "on") throw;
        graphs_on_ = false;
        graphs_.clear();
        graph_why_not_ = std::string("a capture failed: ") + e.what();
        if (output_ != Output::kQuiet) std::cerr << "\nacx train: CUDA graphs off from here: " << graph_why_not_ << "\n";
        iterate_body();
        ++graph_stats_.launched;
        return;
      }
      ++graph_stats_.captured;
      graph_stats_.max_nodes = std::max(graph_stats_.max_nodes, it->second.nodes());
    } else {
      run_host_only(dev_, [this] { iterate_body(); });
      ++graph_stats_.replayed;
    }
    it->second.launch();
  }

  // What the host's side of an iteration moves on.
  struct HostCounters {
    int64_t env_steps, updates, actor_updates, replay_head, replay_size;
  };
  HostCounters host_counters() const {
    return {env_steps_, agent_->n_updates(), agent_->n_actor_updates(), replay_->head(), replay_->size_steps()};
  }
  void set_host_counters(const HostCounters& c) {
    env_steps_ = c.env_steps;
    agent_->set_counters(c.updates, c.actor_updates);
    replay_->set_ring(c.replay_head, c.replay_size);
  }

  struct IterationShape {
    bool warmup;
    int64_t updates;  // taken in this iteration
    int64_t phase;    // the first one's place in the policy-delay cycle
    auto operator<=>(const IterationShape&) const = default;
  };
  static constexpr size_t kMaxGraphs = 16;

  IterationShape next_shape() const {
    const int64_t due = updates_due(cfg_, env_steps_ + N_);
    const int64_t n = agent_->n_updates(), updates = std::max<int64_t>(0, due - n);
    return {env_steps_ < cfg_.get_int("algo.warmup_steps"), updates,
            updates > 0 ? n % agent_->config().policy_delay : 0};
  }

  // run.cuda_graph: whether this run's iterations go through graphs, and
  // if not, why (the header line and summary.json say).
  void setup_graphs() {
    const std::string mode = cfg_.get_string("run.cuda_graph");
    std::string why;
    if (mode == "off") {
      why = "run.cuda_graph = off";
    } else if (!graphs_supported(dev_, &why)) {
      // why says it
    } else if (dp_) {
      why = "data-parallel learners reduce gradients through MPI on the host";
    } else if (!env_->steps_on_device()) {
      why = info_.name + " steps on the host";
    } else if (const char* sync = std::getenv("ACX_SYNC_LAUNCHES"); mode == "auto" && sync && sync[0] == '1') {
      why = "ACX_SYNC_LAUNCHES=1 checks each launch as it runs";
    } else {
      graphs_on_ = true;
    }
    ACX_USAGE_CHECK(graphs_on_ || mode != "on", "run.cuda_graph = on, but this run cannot use CUDA graphs: " + why);
    graph_why_not_ = why;
  }

  void iterate_body() {
    const int64_t kn = K_ * N_;
    // The vector step keys this step's draws from device memory (advanced
    // below), so a captured graph keys each replay right.
    const DeviceCounter step_index = DeviceCounter::at(step_counter_.data());
    const uint64_t explore_seed = mix_seed(stream_seed_, kSaltExplore);
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
      if (agent_->is_sac()) {
        // SAC explores by sampling its own policy.
        agent_->act_sample(obs, N_, explore_seed, step_index, actions_.data());
      } else {
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
    }
    // 2. step, 3. store
    if (norm_) update_normalizer();
    memory::copy_device_to_device(dev_, obs_prev_.data(), env_->obs(), kn * info_.obs_dim * sizeof(float));
    env_->step(actions_.data());
    replay_->store(obs_prev_.data(), actions_.data(), env_->reward(), env_->final_obs(), env_->terminated(),
                   env_->truncated());
    const VecEnvArrays& a = env_->arrays();
    if (redraw_sigma_) {  // a new scale for every env whose episode just ended
      ops::redraw_sigma(dev_, RedrawSigmaArgs{kn, N_, static_cast<float>(cfg_.get_float("explore.sigma_min")),
                                              sigma_hi_.data(), a.terminated, a.truncated, explore_seed, step_index,
                                              sigma_.data()});
    }
    ops::accumulate_episode_stats(dev_, EpisodeStatsArgs{K_, N_, a.terminated, a.truncated, a.done_return,
                                                         a.done_length, episode_sums_.data(),
                                                         episode_partial_.data()});
    ops::advance_counter(dev_, step_counter_.data());
    env_steps_ += N_;
    // 4. the updates due at this env step
    const int batch = agent_->config().batch;
    const int64_t due = updates_due(cfg_, env_steps_);
    const uint64_t replay_seed = mix_seed(stream_seed_, kSaltReplay);
    while (agent_->n_updates() < due) {
      // Keyed by the update number, which the agent holds on the device.
      replay_->sample(batch, replay_seed, DeviceCounter::at(agent_->update_counter()), *batch_);
      TrainBatch tb{batch_->obs.data(), batch_->action.data(), batch_->reward.data(), batch_->next_obs.data(),
                    batch_->discount.data()};
      if (norm_) {
        norm_->normalize(tb.obs, batch, norm_batch_obs_.data());
        norm_->normalize(tb.next_obs, batch, norm_batch_next_.data());
        tb.obs = norm_batch_obs_.data();
        tb.next_obs = norm_batch_next_.data();
      }
      agent_->update(tb);
    }
  }

  // Whether this run's checkpoints must be at the same step as other
  // ranks' (data-parallel learners, a PBT population over several ranks).
  bool coordinated() const { return static_cast<bool>(check_same_); }
  int my_rank() const { return dp_ ? dp_->rank : (pop_.transport ? pop_.transport->rank() : 0); }

  // PBT in one process: the population is this run's agents.
  class LocalTransport : public PbtTransport {
   public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    std::vector<std::string> all_gather(const std::string& bytes) override { return {bytes}; }
    void send(int, const std::string&) override { throw Error("PBT in one process sends nothing"); }
    std::string recv(int) override { throw Error("PBT in one process receives nothing"); }
  };

  void setup_pbt(const PopulationHooks* pop) {
    if (pop) {
      pop_ = *pop;
    } else {
      local_transport_ = std::make_unique<LocalTransport>();
      pop_.first_member = 0;
      pop_.population = pop_.members_per_rank = K_;
      pop_.transport = local_transport_.get();
      pop_.lineage_path = (fs::path(out_) / "pbt.csv").string();
      pop_.launch_seed = cfg_.get_int("run.seed");
    }
    ACX_CHECK(pop_.members_per_rank == K_ && pop_.transport, "a population rank's block disagrees with run.agents");
    PbtConfig p = pbt_config(cfg_, pop_.population);
    p.seed = mix_seed(static_cast<uint64_t>(pop_.launch_seed), kSaltPbt);  // the same on every rank
    const double sigma_min = cfg_.get_float("explore.sigma_min");
    ACX_USAGE_CHECK(!(p.perturbs[kPbtExploreSigma] && sigma_min > 0 && p.low[kPbtExploreSigma] < sigma_min),
                    fmt::format("pbt.explore_sigma_range starts at {}, below explore.sigma_min = {}: a member's "
                                "scales spread over [sigma_min, sigma]; start the range at sigma_min or above",
                                p.low[kPbtExploreSigma], sigma_min));
    pbt_ = p;
    hyper_.assign(K_, MemberHyper{});
    last_change_.assign(K_, 0);
  }

  // pbt.csv: a fresh run starts it; a resume keeps the rows up to its
  // checkpoint (a killed run may have written rounds past it).
  void start_lineage(Start start) {
    if (pop_.lineage_path.empty()) return;
    std::string kept = pbt_csv_header();
    if (start == Start::kResume && fs::exists(pop_.lineage_path)) {
      std::istringstream in(read_file(pop_.lineage_path, 1 << 30, "pbt.csv"));
      std::string line;
      std::getline(in, line);  // the header
      while (std::getline(in, line)) {
        const int64_t step = std::strtoll(line.c_str(), nullptr, 10);
        if (!line.empty() && step <= env_steps_) kept += line + "\n";
      }
    }
    write_file_atomic(pop_.lineage_path, kept);
  }

  // Agent k's rows of every flat buffer a copy carries: the agent's state
  // (weights, targets, Adam moments, SAC's temperature), then the
  // observation statistics.
  std::string pack_member(int k) {
    std::string out;
    for (const StateTensor& t : agent_->state()) {
      int64_t n = 1;
      for (int64_t d : t.shape) n *= d;
      out += member_rows(dev_, t.data, n * static_cast<int64_t>(sizeof(float)), t.shape[0], K_, k);
    }
    if (norm_) {
      for (const HostArray& a : norm_->to_host()) out += member_rows_host(a.bytes, a.shape.size() == 2 ? a.shape[0] : 1, K_, k);
    }
    return out;
  }

  void unpack_member(int k, const std::string& bytes) {
    size_t at = 0;
    auto take = [&](size_t n) {
      ACX_CHECK(at + n <= bytes.size(), "a PBT member's state is shorter than this run's");
      std::string part = bytes.substr(at, n);
      at += n;
      return part;
    };
    for (const StateTensor& t : agent_->state()) {
      int64_t n = 1;
      for (int64_t d : t.shape) n *= d;
      const int64_t total = n * static_cast<int64_t>(sizeof(float));
      set_member_rows(dev_, t.data, total, t.shape[0], K_, k, take(static_cast<size_t>(total / K_)));
    }
    if (norm_) {
      std::vector<HostArray> arrays = norm_->to_host();
      for (HostArray& a : arrays)
        set_member_rows_host(&a.bytes, a.shape.size() == 2 ? a.shape[0] : 1, K_, k, take(a.bytes.size() / K_));
      norm_->from_host(arrays);
    }
    ACX_CHECK(at == bytes.size(), "a PBT member's state is longer than this run's");
  }

  // Agent k's hyper-parameters into the optimizer and the exploration.
  void apply_hyper(int k) {
    const MemberHyper& h = hyper_[k];
    agent_->set_member_learning_rates(k, h.v[kPbtActorLr], h.v[kPbtCriticLr]);
    if (agent_->is_sac()) return;
    const float sigma = h.v[kPbtExploreSigma];
    const double sigma_min = cfg_.get_float("explore.sigma_min");
    const std::vector<float> per =
        sigma_min < 0 ? std::vector<float>(static_cast<size_t>(N_), sigma)
                      : log_uniform_sigmas(N_, static_cast<float>(sigma_min), sigma);
    memory::copy_host_to_device(dev_, sigma_.data() + static_cast<int64_t>(k) * N_, per.data(), per.size() * sizeof(float));
    if (redraw_sigma_) memory::copy_host_to_device(dev_, sigma_hi_.data() + k, &sigma, sizeof(float));
  }

  // One PBT round (host/learn/pbt.h), right after the evaluation at this step.
  void pbt_round(bool tty) {
    graphs_.clear();  // a copy may give a member learning rates of its own: a new buffer the graphs never saw
    ACX_CHECK(!evals_.empty() && evals_.back().env_steps == env_steps_, "a PBT round without this step's evaluation");
    const std::vector<double>& score = evals_.back().per_agent;
    std::vector<PbtMember> mine(K_);
    for (int k = 0; k < K_; ++k) mine[k] = PbtMember{score[k], last_change_[k], hyper_[k]};
    PbtTransport& net = *pop_.transport;
    std::vector<PbtMember> all;
    for (const std::string& b : net.all_gather(pack_members(mine))) {
      const std::vector<PbtMember> part = unpack_members(b);
      all.insert(all.end(), part.begin(), part.end());
    }
    ACX_CHECK(static_cast<int>(all.size()) == pop_.population, "the ranks' PBT tables do not make the population");
    std::vector<PbtChange> changes = pbt_decide(*pbt_, all, env_steps_);
    const int per = pop_.members_per_rank, me = net.rank();
    // Sources are top members and receivers bottom ones: no source changes
    // in its own round. Every rank walks the changes in the same order, so
    // each send meets its receive.
    std::vector<uint64_t> hashes(2 * changes.size(), 0);  // (sent, received) per change, by the ranks involved
    for (size_t i = 0; i < changes.size(); ++i) {
      const PbtChange& c = changes[i];
      const int from = c.source / per, to = c.member / per;
      std::string blob;
      if (from == me) {
        blob = pack_member(c.source - pop_.first_member);
        hashes[2 * i] = dist::fnv1a64(blob);
        if (to != me) net.send(to, blob);
      }
      if (to == me) {
        if (from != me) blob = net.recv(from);
        const int k = c.member - pop_.first_member;
        unpack_member(k, blob);
        hyper_[k] = c.after;
        apply_hyper(k);
        last_change_[k] = env_steps_;
        hashes[2 * i + 1] = dist::fnv1a64(pack_member(k));  // as installed, read back
      }
    }
    // Every copy checked end to end: what the source's rank sent is what
    // the member's rank holds now.
    const std::vector<std::string> seen =
        net.all_gather(std::string(reinterpret_cast<const char*>(hashes.data()), hashes.size() * sizeof(uint64_t)));
    for (size_t i = 0; i < changes.size(); ++i) {
      PbtChange& c = changes[i];
      auto at = [&](int rank, size_t slot) {
        uint64_t v = 0;
        std::memcpy(&v, seen[rank].data() + slot * sizeof(uint64_t), sizeof(uint64_t));
        return v;
      };
      const uint64_t sent = at(c.source / per, 2 * i), got = at(c.member / per, 2 * i + 1);
      if (sent != got)
        throw Error(fmt::format("PBT round at env step {}: member {}'s state arrived as {:016x}, but member {}'s rank "
                                "sent {:016x}; stopping (the last checkpoint is before this round)",
                                env_steps_, c.member, got, c.source, sent));
      c.state_hash = sent;
    }
    if (!pop_.lineage_path.empty() && !changes.empty()) {
      std::string rows;
      for (const PbtChange& c : changes) rows += pbt_csv_row(c);
      std::ofstream f(pop_.lineage_path, std::ios::app);
      f << rows;
      if (!f.flush()) throw Error("cannot append to " + pop_.lineage_path);
    }
    if (output_ != Output::kQuiet) {
      std::string line = fmt::format("acx train: PBT round {} at env step {}: ", env_steps_ / pbt_->interval, env_steps_);
      if (changes.empty()) line += "no member replaced";
      for (size_t i = 0; i < changes.size(); ++i) {
        const PbtChange& c = changes[i];
        line += fmt::format("{}member {} ({:.1f}) <- member {} ({:.1f})", i ? "; " : "", c.member, c.member_score,
                            c.source, c.source_score);
      }
      std::cerr << (tty ? "\r\033[K" : "") << line << "\n";
    }
  }

  // The observation statistics see this step's observations: this run's,
  // or with data-parallel ranks every rank's, agent by agent in rank order
  // (as one process stepping all P N envs would), so that every rank keeps
  // the same statistics bit for bit.
  void update_normalizer() {
    if (!dp_ || !dp_->all_gather) {
      norm_->update(env_->obs(), N_);
      return;
    }
    const int64_t dim = info_.obs_dim, per_agent = N_ * dim;
    std::vector<float> mine(static_cast<size_t>(K_ * per_agent));
    memory::copy_device_to_host(dev_, mine.data(), env_->obs(), mine.size() * sizeof(float));
    const std::vector<std::string> all =
        dp_->all_gather(std::string(reinterpret_cast<const char*>(mine.data()), mine.size() * sizeof(float)));
    const int64_t P = static_cast<int64_t>(all.size());
    std::vector<float> merged(static_cast<size_t>(P * K_ * per_agent));
    for (int64_t r = 0; r < P; ++r) {
      ACX_CHECK(all[r].size() == mine.size() * sizeof(float), "a rank's observations have another size");
      for (int64_t k = 0; k < K_; ++k)  // (K, P N, dim): agent k's rows, rank by rank
        std::memcpy(merged.data() + (k * P + r) * per_agent, all[r].data() + k * per_agent * sizeof(float),
                    static_cast<size_t>(per_agent) * sizeof(float));
    }
    if (merged_obs_.size() != merged.size()) merged_obs_ = Buffer<float>(dev_, static_cast<int64_t>(merged.size()));
    memory::copy_host_to_device(dev_, merged_obs_.data(), merged.data(), merged.size() * sizeof(float));
    norm_->update(merged_obs_.data(), P * N_);
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
    const int episodes = cfg_.get_int32("run.eval_episodes");
    const uint64_t seed = mix_seed(seed_ ^ static_cast<uint64_t>(env_steps_), kSaltEval);
    const EvalEpisodes e = run_eval(dev_, *agent_, norm_.get(), info_, K_, episodes, eval_max_steps(cfg_), seed);
    const std::vector<double>& r = e.returns;
    EvalRecord rec{env_steps_, wall, 0, 0, {}, lqr_cost_ratios(e, K_)};
    if (info_.name == "lqr") lqr_optimal_return_ = e.expected_optimal_return;
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

  // Data-parallel ranks must hold the same agent, bit for bit: a hash of
  // every tensor of its state (parameters, targets, optimizer moments).
  void check_ranks_agree() {
    uint64_t h = 14695981039346656037ull;
    for (const StateTensor& t : agent_->state()) {
      size_t n = 1;
      for (int64_t d : t.shape) n *= static_cast<size_t>(d);
      std::vector<float> v(n);
      memory::copy_device_to_host(dev_, v.data(), t.data, n * sizeof(float));
      const unsigned char* b = reinterpret_cast<const unsigned char*>(v.data());
      for (size_t i = 0; i < n * sizeof(float); ++i) h = (h ^ b[i]) * 1099511628211ull;
    }
    if (norm_) {  // the merged observation statistics too
      for (const HostArray& a : norm_->to_host())
        for (uint8_t byte : a.bytes) h = (h ^ byte) * 1099511628211ull;
    }
    dp_->check_same(fmt::format("agent state at update {} (FNV-1a of every tensor{})", agent_->n_updates(),
                                norm_ ? " and the observation statistics" : ""),
                    fmt::format("{:016x}", h));
  }

  void log_row(double now, int64_t last_steps, double last_wall, int64_t last_updates, double eval_mean,
               double eval_std) {
    if (dp_) check_ranks_agree();
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
    std::vector<double> row = {
        static_cast<double>(env_steps_), static_cast<double>(env_steps_ * K_),
        static_cast<double>(agent_->n_updates()), now, dt > 0 ? (env_steps_ - last_steps) * K_ / dt : kNaN,
        dt > 0 ? (agent_->n_updates() - last_updates) / dt : kNaN, train_return, eps, eval_mean, eval_std,
        updated ? mean_of({s.critic_loss.begin(), s.critic_loss.end()}) : kNaN,
        agent_->n_actor_updates() > 0 ? mean_of({s.actor_loss.begin(), s.actor_loss.end()}) : kNaN,
        updated ? mean_of({s.mean_q.begin(), s.mean_q.end()}) : kNaN};
    if (agent_->is_sac()) {
      row.push_back(mean_of({s.alpha.begin(), s.alpha.end()}));
      row.push_back(agent_->n_actor_updates() > 0 ? mean_of({s.entropy.begin(), s.entropy.end()}) : kNaN);
    }
    metrics_->write_row(row);
    if (agent_->is_c51() && updated && !warned_support_) warn_if_support_too_narrow(s);
  }

  // A C51 critic cannot value a return outside [critic.v_min, critic.v_max]:
  // the projection puts it on the boundary atom. Say so once, when an
  // agent's mean Q reaches the outer 5% of the support.
  void warn_if_support_too_narrow(const AgentStats& s) {
    const AgentConfig& c = agent_->config();
    const double margin = 0.05 * (static_cast<double>(c.v_max) - c.v_min);
    for (int k = 0; k < K_; ++k) {
      if (s.mean_q[k] < c.v_min + margin || s.mean_q[k] > c.v_max - margin) {
        std::cerr << fmt::format(
            "acx train: warning: agent {}'s mean Q {:.4g} at env step {} is at the edge of the C51 support [{}, {}]; "
            "returns beyond it are valued as the edge: widen critic.v_min / critic.v_max (they bound the "
            "discounted return times algo.reward_scale)\n",
            k, s.mean_q[k], env_steps_, c.v_min, c.v_max);
        warned_support_ = true;
        return;
      }
    }
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
    if (redraw_sigma_) {
      t.push_back(to_tensor(device_to_host_array(dev_, "explore.sigma", {K_ * N_}, sigma_.data(), K_ * N_)));
    }
    if (pbt_) {
      std::vector<float> h;
      for (const MemberHyper& m : hyper_) h.insert(h.end(), m.v, m.v + kPbtHypers);
      t.push_back(safetensors::Tensor::from("pbt.hyper", {K_, kPbtHypers}, h));
      t.push_back(safetensors::Tensor::from("pbt.last_change", {K_}, last_change_));
    }
    return t;
  }

  // The counters the device advances (kernels/counter.h) against the
  // host's: a mismatch means an iteration ran on the device without the
  // host's bookkeeping, or the reverse (a graph replay gone wrong).
  void check_device_counters() const {
    uint64_t vector_step = 0;
    step_counter_.copy_to_host(&vector_step, 1);
    const RingPosition ring = replay_->device_ring();
    if (vector_step != static_cast<uint64_t>(env_steps_ / N_) || ring.head != replay_->head() ||
        ring.size != replay_->size_steps()) {
      throw Error(fmt::format("the device's counters (vector step {}, replay head {} of {} rows) disagree with the "
                              "host's (vector step {}, replay head {} of {} rows)",
                              vector_step, ring.head, ring.size, env_steps_ / N_, replay_->head(),
                              replay_->size_steps()));
    }
    agent_->check_device_counters();
  }

  void save_checkpoint() {
    check_device_counters();
    if (dp_) check_ranks_agree();  // never save a state the other ranks do not share
    const AgentStats s = agent_->stats();
    if (agent_->n_updates() > 0) check_finite(s);  // never replace a good checkpoint with a diverged one
    CheckpointMeta m;
    m.acx_version = ACX_VERSION;
    m.env = info_.name;
    m.algo = cfg_.get_string("algo.name");
    m.agents = K_;
    m.config = cfg_.to_toml();
    m.env_steps = env_steps_;
    m.updates = agent_->n_updates();
    m.actor_updates = agent_->n_actor_updates();
    m.wall_s = wall_s_;
    m.last_train_return = last_train_return_;
    m.lqr_optimal_return = lqr_optimal_return_;
    m.replay_saved = cfg_.get_bool("run.save_replay");
    m.evals = evals_;
    m.actor_layers = actor_layers_json(cfg_, info_);
    m.action_low = nlohmann::json(info_.action_low).dump();
    m.action_high = nlohmann::json(info_.action_high).dump();
    const fs::path final_path = fs::path(out_) / kCheckpointName;
    if (!coordinated()) {
      safetensors::save_safetensors(final_path.string(), checkpoint_tensors(), checkpoint_metadata(m));
      return;
    }
    // Ranks that depend on each other keep checkpoints of one step: every
    // rank writes the next one aside, they agree that all did, then each
    // renames its own (a launch killed between is reconciled at resume).
    const fs::path next = fs::path(out_) / kCheckpointNextName;
    safetensors::save_safetensors(next.string(), checkpoint_tensors(), checkpoint_metadata(m));
    check_same_("checkpoint written at env step", std::to_string(env_steps_));
    if (const char* die = std::getenv("ACX_DIST_TEST_DIE_BEFORE_RENAME"); die && *die == '1' && my_rank() == 1) {
      std::cerr << "acx train: test hook: rank 1 exits between writing and renaming its checkpoint\n";
      std::_Exit(3);  // tests/dist_data.sh: the resume must reconcile this
    }
    fs::rename(next, final_path);
  }

  // A checkpoint this run can continue from: the run's options are the
  // checkpoint's but for its length, which may only grow.
  void check_resumable(const CheckedCheckpoint& c) const {
    const std::string& path = c.file.path();
    Config saved = c.config;
    saved.set("run.total_env_steps", cfg_.get_int("run.total_env_steps"), "resume");
    saved.set("run.cuda_graph", cfg_.get_string("run.cuda_graph"), "resume");
    // --device may move a run: it goes on from the checkpoint, with the other device's bits.
    const std::string was = saved.get_string("run.device"), now = cfg_.get_string("run.device");
    if (was != now)
      std::cerr << fmt::format("acx train: note: the run trained with run.device = {} and resumes with {} ({}): it goes "
                               "on from its checkpoint, and its numbers are bitwise those of the run that never "
                               "stopped only if both name the same device\n",
                               printable(was), printable(now), printable(dev_.describe()));
    saved.set("run.device", now, "resume");
    ACX_USAGE_CHECK(saved.to_toml() == cfg_.to_toml(),
                    "mismatched checkpoint " + path + ": its config differs from " + out_ + "/config.toml");
    ACX_USAGE_CHECK(c.meta.replay_saved,
                    "cannot resume " + path + " exactly: it was saved without the replay buffer (run.save_replay)");
    ACX_USAGE_CHECK(total_ >= c.meta.env_steps,
                    fmt::format("run.total_env_steps = {} is below the {} env steps this run has already taken "
                                "(its checkpoint {}); a resumed run can only be made longer",
                                total_, c.meta.env_steps, path));
  }

  void restore(const CheckedCheckpoint& c) {
    const safetensors::SafetensorsFile& f = c.file;
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
    if (pbt_) {
      const std::vector<float> h = f.expect("pbt.hyper", safetensors::DType::kF32, {K_, kPbtHypers}).values<float>();
      last_change_ = f.expect("pbt.last_change", safetensors::DType::kI64, {K_}).values<int64_t>();
      for (int k = 0; k < K_; ++k) {
        std::copy(h.begin() + k * kPbtHypers, h.begin() + (k + 1) * kPbtHypers, hyper_[k].v);
        // Only what a round changed: the run it resumes set nothing else.
        if (std::memcmp(hyper_[k].v, initial_hyper_[k].v, sizeof(hyper_[k].v)) != 0) apply_hyper(k);
      }
    }
    if (redraw_sigma_) {  // after the hyper-parameters: the saved scales are the ones in use
      const auto& sg = f.expect("explore.sigma", safetensors::DType::kF32, {K_ * N_});
      memory::copy_host_to_device(dev_, sigma_.data(), sg.data.data(), sg.data.size());
    }
    env_steps_ = c.meta.env_steps;
    // The replay ring went where env_steps says: one row of every env per step.
    const int64_t steps = env_steps_ / N_;
    if (replay_->size_steps() != std::min(steps, replay_->capacity_steps()) ||
        replay_->head() != steps % replay_->capacity_steps())
      throw Error(fmt::format("corrupt checkpoint {}: the replay ring (head {}, size {} steps) disagrees with env_steps {}",
                              f.path(), replay_->head(), replay_->size_steps(), env_steps_));
    agent_->set_counters(c.meta.updates, c.meta.actor_updates);
    wall_s_ = c.meta.wall_s;
    last_train_return_ = c.meta.last_train_return;
    lqr_optimal_return_ = c.meta.lqr_optimal_return;
    evals_ = c.meta.evals;
    steps_at_start_ = env_steps_;
    std::cerr << fmt::format("acx train: resuming {} at env step {} (update {})\n", printable(f.path()), env_steps_,
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
    if (governor_) j["cpu_threads"] = "measured while training: " + governor_->summary();
    if (dev_.is_cuda()) {  // how this session's iterations ran (not what they computed)
      j["cuda_graph"] = {{"on", graphs_on_},
                         {"why_not", graph_why_not_},
                         {"iterations_launched", graph_stats_.launched},
                         {"graphs_captured", graph_stats_.captured},
                         {"graph_replays", graph_stats_.replayed},
                         {"max_graph_nodes", graph_stats_.max_nodes}};
    }
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
    if (pbt_) {
      nlohmann::json hp = nlohmann::json::object();
      for (int h = 0; h < kPbtHypers; ++h) {
        std::vector<double> v;
        for (const MemberHyper& m : hyper_) v.push_back(std::stod(fmt::format("{}", m.v[h])));  // 0.001, not 0.0010000000474974513
        hp[pbt_hyper_name(h)] = v;
      }
      j["pbt"] = {{"population", pop_.population},
                  {"first_member", pop_.first_member},
                  {"interval", pbt_->interval},
                  {"hyper_per_agent", hp},
                  {"last_change_per_agent", last_change_}};
      if (!pop_.lineage_path.empty()) j["pbt"]["lineage"] = fs::path(pop_.lineage_path).filename().string();
    }
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
    if (output_ == Output::kAll) std::cout << j.dump(2) << "\n";
    return TrainResult{final_eval, wall_s_, path};
  }

  void plot() const {
    // matplotlib from Debian's python3-matplotlib (scripts/install_deps.sh).
    const std::string script = std::string(ACX_SOURCE_DIR) + "/tools/plot_learning_curve.py";
    if (!fs::exists(script)) return;
    if (!run_plot_script(script, out_)) {
      std::cerr << "acx train: note: learning_curve.png not drawn (needs python3 with matplotlib: " << script << ")\n";
    }
  }

  Device dev_;
  Config cfg_;
  std::string out_;
  Output output_ = Output::kAll;
  const DataParallelHooks* dp_ = nullptr;  // one rank of data-parallel learners, or null
  // Raises unless every rank this one depends on reports the same value:
  // data-parallel learners, a PBT population over several ranks; else empty.
  std::function<void(const std::string& what, const std::string& value)> check_same_;
  uint64_t stream_seed_ = 1;  // envs, exploration, replay: seed_, or keyed by the data-parallel rank
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
  std::unique_ptr<ThreadGovernor> governor_;
  Buffer<float> actions_, mu_, obs_prev_, low_, high_, sigma_, ou_state_, norm_obs_, norm_batch_obs_, norm_batch_next_;
  Buffer<double> episode_sums_;
  Buffer<uint64_t> step_counter_;  // (1) the vector step env_steps_ / N_, on the device
  bool graphs_on_ = false;
  std::string graph_why_not_;
  std::map<IterationShape, StreamGraph> graphs_;  // empty graph: seen once, launched
  struct {
    int64_t launched = 0, captured = 0, replayed = 0;
    size_t max_nodes = 0;
  } graph_stats_;
  Buffer<double> episode_partial_;  // the episode sums' per-chunk scratch (kernels/episode_stats.h)
  Buffer<float> merged_obs_;  // data-parallel: every rank's observations of a step, for the normalizer
  int64_t env_steps_ = 0, steps_at_start_ = 0;
  double wall_s_ = 0;
  bool redraw_sigma_ = false;   // explore.sigma_redraw
  Buffer<float> sigma_hi_;      // (K) each agent's upper scale, with redraw_sigma_
  bool warned_support_ = false;  // the C51 support warning, once per run
  double last_train_return_ = kNaN;
  double lqr_optimal_return_ = kNaN;
  std::vector<EvalRecord> evals_;
  // Population-based training (pbt.enabled; host/learn/pbt.h), else empty.
  std::optional<PbtConfig> pbt_;
  PopulationHooks pop_;  // this run's place in the population
  std::unique_ptr<PbtTransport> local_transport_;  // a population of one process
  std::vector<MemberHyper> hyper_, initial_hyper_;  // (K) now, and as configured
  std::vector<int64_t> last_change_;                // (K) env step of each agent's last copy
};

}  // namespace

Config resolve_train_config(const std::string& env, const std::string& config_file,
                            const std::vector<std::string>& overrides, const std::string& device) {
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
  if (!device.empty()) cfg.set("run.device", device, "--device");
  (void)find_registered_env(cfg.get_string("env.name"));
  return cfg;
}

Config resume_train_config(const std::string& dir, const std::vector<std::string>& overrides,
                           const std::string& device) {
  const std::string path = (fs::path(dir) / "config.toml").string();
  ACX_USAGE_CHECK(fs::exists(path), "cannot resume: " + path + " does not exist");
  Config c(train_schema());
  c.load_toml(path);
  // A resumed run may only be made longer, or change how its iterations are
  // launched (run.cuda_graph: the same results either way); every other
  // option is the run's.
  for (const std::string& o : overrides) {
    ACX_USAGE_CHECK(o.rfind("run.total_env_steps=", 0) == 0 || o.rfind("run.cuda_graph=", 0) == 0,
                    "--set " + quote_input(o) +
                        ": with --resume only run.total_env_steps and run.cuda_graph may be changed");
    c.apply_override(o);
  }
  if (!device.empty()) c.set("run.device", device, "--device");
  return c;
}

TrainResult train(const Device& dev, Config cfg, const std::string& out_dir, bool resume, Output output,
                  const DataParallelHooks* data_parallel, const PopulationHooks* population) {
  const fs::path dir(out_dir);
  const std::string shown = quote_input(out_dir);
  ACX_USAGE_CHECK(!out_dir.empty(), "the run directory is empty: give --out DIR (or --resume DIR)");
  ACX_USAGE_CHECK(!fs::exists(dir) || fs::is_directory(dir), "the run directory " + shown + " is a file, not a directory");
  if (resume) {
    ACX_USAGE_CHECK(fs::is_directory(dir), "cannot resume: " + shown + " is not a directory");
  } else {
    std::error_code ec;
    fs::create_directories(dir, ec);
    ACX_USAGE_CHECK(!ec, "cannot create the run directory " + shown + ": " + ec.message());
  }
  // One owner at a time, before anything in the directory is read as the
  // run's state or written.
  const RunLock lock(out_dir);
  uint64_t bytes = 0;
  const std::vector<std::string> stale = remove_stale_temporaries(out_dir, &bytes);
  if (!stale.empty())
    std::cerr << fmt::format("acx train: removed {} temporary file{} ({:.1f} MB) that a killed run left in {}\n",
                             stale.size(), stale.size() == 1 ? "" : "s", bytes / 1e6, printable(out_dir));
  const bool has_checkpoint = fs::exists(dir / kCheckpointName);
  Start start = Start::kFresh;
  if (resume) {
    ACX_USAGE_CHECK(fs::exists(dir / "config.toml"), "cannot resume: " + (dir / "config.toml").string() + " does not exist");
    start = has_checkpoint ? Start::kResume : Start::kRestart;
    if (!has_checkpoint)
      std::cerr << fmt::format("acx train: {} has no checkpoint yet (the run stopped before its first one); "
                               "starting it over from env step 0 with its config.toml\n",
                               printable(out_dir));
  } else if (has_checkpoint || fs::exists(dir / "metrics.csv")) {
    throw UsageError(shown + " already holds a run" +
                     (has_checkpoint ? std::string() : " that stopped before its first checkpoint") +
                     "; use --resume " + shown + " to " + (has_checkpoint ? "continue it" : "start it over") +
                     ", or choose another --out");
  }
  Run run(dev, std::move(cfg), out_dir, start, output, data_parallel, population);
  return run.run();
}

struct LoadedPolicy::Impl {
  Device dev;
  Config cfg{train_schema()};
  EnvInfo env;
  std::string algo;
  std::unique_ptr<Agent> agent;
  std::unique_ptr<RunningNormalizer> norm;
  std::vector<HostArray> layers;
  // Work buffers, grown on demand (act is const: the policy's state is its parameters).
  mutable Buffer<float> obs, normed, actions;
};

LoadedPolicy::LoadedPolicy(const Device& dev, const std::string& checkpoint) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.dev = dev;
  const CheckedCheckpoint c = read_checkpoint(checkpoint, [](const std::string& name) {
    return name.rfind("actor.", 0) == 0 || name.rfind("obs_norm.", 0) == 0;
  });
  m.cfg = c.config;
  m.env = c.env;
  m.algo = c.config.get_string("algo.name");
  m.agent = std::make_unique<Agent>(dev, m.env, agent_config(m.cfg));
  for (const StateTensor& s : m.agent->state()) {
    if (s.name != "actor.params") continue;
    const auto& t = c.file.expect(s.name, safetensors::DType::kF32, s.shape);
    memory::copy_host_to_device(dev, s.data, t.data.data(), t.data.size());
  }
  if (m.cfg.get_bool("obs_norm.enabled")) {
    NormalizerConfig nc;
    nc.clip = static_cast<float>(m.cfg.get_float("obs_norm.clip"));
    m.norm = std::make_unique<RunningNormalizer>(dev, m.env.obs_dim, nc, m.cfg.get_int32("run.agents"));
    m.norm->from_host(arrays_with_prefix(c.file, "obs_norm."));
  }
  for (const safetensors::Tensor& t : c.file.tensors())
    if (t.name.rfind("actor.layers.", 0) == 0)
      m.layers.push_back(HostArray{t.name, safetensors::dtype_name(t.dtype), t.shape, t.data});
}

LoadedPolicy::~LoadedPolicy() = default;
int LoadedPolicy::agents() const { return impl_->cfg.get_int32("run.agents"); }
const EnvInfo& LoadedPolicy::env() const { return impl_->env; }
const std::string& LoadedPolicy::algo() const { return impl_->algo; }
std::vector<HostArray> LoadedPolicy::parameters() const { return impl_->layers; }

void LoadedPolicy::act(const float* obs, int64_t n_per_agent, float* actions) const {
  Impl& m = *impl_;
  ACX_USAGE_CHECK(n_per_agent >= 1, "a policy acts on at least one observation");
  const int64_t K = agents(), od = m.env.obs_dim, ad = m.env.act_dim;
  const int64_t n_obs = checked_product({K, n_per_agent, od}, "observations"), n_act = K * n_per_agent * ad;
  if (m.obs.size() < static_cast<size_t>(n_obs)) m.obs = Buffer<float>(m.dev, n_obs);
  if (m.norm && m.normed.size() < static_cast<size_t>(n_obs)) m.normed = Buffer<float>(m.dev, n_obs);
  if (m.actions.size() < static_cast<size_t>(n_act)) m.actions = Buffer<float>(m.dev, n_act);
  memory::copy_host_to_device(m.dev, m.obs.data(), obs, static_cast<size_t>(n_obs) * sizeof(float));
  const float* in = m.obs.data();
  if (m.norm) {
    m.norm->normalize(in, n_per_agent, m.normed.data());
    in = m.normed.data();
  }
  m.agent->act(in, n_per_agent, m.actions.data());
  memory::copy_device_to_host(m.dev, actions, m.actions.data(), static_cast<size_t>(n_act) * sizeof(float));
}

EvalResult evaluate_checkpoint(const Device& dev, const std::string& checkpoint, int episodes, uint64_t seed) {
  ACX_USAGE_CHECK(episodes >= 1, "--episodes must be at least 1");
  // The actor and the observation statistics only: a replay buffer of
  // gigabytes stays on disk. Every shape is checked from the header, against
  // the checkpoint's config, before an Agent is built from that config.
  const CheckedCheckpoint c = read_checkpoint(checkpoint, [](const std::string& name) {
    return name == "actor.params" || name.rfind("obs_norm.", 0) == 0;
  });
  const Config& cfg = c.config;
  const EnvInfo& info = c.env;
  Agent agent(dev, info, agent_config(cfg));
  for (const StateTensor& s : agent.state()) {
    if (s.name != "actor.params") continue;
    const auto& t = c.file.expect(s.name, safetensors::DType::kF32, s.shape);
    memory::copy_host_to_device(dev, s.data, t.data.data(), t.data.size());
  }
  std::unique_ptr<RunningNormalizer> norm;
  if (cfg.get_bool("obs_norm.enabled")) {
    NormalizerConfig nc;
    nc.clip = static_cast<float>(cfg.get_float("obs_norm.clip"));
    norm = std::make_unique<RunningNormalizer>(dev, info.obs_dim, nc, cfg.get_int32("run.agents"));
    norm->from_host(arrays_with_prefix(c.file, "obs_norm."));
  }
  EvalResult r;
  r.agents = cfg.get_int32("run.agents");
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
