// checkpoint.cpp: see checkpoint.h.
#include "host/learn/checkpoint.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstring>
#include <set>

#include "host/learn/agent.h"
#include "host/learn/train_config.h"
#include "kernels/runtime/error.h"

namespace acx {

namespace {

constexpr int64_t kMaxSteps = 1'000'000'000'000'000;  // run.total_env_steps' bound

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw Error("corrupt checkpoint " + path + ": " + what);
}

// The metadata, field by field: each read once, every one accounted for.
class Fields {
 public:
  Fields(const std::map<std::string, std::string>& m, const std::string& path) : m_(m), path_(path) {}

  const std::string& text(const std::string& key) {
    const auto it = m_.find(key);
    if (it == m_.end()) corrupt(path_, "metadata field '" + key + "' is missing");
    read_.insert(key);
    return it->second;
  }
  [[noreturn]] void bad(const std::string& key, const std::string& why) {
    corrupt(path_, "metadata field '" + key + "' = " + quote_input(m_.at(key)) + " " + why);
  }
  int64_t integer(const std::string& key, int64_t lo, int64_t hi) {
    const std::string& s = text(key);
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) bad(key, "is not an integer");
    if (v < lo || v > hi) bad(key, fmt::format("is out of range [{}, {}]", lo, hi));
    return v;
  }
  // A float64 as fmt's {:.17g} writes it; "nan" only where allowed.
  double real(const std::string& key, bool nan_allowed, double lo = -HUGE_VAL) {
    const std::string& s = text(key);
    double v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) bad(key, "is not a number");
    if (std::isnan(v) && nan_allowed) return v;
    if (!std::isfinite(v)) bad(key, "is not finite");
    if (v < lo) bad(key, fmt::format("is below {}", lo));
    return v;
  }
  nlohmann::json json(const std::string& key) {
    try {
      return nlohmann::json::parse(text(key));
    } catch (const nlohmann::json::exception&) {
      bad(key, "is not JSON");
    }
  }
  void no_others() const {
    for (const auto& [k, v] : m_) {
      if (!read_.count(k) && k != safetensors::kChecksumKey && k != "format")
        corrupt(path_, "unexpected metadata field " + quote_input(k));
    }
  }

 private:
  const std::map<std::string, std::string>& m_;
  const std::string& path_;
  std::set<std::string> read_;
};

std::string real_text(double x) { return fmt::format("{:.17g}", x); }

nlohmann::json eval_json(const EvalRecord& e) {
  nlohmann::json j = {{"env_steps", e.env_steps}, {"wall_s", e.wall_s}, {"mean", e.mean},
                      {"std", e.std},             {"per_agent", e.per_agent}};
  if (!e.lqr_cost_ratio.empty()) j["lqr_cost_ratio"] = e.lqr_cost_ratio;
  return j;
}

// A finite number of a JSON object, or the reason it is not one.
bool finite_number(const nlohmann::json& j, double* out) {
  if (!j.is_number()) return false;
  *out = j.get<double>();
  return std::isfinite(*out);
}

EvalRecord parse_eval(const nlohmann::json& j, size_t i, Fields& f) {
  const std::string where = fmt::format("evaluation {} ", i);
  if (!j.is_object()) f.bad("evals", "has " + where + "that is not an object");
  for (const auto& [k, v] : j.items()) {
    (void)v;
    if (k != "env_steps" && k != "wall_s" && k != "mean" && k != "std" && k != "per_agent" && k != "lqr_cost_ratio")
      f.bad("evals", "has " + where + "with an unexpected key " + quote_input(k));
  }
  EvalRecord e;
  if (!j.contains("env_steps") || !j["env_steps"].is_number_integer() || j["env_steps"].get<int64_t>() < 0)
    f.bad("evals", "has " + where + "without a non-negative integer env_steps");
  e.env_steps = j["env_steps"].get<int64_t>();
  for (auto [key, dst] : {std::pair{"wall_s", &e.wall_s}, std::pair{"mean", &e.mean}, std::pair{"std", &e.std}}) {
    if (!j.contains(key) || !finite_number(j[key], dst)) f.bad("evals", "has " + where + "without a finite " + key);
  }
  for (auto [key, dst] : {std::pair{"per_agent", &e.per_agent}, std::pair{"lqr_cost_ratio", &e.lqr_cost_ratio}}) {
    if (!j.contains(key)) continue;
    if (!j[key].is_array()) f.bad("evals", "has " + where + "whose " + key + " is not a list");
    for (const nlohmann::json& x : j[key]) {
      double v = 0;
      if (!finite_number(x, &v)) f.bad("evals", "has " + where + "whose " + key + " holds a non-finite value");
      dst->push_back(v);
    }
  }
  return e;
}

}  // namespace

