// libFuzzer target: a checkpoint's metadata. The input is a JSON object of
// strings laid over the metadata of a consistent pendulum checkpoint (or, if
// it is not one, over nothing), then parsed and checked as acx train
// --resume and acx eval do. Every input passes or throws acx::Error /
// acx::UsageError.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "envs/vec_env.h"
#include "host/learn/checkpoint.h"
#include "host/learn/train_config.h"
#include "kernels/runtime/error.h"

namespace {

std::map<std::string, std::string> consistent_metadata() {
  acx::Config cfg(acx::train_schema());
  cfg.apply_override("env.n_envs=4");
  cfg.apply_override("algo.learning_starts=100");
  const acx::EnvInfo env = acx::find_registered_env("pendulum");
  acx::CheckpointMeta m;
  m.acx_version = "0.1.0";
  m.env = "pendulum";
  m.algo = "td3";
  m.config = cfg.to_toml();
  m.env_steps = 400;
  m.updates = acx::updates_due(cfg, 400);
  m.actor_updates = m.updates / 2;
  m.evals = {acx::EvalRecord{400, 1.0, -900.0, 20.0, {-900.0}, {}}};
  m.actor_layers = acx::actor_layers_json(cfg, env);
  m.action_low = "[-2.0]";
  m.action_high = "[2.0]";
  return acx::checkpoint_metadata(m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::map<std::string, std::string> base = consistent_metadata();
  std::map<std::string, std::string> md;
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_object()) {
    md = base;
    for (const auto& [k, v] : j.items()) {
      if (v.is_string()) md[k] = v.get<std::string>();
      if (v.is_null()) md.erase(k);
    }
  }
  try {
    const acx::CheckpointMeta m = acx::parse_checkpoint_meta(md, "fuzz");
    const acx::Config cfg = acx::checkpoint_config(m, "fuzz");
    const acx::EnvInfo env = acx::find_registered_env(cfg.get_string("env.name"));
    acx::check_checkpoint_meta(m, cfg, env, "fuzz");
  } catch (const acx::Error&) {
  }
  return 0;
}
