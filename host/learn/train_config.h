// train_config.h: every option of `acx train`, declared once (key, type,
// default, doc, range) in a schema from which the TOML reader, the --set
// overrides, the resolved config.toml written to each run directory and the
// table in docs/training.md all come.
//
// Precedence, lowest first: the schema's defaults, the env's own defaults
// (tuned per env, env_defaults()), --config FILE.toml, --set key=value, and
// the dedicated flags (--env, --algo, --seed, --agents, --device).
#pragma once

#include <map>
#include <string>

#include "host/io/config.h"

namespace acx {

ConfigSchema train_schema();

// Per-env defaults that differ from the schema's: "key" -> TOML value text.
const std::map<std::string, std::string>& env_defaults(const std::string& env);

// docs/training.md's option table and per-env defaults (acx train --print-options).
std::string training_options_markdown();

}  // namespace acx
