// acx train and acx eval.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <limits>
#include <optional>

#include "host/cli/commands.h"
#include "host/dist/comm.h"
#include "host/learn/distributed.h"
#include "host/learn/train_config.h"
#include "host/learn/trainer.h"
#include "kernels/runtime/error.h"

namespace acx {

namespace {

struct TrainArgs {
  std::string env, algo, config, device, out, resume;  // device: empty when --device is not given
  std::vector<std::string> set;
  std::optional<int64_t> seed, agents;
  bool print_options = false;
};

void run_train(const TrainArgs& a) {
  if (a.print_options) {
    std::cout << training_options_markdown();
    return;
  }
  Config cfg = [&] {
    if (!a.resume.empty()) {
      ACX_USAGE_CHECK(a.env.empty() && a.algo.empty() && a.config.empty() && !a.seed && !a.agents,
                      "--resume takes the run's own config.toml; drop --env/--algo/--config/--seed/--agents");
      return resume_train_config(a.resume, a.set, a.device);
    }
    Config c = resolve_train_config(a.env, a.config, a.set, a.device);
    if (!a.algo.empty()) c.apply_override("algo.name=\"" + a.algo + "\"");
    if (a.seed) c.set("run.seed", *a.seed, "--seed");
    if (a.agents) c.set("run.agents", *a.agents, "--agents");
    return c;
  }();
  const std::string out = !a.resume.empty() ? a.resume
                          : !a.out.empty()  ? a.out
                                            : fmt::format("runs/{}-{}-seed{}", cfg.get_string("env.name"),
                                                          cfg.get_string("algo.name"), cfg.get_int("run.seed"));
  // Several ranks (mpirun, srun) or a dist.mode: host/learn/distributed.h.
  dist::Comm& comm = dist::world();
  if (wants_distributed(comm, cfg)) {
    train_distributed(comm, std::move(cfg), out, !a.resume.empty());
    return;
  }
  const Device dev = Device::create(cfg.get_string("run.device"), cfg.get_int32("run.threads"), &std::cerr);
  train(dev, std::move(cfg), out, !a.resume.empty());
}

struct EvalArgs {
  std::string checkpoint, device = "auto";
  int episodes = 10;
  int64_t seed = 12345;
};

void run_eval(const EvalArgs& a) {
  const Device dev = Device::create(a.device, 0, &std::cerr);
  const EvalResult r = evaluate_checkpoint(dev, a.checkpoint, a.episodes, static_cast<uint64_t>(a.seed));
  nlohmann::json j;
  j["checkpoint"] = a.checkpoint;
  j["env"] = r.env;
  j["agents"] = r.agents;
  j["episodes_per_agent"] = a.episodes;
  j["mean_return"] = r.mean;
  j["std_return"] = r.std;
  j["returns"] = r.returns;
  if (!r.lqr_cost_ratio.empty()) {
    // Cost over the Riccati optimum from the same start states (1 is optimal).
    j["lqr_cost_ratio_per_agent"] = r.lqr_cost_ratio;
    j["lqr_optimal_return"] = r.lqr_optimal_return;
  }
  // Invalid UTF-8 in the checkpoint's path is replaced, not a failure to print.
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace

void register_train_commands(CLI::App& app) {
  static TrainArgs t;
  CLI::App* train = app.add_subcommand("train", "Train DDPG or TD3 agents (docs/training.md lists every option)");
  train->add_option("--env", t.env, "Environment (see acx envs); sets the env's tuned defaults");
  train->add_option("--algo", t.algo, "td3, ddpg or sac")->check(CLI::IsMember({"td3", "ddpg", "sac"}));
  train->add_option("--config", t.config, "TOML file of options")->check(CLI::ExistingFile);
  train->add_option("--set", t.set, "key=value override, repeatable (e.g. --set algo.batch_size=512)");
  train->add_option("--device", t.device,
                    "run.device: cpu, cuda, cuda:N or auto (default; a resumed run keeps its own)")
      ->check(non_empty());
  // --seed and --agents are checked by the settings' ranges (run.seed, run.agents).
  train->add_option("--seed", t.seed, "run.seed");
  train->add_option("--agents", t.agents, "run.agents: independent agents trained together");
  train->add_option("--out", t.out, "Run directory (default runs/ENV-ALGO-seedS)")->check(non_empty());
  train->add_option("--resume", t.resume, "Continue the run in this directory from its checkpoint (or start it over "
                                          "from its config.toml when it stopped before its first checkpoint)")
      ->check(non_empty());
  train->add_flag("--print-options", t.print_options, "Print every option with its default as Markdown and exit");
  add_command(train, [] { run_train(t); });

  static EvalArgs e;
  CLI::App* ev = app.add_subcommand("eval", "Evaluate a checkpoint's deterministic policy; prints JSON");
  ev->add_option("--checkpoint", e.checkpoint, "checkpoint.safetensors written by acx train")
      ->required()
      ->check(CLI::ExistingFile);
  ev->add_option("--episodes", e.episodes, "Episodes per agent")->capture_default_str()->check(CLI::Range(1, 100000));
  ev->add_option("--device", e.device, "cpu, cuda, cuda:N or auto")->capture_default_str();
  ev->add_option("--seed", e.seed, "Seed of the evaluation envs")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, std::numeric_limits<int64_t>::max()));
  add_command(ev, [] { run_eval(e); });
}

}  // namespace acx
