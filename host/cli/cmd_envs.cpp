// acx envs: every registered environment with its dims and bounds.
// acx rollout: step N copies of an env from given physical states with given
// actions, no auto-reset, and write what happened as .npy files (the
// step-for-step check against gymnasium, tools/check_rollout.py).
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>

#include "envs/vec_env.h"
#include "host/cli/commands.h"
#include "host/io/npy.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/error.h"

namespace acx {

namespace {

std::string bounds_string(const std::vector<float>& lo, const std::vector<float>& hi) {
  bool same = lo.size() > 2;
  for (size_t i = 1; same && i < lo.size(); ++i) same = lo[i] == lo[0] && hi[i] == hi[0];
  if (same) return fmt::format("{} x [{:g}, {:g}]", lo.size(), lo[0], hi[0]);
  std::string s = "[";
  for (size_t i = 0; i < lo.size(); ++i) s += fmt::format("{}[{:g}, {:g}]", i ? ", " : "", lo[i], hi[i]);
  return s + "]";
}

void print_envs(bool as_json) {
  const std::vector<EnvInfo> envs = registered_envs();
  if (as_json) {
    std::cout << registered_envs_json() << "\n";
    return;
  }
  fmt::print("{:<24} {:>3} {:>3} {:>5}  {}\n", "env", "obs", "act", "steps", "action bounds / observation bounds");
  for (const EnvInfo& e : envs) {
    fmt::print("{:<24} {:>3} {:>3} {:>5}  action {}\n", e.name, e.obs_dim, e.act_dim, e.max_steps,
               bounds_string(e.action_low, e.action_high));
    fmt::print("{:<24} {:>3} {:>3} {:>5}  obs    {}\n", "", "", "", "", bounds_string(e.obs_low, e.obs_high));
    fmt::print("{:<24} {:>3} {:>3} {:>5}  state  {}\n", "", "", "", "", e.state_layout);
    if (!e.engine.empty()) {
      fmt::print("{:<24} {:>3} {:>3} {:>5}  copies {}, run by {}, frame skip {}\n", "", "", "", "", e.reference_id,
                 e.engine, e.frame_skip);
    }
  }
  fmt::print("docs/envs.md describes each env and the source it follows.\n");
}

struct RolloutArgs {
  std::string env, init, actions, out, device = "auto";
  bool force = false;
};

void check_finite(const std::vector<float>& v, const std::string& file) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      throw UsageError(fmt::format("{}: element {} is {} (inputs must be finite)", quote_input(file), i, v[i]));
    }
  }
}