std::map<std::string, std::string> checkpoint_metadata(const CheckpointMeta& m) {
  std::map<std::string, std::string> meta;
  meta["format"] = kCheckpointFormat;
  meta["acx_version"] = m.acx_version;
  meta["env"] = m.env;
  meta["algo"] = m.algo;
  meta["agents"] = std::to_string(m.agents);
  meta["config"] = m.config;
  meta["env_steps"] = std::to_string(m.env_steps);
  meta["updates"] = std::to_string(m.updates);
  meta["actor_updates"] = std::to_string(m.actor_updates);
  meta["wall_s"] = real_text(m.wall_s);
  meta["last_train_return"] = real_text(m.last_train_return);
  meta["lqr_optimal_return"] = real_text(m.lqr_optimal_return);
  meta["replay_saved"] = m.replay_saved ? "1" : "0";
  nlohmann::json evals = nlohmann::json::array();
  for (const EvalRecord& e : m.evals) evals.push_back(eval_json(e));
  meta["evals"] = evals.dump();
  meta["actor_layers"] = m.actor_layers;
  meta["action_low"] = m.action_low;
  meta["action_high"] = m.action_high;
  return meta;
}

CheckpointMeta parse_checkpoint_meta(const std::map<std::string, std::string>& metadata, const std::string& path) {
  const auto format = metadata.find("format");
  if (format == metadata.end() || format->second.rfind("acx-checkpoint-", 0) != 0)
    throw UsageError(path + " is not an acx checkpoint (its metadata has no acx-checkpoint format)");
  if (format->second != kCheckpointFormat)
    throw UsageError(path + " is a checkpoint of format " + quote_input(format->second) + "; this acx reads " +
                     kCheckpointFormat + " (resume or evaluate it with the acx that wrote it)");
  Fields f(metadata, path);
  CheckpointMeta m;
  m.acx_version = f.text("acx_version");
  if (m.acx_version.empty() || m.acx_version.size() > 64) f.bad("acx_version", "is not a version");
  m.env = f.text("env");
  m.algo = f.text("algo");
  m.config = f.text("config");
  m.agents = f.integer("agents", 1, 4096);
  m.env_steps = f.integer("env_steps", 0, kMaxSteps);
  m.updates = f.integer("updates", 0, std::numeric_limits<int64_t>::max());
  m.actor_updates = f.integer("actor_updates", 0, m.updates);
  m.wall_s = f.real("wall_s", false, 0.0);
  m.last_train_return = f.real("last_train_return", true);
  m.lqr_optimal_return = f.real("lqr_optimal_return", true);
  const std::string& replay = f.text("replay_saved");
  if (replay != "0" && replay != "1") f.bad("replay_saved", "is not 0 or 1");
  m.replay_saved = replay == "1";
  const nlohmann::json evals = f.json("evals");
  if (!evals.is_array()) f.bad("evals", "is not a list");
  for (size_t i = 0; i < evals.size(); ++i) m.evals.push_back(parse_eval(evals[i], i, f));
  m.actor_layers = f.text("actor_layers");
  m.action_low = f.text("action_low");
  m.action_high = f.text("action_high");
  f.no_others();
  return m;
}

Config checkpoint_config(const CheckpointMeta& m, const std::string& path) {
  Config cfg(train_schema());
  try {
    cfg.load_toml_string(m.config, path + " (its config)");
  } catch (const UsageError& e) {
    corrupt(path, std::string("its embedded config does not parse: ") + e.what());
  }
  return cfg;
}

int64_t updates_due(const Config& cfg, int64_t env_steps) {
  const int64_t starts = cfg.get_int("algo.learning_starts"), n = cfg.get_int("env.n_envs");
  if (env_steps < starts) return 0;
  // Transitions an agent has stored: whole steps of its n envs, up to the replay's capacity.
  const int64_t stored = std::min(env_steps / n, ceil_div(cfg.get_int("replay.capacity"), n)) * n;
  if (stored < cfg.get_int("algo.batch_size")) return 0;
  // algo.updates_per_vector_step: U per step of the n envs from learning_starts on.
  const int64_t per_vector_step = cfg.get_int("algo.updates_per_vector_step");
  if (per_vector_step > 0) return per_vector_step * ((env_steps - starts) / n + 1);
  return static_cast<int64_t>(
      std::floor(cfg.get_float("algo.updates_per_step") * static_cast<double>(env_steps - starts + n)));
}

std::string actor_layers_json(const Config& cfg, const EnvInfo& env) {
  MlpSpec spec;
  spec.in_dim = env.obs_dim;
  // SAC's actor outputs the means and the raw log-stds (2 act_dim, identity);
  // its action is mid + half tanh(mean) (docs/training.md).
  const bool sac = cfg.get_string("algo.name") == "sac";
  spec.out_dim = sac ? 2 * env.act_dim : env.act_dim;
  for (int64_t w : cfg.get_int_list("net.actor_hidden")) spec.hidden.push_back(static_cast<int>(w));
  const MlpLayout l = mlp_layout(spec);
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 0; i < l.out.size(); ++i) {
    const char* last = sac ? "identity" : "tanh_scaled";
    layers.push_back({{"in", l.in[i]}, {"out", l.out[i]}, {"activation", i + 1 == l.out.size() ? last : "relu"}});
  }
  return layers.dump();
}

