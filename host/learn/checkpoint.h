// checkpoint.h: what a checkpoint of `acx train` says besides its tensors,
// and the checks a checkpoint passes before anything is built from it.
//
// A checkpoint is a safetensors file (host/io/safetensors.h, CRC-32 of every
// tensor and of the metadata) whose metadata holds the fields of
// CheckpointMeta as strings. Reading one:
//   1. the format: another file or an older format is a UsageError (exit 2);
//   2. every field, parsed strictly (type, range): a field that does not
//      parse, or holds an impossible value, is corruption, acx::Error (exit
//      1) "corrupt checkpoint PATH: metadata field 'env_steps' ...";
//   3. the embedded config must parse (corruption otherwise) and the fields
//      must agree with it and with each other: env, algo and agent count;
//      env_steps a multiple of env.n_envs and within run.total_env_steps;
//      the update counters those the schedule gives at env_steps; the
//      evaluations in order, one value per agent; the actor's layers and
//      the action bounds those of the env and config;
//   4. the tensors' shapes (from the header, before any is allocated) are
//      the config's, and every float tensor is finite.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "envs/env_api.h"
#include "host/io/config.h"
#include "host/io/safetensors.h"

namespace acx {

inline constexpr const char* kCheckpointFormat = "acx-checkpoint-2";
inline constexpr const char* kCheckpointName = "checkpoint.safetensors";
// The first phase of a checkpoint written by several ranks together
// (data-parallel learners, a PBT population): every rank writes this, the
// ranks agree, then each renames it to kCheckpointName
// (host/learn/distributed.h reconciles a launch killed in between).
inline constexpr const char* kCheckpointNextName = "checkpoint.next.safetensors";

// One evaluation of a run (summary.json's "evals").
struct EvalRecord {
  int64_t env_steps = 0;
  double wall_s = 0, mean = 0, std = 0;
  std::vector<double> per_agent;       // (K)
  std::vector<double> lqr_cost_ratio;  // (K), lqr only
};

struct CheckpointMeta {
  std::string acx_version, env, algo, config;  // config: the run's resolved TOML
  int64_t agents = 1;
  int64_t env_steps = 0, updates = 0, actor_updates = 0;
  double wall_s = 0;
  double last_train_return = std::numeric_limits<double>::quiet_NaN();   // NaN: no episode ended yet
  double lqr_optimal_return = std::numeric_limits<double>::quiet_NaN();  // NaN: not lqr, or no evaluation yet
  bool replay_saved = true;
  std::vector<EvalRecord> evals;  // every evaluation so far: a resumed run reports them all
  // For readers outside acx (tools/eval_in_gymnasium.py): JSON text.
  std::string actor_layers, action_low, action_high;
};

// The metadata strings of a checkpoint (without the checksums, which
// save_safetensors adds).
std::map<std::string, std::string> checkpoint_metadata(const CheckpointMeta& m);

// Step 1 and 2 above. `path` names the file in messages.
CheckpointMeta parse_checkpoint_meta(const std::map<std::string, std::string>& metadata, const std::string& path);

// The embedded config under the schema (Error naming the file when it does
// not parse: the file is corrupt).
Config checkpoint_config(const CheckpointMeta& m, const std::string& path);

// Step 3: the fields against the config (the checkpoint's own) and the env.
void check_checkpoint_meta(const CheckpointMeta& m, const Config& cfg, const EnvInfo& env, const std::string& path);

// Step 4, shapes: the agent's state tensors (read or not) against the config.
void check_checkpoint_shapes(const safetensors::SafetensorsFile& f, const Config& cfg, const EnvInfo& env);

// Step 4, values: every float tensor that was read is finite (Error naming
// the tensor and the element).
void check_finite_tensors(const safetensors::SafetensorsFile& f);

// The updates the trainer's schedule has done once an agent has taken
// `env_steps` env steps: none before algo.learning_starts or before a batch
// is stored, then floor(updates_per_step x (env_steps - learning_starts + n_envs)).
int64_t updates_due(const Config& cfg, int64_t env_steps);

// What the metadata's actor_layers, action_low and action_high hold for a
// run of this config on this env.
std::string actor_layers_json(const Config& cfg, const EnvInfo& env);

}  // namespace acx
