// host/learn/: the learning system: the agents (agent.h), the trainer that
// schedules act, step, store and learn (this file) and its settings
// (train_config.h). It stands on the runtime, the file formats (host/io/),
// the kernels and the envs; the command line stands on it.
//
// trainer.h: the host scheduler of `acx train`. One iteration, all on the
// device (no host copies inside it):
//   1. act: a = clip(mu(s) + noise) for every env (uniform random during warm-up)
//   2. step every env (auto-reset; terminated and truncated kept apart)
//   3. store the step's transitions in the replay buffer
//   4. the updates due at the configured update-to-data ratio (Agent::update)
// and, at the configured env-step intervals, evaluation on separate envs with
// the deterministic policy, a metrics row (the only host copies: a few
// scalars), and an atomic checkpoint. Every random draw is keyed by
// (seed, purpose, index, step or update number), so a run resumed from a
// checkpoint continues bit for bit on the CPU.
//
// Every counter the iteration's kernels read (the vector step, the update
// number, the replay ring, Adam's steps) lives in device memory and is
// advanced there (kernels/counter.h), so on a CUDA device the iteration is
// captured once per shape as a CUDA graph and replayed (run.cuda_graph;
// docs/training.md, "CUDA graphs").
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "host/io/config.h"
#include "host/learn/agent.h"
#include "host/learn/pbt.h"
#include "kernels/runtime/device.h"
#include "kernels/runtime/host_array.h"

namespace acx {

struct TrainResult {
  double final_eval_return = 0;  // mean over agents of the last evaluation
  double wall_s = 0;
  std::string summary_path;
};

// Builds the resolved config for `acx train`: schema defaults, the env's own
// defaults, then `config_file` (may be empty), then the --set overrides,
// then `device` (--device; empty: not given) as run.device.
Config resolve_train_config(const std::string& env, const std::string& config_file,
                            const std::vector<std::string>& overrides, const std::string& device = "");
// The config of the run in `dir` for `acx train --resume`: its own
// config.toml, with `overrides` of run.total_env_steps and run.cuda_graph
// only (a resumed run may only be made longer); UsageError for another key
// or no config.toml. The run keeps its run.device unless `device` (--device)
// is given: a run resumed on another device goes on from its checkpoint there,
// but is not bitwise the run that never stopped (train() says so).
Config resume_train_config(const std::string& dir, const std::vector<std::string>& overrides,
                           const std::string& device = "");

// What one rank of data-parallel learners (dist.mode = data,
// host/learn/distributed.h) adds to a run.
struct DataParallelHooks {
  int rank = 0;  // keys this rank's env, exploration and replay streams (rank 0: the one-process streams)
  Agent::GradReduce grad_reduce;  // each gradient replaced by its mean over the ranks
  // Raises when `value` differs between the ranks, naming `what`: the
  // env step after a resume, a hash of the agent's state at every metrics row.
  std::function<void(const std::string& what, const std::string& value)> check_same;
  // Every rank's bytes in rank order (the observations that feed the
  // merged normalizer statistics).
  std::function<std::vector<std::string>(const std::string& bytes)> all_gather;
};

// What one rank of a dist.mode = population launch adds to a run with
// pbt.enabled (host/learn/pbt.h). Without it, a PBT run's population is its
// own run.agents and its lineage goes to its own pbt.csv.
struct PopulationHooks {
  int first_member = 0;     // this run's agent 0 in the population
  int population = 0;       // members over every rank
  int members_per_rank = 0;
  int64_t launch_seed = 0;  // the launch's run.seed: keys the rounds' draws on every rank
  PbtTransport* transport = nullptr;
  std::string lineage_path;  // where this rank writes pbt.csv ("" : it does not)
  // As DataParallelHooks::check_same: the rounds tie the ranks, so they
  // start, and checkpoint, at one step.
  std::function<void(const std::string& what, const std::string& value)> check_same;
};

// What a run prints: the progress line on stderr and the summary on stdout
// (one process), the progress line only (rank 0 of a launch, which prints
// the launch's summary itself), or neither (the other ranks).
enum class Output { kAll, kProgress, kQuiet };

// Trains into out_dir (created; refused if it already holds a run, unless
// resuming). With resume, out_dir's checkpoint and config are loaded and
// the run continues. `data_parallel`: this run is one rank of data-parallel
// learners; `population`: one rank of a population launch with PBT.
TrainResult train(const Device& dev, Config cfg, const std::string& out_dir, bool resume, Output output = Output::kAll,
                  const DataParallelHooks* data_parallel = nullptr, const PopulationHooks* population = nullptr);

struct EvalResult {
  std::vector<double> returns;  // every episode, agent-major
  double mean = 0, std = 0;
  // lqr only (else empty): each agent's cost over the optimal cost of the
  // same start states, sum over its episodes of -return / (x0' P_0 x0).
  std::vector<double> lqr_cost_ratio;
  double lqr_optimal_return = 0;  // the optimal return, expected over the reset distribution
  int agents = 1;
  std::string env;
};

// A trained actor loaded from a checkpoint, for acting outside acx train
// (the Python package's acx.load_policy): the actor's parameters and, when
// the run normalized observations, its statistics; nothing else is read.
class LoadedPolicy {
 public:
  LoadedPolicy(const Device& dev, const std::string& checkpoint);
  ~LoadedPolicy();
  int agents() const;
  const EnvInfo& env() const;
  const std::string& algo() const;
  // Deterministic actions (SAC: the mean action) of every agent: obs
  // (K, n, obs_dim) -> actions (K, n, act_dim), host memory.
  void act(const float* obs, int64_t n_per_agent, float* actions) const;
  // The actor layer by layer as the checkpoint stores them:
  // "actor.layers.L.weight" (K, out, in) and "actor.layers.L.bias" (K, out).
  std::vector<HostArray> parameters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Loads a checkpoint written by train() and runs `episodes` evaluation
// episodes per agent with the deterministic policy.
EvalResult evaluate_checkpoint(const Device& dev, const std::string& checkpoint, int episodes, uint64_t seed);

}  // namespace acx