void check_checkpoint_meta(const CheckpointMeta& m, const Config& cfg, const EnvInfo& env, const std::string& path) {
  const auto disagree = [&](const std::string& field, const std::string& have, const std::string& want) {
    corrupt(path, "metadata field '" + field + "' = " + quote_input(have) + " disagrees with " + want);
  };
  if (m.env != cfg.get_string("env.name")) disagree("env", m.env, "its config's env.name " + cfg.get_string("env.name"));
  if (m.algo != cfg.get_string("algo.name")) disagree("algo", m.algo, "its config's algo.name " + cfg.get_string("algo.name"));
  if (m.agents != cfg.get_int("run.agents"))
    disagree("agents", std::to_string(m.agents), "its config's run.agents " + std::to_string(cfg.get_int("run.agents")));
  if (m.replay_saved != cfg.get_bool("run.save_replay"))
    disagree("replay_saved", m.replay_saved ? "1" : "0", "its config's run.save_replay");
  const int64_t n = cfg.get_int("env.n_envs"), total = cfg.get_int("run.total_env_steps");
  if (m.env_steps % n != 0)
    disagree("env_steps", std::to_string(m.env_steps), "its config: not a multiple of env.n_envs " + std::to_string(n));
  if (m.env_steps > total)
    disagree("env_steps", std::to_string(m.env_steps), "its config: past run.total_env_steps " + std::to_string(total));
  const int64_t due = updates_due(cfg, m.env_steps);
  if (m.updates != due)
    disagree("updates", std::to_string(m.updates), fmt::format("the {} the schedule gives at env step {}", due, m.env_steps));
  // TD3: one actor step every policy_delay updates; SAC: policy_delay actor
  // steps every policy_delay updates (host/learn/agent.cpp, update_sac).
  const std::string algo = cfg.get_string("algo.name");
  const int64_t delay = algo == "ddpg" ? 1 : cfg.get_int("algo.policy_delay");
  const int64_t actor_due = algo == "sac" ? m.updates / delay * delay : m.updates / delay;
  if (m.actor_updates != actor_due)
    disagree("actor_updates", std::to_string(m.actor_updates),
             fmt::format("the {} that {} updates at policy delay {} give", actor_due, m.updates, delay));
  int64_t previous = 0;
  double previous_wall = 0;
  const bool lqr = env.name == "lqr";
  for (size_t i = 0; i < m.evals.size(); ++i) {
    const EvalRecord& e = m.evals[i];
    if (e.env_steps <= previous || e.env_steps > m.env_steps || e.wall_s < previous_wall)
      corrupt(path, fmt::format("metadata field 'evals': evaluation {} at env step {} is out of order", i, e.env_steps));
    if (static_cast<int64_t>(e.per_agent.size()) != m.agents ||
        e.lqr_cost_ratio.size() != (lqr ? e.per_agent.size() : 0))
      corrupt(path, fmt::format("metadata field 'evals': evaluation {} does not hold one value per agent", i));
    previous = e.env_steps;
    previous_wall = e.wall_s;
  }
  if (lqr != !std::isnan(m.lqr_optimal_return) && !m.evals.empty())
    disagree("lqr_optimal_return", real_text(m.lqr_optimal_return), "the env (set for lqr runs only)");
  if (m.actor_layers != actor_layers_json(cfg, env))
    disagree("actor_layers", m.actor_layers, "its config's network " + actor_layers_json(cfg, env));
  if (m.action_low != nlohmann::json(env.action_low).dump())
    disagree("action_low", m.action_low, "the env's action bounds");
  if (m.action_high != nlohmann::json(env.action_high).dump())
    disagree("action_high", m.action_high, "the env's action bounds");
}

void check_checkpoint_shapes(const safetensors::SafetensorsFile& f, const Config& cfg, const EnvInfo& env) {
  for (const StateShape& s : Agent::state_shapes(env, agent_config(cfg)))
    f.expect_header(s.name, safetensors::DType::kF32, s.shape);
}

void check_finite_tensors(const safetensors::SafetensorsFile& f) {
  for (const safetensors::Tensor& t : f.tensors()) {
    const auto scan = [&](auto zero) {
      using T = decltype(zero);
      const size_t n = t.data.size() / sizeof(T);
      for (size_t i = 0; i < n; ++i) {
        T v;
        std::memcpy(&v, t.data.data() + i * sizeof(T), sizeof(T));
        if (!std::isfinite(v))
          corrupt(f.path(), fmt::format("tensor '{}' holds {} at element {}: a checkpoint holds finite numbers only",
                                        t.name, v, i));
      }
    };
    if (t.dtype == safetensors::DType::kF32) scan(0.0f);
    if (t.dtype == safetensors::DType::kF64) scan(0.0);
  }
}

}  // namespace acx
