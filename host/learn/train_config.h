// train_config.h: every option of `acx train`, declared once (key, type,
// default, doc, range) in a schema from which the TOML reader, the --set
// overrides, the resolved config.toml written to each run directory and the
// table in docs/training.md all come.
//
// Precedence, lowest first: the schema's defaults, the env's own defaults
// (tuned per env, env_defaults()), --config FILE.toml, --set key=value, and
// the dedicated flags (--env, --algo, --seed, --agents, --device).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "host/io/config.h"
#include "host/learn/agent.h"

namespace acx {

ConfigSchema train_schema();

// Per-env defaults that differ from the schema's: "key" -> TOML value text.
const std::map<std::string, std::string>& env_defaults(const std::string& env);

// docs/training.md's option table and per-env defaults (acx train --print-options).
std::string training_options_markdown();

// The seeds of the separate streams a run draws from, derived from run.seed.
enum Salt : uint64_t { kSaltEnv = 1, kSaltExplore = 2, kSaltReplay = 3, kSaltSmooth = 4, kSaltEval = 5, kSaltInit = 6,
                        kSaltPolicy = 7, kSaltRank = 8, kSaltPbt = 9 };
uint64_t mix_seed(uint64_t seed, uint64_t salt);

// A per-agent variant list (variants.*): empty, or one value per agent;
// UsageError for another count.
std::vector<float> variant(const Config& c, const std::string& key);

// The agents' settings of a config.
AgentConfig agent_config(const Config& c);

}  // namespace acx