void rollout(const RolloutArgs& args) {
  const EnvInfo info = find_registered_env(args.env);

  const npy::Array init = npy::read(args.init);
  ACX_USAGE_CHECK(init.dtype == npy::DType::kFloat32 || init.dtype == npy::DType::kFloat64,
                  fmt::format("{}: --init must be float32 or float64, got {}", args.init, npy::dtype_name(init.dtype)));
  npy::expect_shape(init, {-1, info.state_dim}, args.init + " (--init, [n_envs, state_dim] for " + info.name + ")");
  const int64_t n_envs = init.shape[0];
  ACX_USAGE_CHECK(n_envs >= 1, args.init + ": --init holds no envs");
  const std::vector<double> states = init.to_float64();
  for (size_t i = 0; i < states.size(); ++i) {
    if (!std::isfinite(states[i])) {
      throw UsageError(fmt::format("{}: element {} is {} (inputs must be finite)", quote_input(args.init), i, states[i]));
    }
  }

  const npy::Array actions = npy::read(args.actions);
  ACX_USAGE_CHECK(actions.dtype == npy::DType::kFloat32,
                  fmt::format("{}: --actions must be float32, got {}", args.actions, npy::dtype_name(actions.dtype)));
  npy::expect_shape(actions, {-1, n_envs, info.act_dim},
                    args.actions + " (--actions, [n_steps, n_envs, act_dim] with n_envs from --init)");
  const int64_t n_steps = actions.shape[0];
  ACX_USAGE_CHECK(n_steps >= 1, args.actions + ": --actions holds no steps");
  const std::vector<float> acts = actions.to_float32();
  check_finite(acts, args.actions);

  namespace fs = std::filesystem;
  ACX_USAGE_CHECK(!args.out.empty(), "--out is empty: give a directory");
  const fs::path out(args.out);
  const char* names[] = {"obs.npy", "reward.npy", "terminated.npy", "truncated.npy"};
  if (!args.force) {
    for (const char* n : names) {
      ACX_USAGE_CHECK(!fs::exists(out / n), (out / n).string() + " exists; refusing to overwrite it (use --force)");
    }
  }
  prepare_output_dir(args.out, "--out");

  const Device dev = Device::create(args.device, 0, &std::cerr);
  std::unique_ptr<VecEnv> env = make_vec_env(dev, info.name, n_envs);
  env->set_auto_reset(false);
  env->set_state_rows(states);  // float64 rows: the MuJoCo tasks take them exactly

  const int64_t od = info.obs_dim, ad = info.act_dim;
  std::vector<float> obs(n_steps * n_envs * od), reward(n_steps * n_envs);
  std::vector<uint8_t> terminated(n_steps * n_envs), truncated(n_steps * n_envs);
  Buffer<float> d_action(dev, n_envs * ad);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t t = 0; t < n_steps; ++t) {
    d_action.copy_from_host(acts.data() + t * n_envs * ad, n_envs * ad);
    env->step(d_action.data());
    // Without auto-reset, the step's observation is in obs (and final_obs).
    memory::copy_device_to_host(dev, obs.data() + t * n_envs * od, env->obs(), n_envs * od * sizeof(float));
    memory::copy_device_to_host(dev, reward.data() + t * n_envs, env->reward(), n_envs * sizeof(float));
    memory::copy_device_to_host(dev, terminated.data() + t * n_envs, env->terminated(), n_envs);
    memory::copy_device_to_host(dev, truncated.data() + t * n_envs, env->truncated(), n_envs);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  npy::write((out / names[0]).string(), npy::DType::kFloat32, {n_steps, n_envs, od}, obs.data());
  npy::write((out / names[1]).string(), npy::DType::kFloat32, {n_steps, n_envs}, reward.data());
  npy::write((out / names[2]).string(), npy::DType::kUInt8, {n_steps, n_envs}, terminated.data());
  npy::write((out / names[3]).string(), npy::DType::kUInt8, {n_steps, n_envs}, truncated.data());
  fmt::print("rollout: {} x {} steps of {} on {} in {:.3f} s; wrote obs, reward, terminated, truncated to {}\n",
             n_envs, n_steps, info.name, dev.describe(), secs, printable(args.out));
}

}  // namespace

void register_envs_commands(CLI::App& app) {
  CLI::App* envs = app.add_subcommand("envs", "List every environment with its observation and action dims and bounds");
  static bool as_json_storage = false;
  bool* as_json = &as_json_storage;
  envs->add_flag("--json", *as_json, "Print the list as JSON");
  add_command(envs, [as_json] { print_envs(*as_json); });

  CLI::App* ro = app.add_subcommand(
      "rollout", "Step envs from given physical states with given actions (no auto-reset); write .npy results");
  static RolloutArgs args_storage;
  RolloutArgs* a = &args_storage;
  ro->add_option("--env", a->env, "Environment name (see acx envs)")->required();
  ro->add_option("--init", a->init, "float32/float64 .npy [n_envs, state_dim]: the physical states (MuJoCo tasks: qpos, qvel)")
      ->required()
      ->check(CLI::ExistingFile);
  ro->add_option("--actions", a->actions, "float32 .npy [n_steps, n_envs, act_dim], passed to the env unclipped")
      ->required()
      ->check(CLI::ExistingFile);
  ro->add_option("--out", a->out, "Output directory for obs.npy, reward.npy, terminated.npy, truncated.npy")
      ->required()
      ->check(non_empty());
  ro->add_option("--device", a->device, "cpu, cuda, cuda:N or auto")->capture_default_str();
  ro->add_flag("--force", a->force, "Overwrite existing output files");
  add_command(ro, [a] { rollout(*a); });
}

}  // namespace acx
