// The schema-driven config: defaults, TOML files, --set overrides, every
// kind of user error (with file, line, key and close matches), the resolved
// config.toml reproducing the run, and the docs table.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "host/io/config.h"
#include "kernels/runtime/error.h"
#include "tests/test_util.h"

namespace acx {
namespace {

ConfigSchema trainer_like_schema() {
  ConfigSchema s;
  s.add_int("seed", 1, "Seed of every random stream.", Range::at_least(0));
  s.add_string("algo.name", "td3", "Algorithm.", {"td3", "ddpg"});
  s.add_float("algo.gamma", 0.99, "Discount factor.", Range::closed(0, 1));
  s.add_float("algo.tau", 0.005, "Polyak averaging rate for the target networks.", Range::left_open(0, 1));
  s.add_float("algo.actor_lr", 3e-4, "Adam learning rate of the actor.", Range::above(0));
  s.add_int("algo.policy_delay", 2, "Critic updates per actor update (TD3).", Range::at_least(1));
  s.add_bool("env.normalize_obs", false, "Normalize observations with running statistics.");
  s.add_int("env.n_envs", 1024, "Parallel training environments.", Range::at_least(1));
  s.add_int_list("net.hidden", {256, 256}, "Hidden layer widths of actor and critics.", Range::at_least(1));
  s.add_string("run.name", "", "Free text for the run's title | may contain a bar.");
  s.add_float("replay.nested.alpha", 0.6, "A key two tables deep.");
  return s;
}

TEST(Config, StartsFromDefaults) {
  const Config c(trainer_like_schema());
  EXPECT_EQ(c.get_int("seed"), 1);
  EXPECT_EQ(c.get_string("algo.name"), "td3");
  EXPECT_EQ(c.get_float("algo.gamma"), 0.99);
  EXPECT_EQ(c.get_bool("env.normalize_obs"), false);
  EXPECT_EQ(c.get_int_list("net.hidden"), (std::vector<int64_t>{256, 256}));
  EXPECT_EQ(c.origin("algo.gamma"), "default");
}

TEST(Config, UndeclaredKeysAndWrongTypesInCodeAreProgrammingErrors) {
  const Config c(trainer_like_schema());
  const std::string e1 = error_of([&] { c.get_float("algo.gama"); });
  EXPECT_CONTAINS(e1, "'algo.gama' is not declared");
  EXPECT_CONTAINS(e1, "algo.gamma");
  EXPECT_CONTAINS(error_of([&] { c.get_int("algo.gamma"); }), "'algo.gamma' is a float, read as a int");
  EXPECT_CONTAINS(error_of([&] { c.get_string("seed"); }), "is a int");
}

TEST(Config, SchemaRejectsBadDeclarations) {
  ConfigSchema s;
  s.add_float("algo.gamma", 0.99, "x");
  EXPECT_THROW(s.add_float("algo.gamma", 0.9, "again"), Error);
  EXPECT_THROW(s.add_float("algo", 0.9, "a table of another key"), Error);
  EXPECT_THROW(s.add_float("algo.gamma.x", 0.9, "under a key"), Error);
  EXPECT_THROW(s.add_float("Algo.Gamma", 0.9, "uppercase"), Error);
  EXPECT_THROW(s.add_float("algo..x", 0.9, "empty word"), Error);
  EXPECT_THROW(s.add_float("algo.x", 2.0, "default out of its own range", Range::closed(0, 1)), Error);
  EXPECT_THROW(s.add_string("algo.y", "sac", "default not a choice", {"td3", "ddpg"}), Error);
  EXPECT_THROW(s.add_int("algo.z", 1, "two\nlines"), Error);
}

TEST(Config, LoadsTablesAndDottedKeys) {
  Config c(trainer_like_schema());
  c.load_toml_string(R"(
seed = 7
env.n_envs = 64          # dotted key at the top level

[algo]
name = "ddpg"
gamma = 0.98
tau = 1                  # an integer where a float is declared is fine
actor_lr = 1e-3

[net]
hidden = [64, 32, 16]

[replay.nested]
alpha = 0.5
)",
                     "run.toml");
  EXPECT_EQ(c.get_int("seed"), 7);
  EXPECT_EQ(c.get_int("env.n_envs"), 64);
  EXPECT_EQ(c.get_string("algo.name"), "ddpg");
  EXPECT_EQ(c.get_float("algo.gamma"), 0.98);
  EXPECT_EQ(c.get_float("algo.tau"), 1.0);
  EXPECT_EQ(c.get_float("algo.actor_lr"), 1e-3);
  EXPECT_EQ(c.get_int_list("net.hidden"), (std::vector<int64_t>{64, 32, 16}));
  EXPECT_EQ(c.get_float("replay.nested.alpha"), 0.5);
  EXPECT_EQ(c.get_int("algo.policy_delay"), 2);  // not in the file: unchanged
  EXPECT_EQ(c.origin("algo.gamma"), "run.toml:7");
}

TEST(Config, FileErrorsNameFileLineKeyAndCloseMatches) {
  Config c(trainer_like_schema());
  const auto load = [&](const std::string& text) { return usage_error_of([&] { c.load_toml_string(text, "cfg.toml"); }); };

  const std::string typo = load("[algo]\ngama = 0.9\n");
  EXPECT_CONTAINS(typo, "cfg.toml:2:1: unknown key \"algo.gama\"");
  EXPECT_CONTAINS(typo, "did you mean algo.gamma?");

  // The right word under the wrong table.
  EXPECT_CONTAINS(load("[env]\ngamma = 0.9\n"), "unknown key \"env.gamma\" (did you mean algo.gamma?)");
  EXPECT_CONTAINS(load("gamma = 0.9\n"), "did you mean algo.gamma?");
  EXPECT_CONTAINS(load("[algo]\nzzzzzz = 1\n"), "docs/training.md lists every setting");
  EXPECT_CONTAINS(load("[algoo]\ngamma = 0.9\n"), "cfg.toml:1:2: unknown table [algoo] (did you mean algo?)");
  EXPECT_CONTAINS(load("[algo.gamma]\nx = 1\n"), "algo.gamma is a float setting, not a table");

  EXPECT_CONTAINS(load("[algo]\ngamma = \"high\"\n"), "cfg.toml:2:9: algo.gamma must be a float, got a string ('high')");
  EXPECT_CONTAINS(load("seed = 1.5\n"), "cfg.toml:1:8: seed must be an integer, got a float (1.5)");
  EXPECT_CONTAINS(load("[env]\nnormalize_obs = 1\n"), "env.normalize_obs must be true or false, got an integer (1)");
  EXPECT_CONTAINS(load("[net]\nhidden = [64, \"x\"]\n"), "net.hidden must be a list of integers");
  EXPECT_CONTAINS(load("[net]\nhidden = 64\n"), "net.hidden must be a list of integers, got an integer (64)");
  EXPECT_CONTAINS(load("[algo]\nname = 3\n"), "algo.name must be a string");

  EXPECT_CONTAINS(load("[algo]\ngamma = 1.5\n"), "cfg.toml:2:9: algo.gamma = 1.5 must be in [0, 1]");
  EXPECT_CONTAINS(load("[algo]\ntau = 0\n"), "algo.tau = 0.0 must be in (0, 1]");
  EXPECT_CONTAINS(load("[algo]\nactor_lr = -1e-3\n"), "algo.actor_lr = -0.001 must be > 0");
  EXPECT_CONTAINS(load("[algo]\nactor_lr = nan\n"), "must be a number, not nan");
  EXPECT_CONTAINS(load("seed = -1\n"), "seed = -1 must be >= 0");
  EXPECT_CONTAINS(load("[algo]\nname = \"sac\"\n"), "algo.name = \"sac\" must be one of td3, ddpg");
  EXPECT_CONTAINS(load("[net]\nhidden = [64, 0]\n"), "must have every element >= 1");

  const std::string syntax = load("[algo]\ngamma = 0.9\ngamma = 0.8\n");
  EXPECT_CONTAINS(syntax, "cfg.toml:3:");
  EXPECT_CONTAINS(syntax, "TOML syntax error");
  EXPECT_CONTAINS(load("[algo\n"), "cfg.toml:1:");

  // A file with an error changes nothing, not even the keys before it.
  EXPECT_CONTAINS(load("seed = 5\n[algo]\ngamma = 7.0\n"), "must be in [0, 1]");
  EXPECT_EQ(c.get_int("seed"), 1);
}

TEST(Config, LoadsFromAFileOnDisk) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("acx_cfg_" + std::to_string(::getpid()) + ".toml")).string();
  {
    std::ofstream out(path);
    out << "[algo]\ngamma = 0.5\ngama = 0.5\n";
  }
  Config c(trainer_like_schema());
  EXPECT_CONTAINS(usage_error_of([&] { c.load_toml(path); }), path + ":3:1: unknown key \"algo.gama\"");
  std::filesystem::remove(path);
  EXPECT_CONTAINS(usage_error_of([&] { c.load_toml(path); }), "config file \"" + path + "\": cannot open");
}

TEST(Config, OverridesParseByTheSchemaType) {
  Config c(trainer_like_schema());
  c.apply_override("algo.gamma=0.98");
  c.apply_override("seed = 42");
  c.apply_override("env.n_envs=2e3");  // an integral float is an integer
  c.apply_override("algo.name=ddpg");
  c.apply_override("run.name=\"my run\"");
  c.apply_override("env.normalize_obs=true");
  c.apply_override("net.hidden=128,64");
  c.apply_override("algo.actor_lr=1_0e-4");
  EXPECT_EQ(c.get_float("algo.gamma"), 0.98);
  EXPECT_EQ(c.get_int("seed"), 42);
  EXPECT_EQ(c.get_int("env.n_envs"), 2000);
  EXPECT_EQ(c.get_string("algo.name"), "ddpg");
  EXPECT_EQ(c.get_string("run.name"), "my run");
  EXPECT_TRUE(c.get_bool("env.normalize_obs"));
  EXPECT_EQ(c.get_int_list("net.hidden"), (std::vector<int64_t>{128, 64}));
  EXPECT_EQ(c.get_float("algo.actor_lr"), 1e-3);
  c.apply_override("net.hidden=[32, 16]");
  EXPECT_EQ(c.get_int_list("net.hidden"), (std::vector<int64_t>{32, 16}));
  c.apply_override("net.hidden=[]");
  EXPECT_TRUE(c.get_int_list("net.hidden").empty());
  EXPECT_EQ(c.origin("seed"), "--set");
}

// Float lists (per-agent variants): --set text, TOML arrays, ranges, and a
// round trip through the resolved TOML that keeps every bit.
TEST(Config, FloatListsParseValidateAndRoundTrip) {
  ConfigSchema s;
  s.add_int("run.agents", 1, "Agents.");
  s.add_float_list("variants.actor_lr", {}, "Per-agent learning rates.", Range::above(0));
  Config c(s);
  EXPECT_TRUE(c.get_float_list("variants.actor_lr").empty());
  c.apply_override("variants.actor_lr=[3e-4, 1e-3, 2]");
  EXPECT_EQ(c.get_float_list("variants.actor_lr"), (std::vector<double>{3e-4, 1e-3, 2.0}));
  c.apply_override("variants.actor_lr=0.1,0.30000000000000004");
  EXPECT_EQ(c.get_float_list("variants.actor_lr"), (std::vector<double>{0.1, 0.30000000000000004}));
  const auto set = [&](const std::string& a) { return usage_error_of([&] { c.apply_override(a); }); };
  EXPECT_CONTAINS(set("variants.actor_lr=[1e-3, x]"), "must be a list of numbers (like [3e-4, 1e-3])");
  EXPECT_CONTAINS(set("variants.actor_lr=[1e-3, 0]"), "must have every element > 0");
  EXPECT_CONTAINS(set("variants.actor_lr=[nan]"), "not nan");
  EXPECT_EQ(c.get_float_list("variants.actor_lr"), (std::vector<double>{0.1, 0.30000000000000004}));  // kept

  const std::string text = c.to_toml();
  EXPECT_CONTAINS(text, "# Per-agent learning rates. (float list, each > 0; default [])\nactor_lr = [0.1, 0.30000000000000004]\n");
  Config back(s);
  back.load_toml_string(text, "config.toml");
  EXPECT_EQ(back.get_float_list("variants.actor_lr"), c.get_float_list("variants.actor_lr"));  // bit-exact
  back.load_toml_string("[variants]\nactor_lr = [1, 2.5]\n", "f.toml");  // integers are numbers too
  EXPECT_EQ(back.get_float_list("variants.actor_lr"), (std::vector<double>{1.0, 2.5}));
  EXPECT_CONTAINS(usage_error_of([&] { back.load_toml_string("[variants]\nactor_lr = [1, \"a\"]\n", "f.toml"); }),
                  "f.toml:2:12: variants.actor_lr must be a list of numbers");
  EXPECT_CONTAINS(usage_error_of([&] { back.load_toml_string("[variants]\nactor_lr = [-1.0]\n", "f.toml"); }),
                  "must have every element > 0");
  EXPECT_CONTAINS(s.markdown_table(), "| `variants.actor_lr` | float list | `[]` | Per-agent learning rates. Each element must be > 0. |");
}

TEST(Config, OverrideErrorsNameTheSetArgument) {
  Config c(trainer_like_schema());
  const auto set = [&](const std::string& a) { return usage_error_of([&] { c.apply_override(a); }); };
  EXPECT_CONTAINS(set("algo.gamma"), "--set \"algo.gamma\": expected key=value");
  EXPECT_CONTAINS(set("algo.gama=0.9"), "--set \"algo.gama=0.9\": unknown key \"algo.gama\" (did you mean algo.gamma?)");
  EXPECT_CONTAINS(set("algo.gamma=abc"), "--set \"algo.gamma=abc\": algo.gamma must be a float, got \"abc\"");
  EXPECT_CONTAINS(set("algo.gamma="), "algo.gamma must be a float, got \"\"");
  EXPECT_CONTAINS(set("algo.gamma=1.5"), "--set \"algo.gamma=1.5\": algo.gamma = 1.5 must be in [0, 1]");
  EXPECT_CONTAINS(set("seed=1.5"), "seed must be an integer, got \"1.5\"");
  EXPECT_CONTAINS(set("seed=12abc"), "seed must be an integer");
  EXPECT_CONTAINS(set("env.normalize_obs=yes"), "must be true or false, got \"yes\"");
  EXPECT_CONTAINS(set("net.hidden=64,,32"), "must be a list of integers (like 256,256)");
  EXPECT_CONTAINS(set("net.hidden=64,"), "must be a list of integers");
  EXPECT_CONTAINS(set("net.hidden=[64"), "must be a list of integers");
  EXPECT_CONTAINS(set("algo.name=sac"), "must be one of td3, ddpg");
  EXPECT_CONTAINS(set("algo.actor_lr=nan"), "must be a number, not nan");
  EXPECT_EQ(c.get_float("algo.gamma"), 0.99);  // nothing applied
}

TEST(Config, SetFromCodeValidatesAndNamesTheOrigin) {
  Config c(trainer_like_schema());
  c.set("seed", int64_t{9}, "--seed");
  EXPECT_EQ(c.get_int("seed"), 9);
  EXPECT_EQ(c.origin("seed"), "--seed");
  c.set("algo.gamma", int64_t{1}, "--gamma");  // an integer for a float
  EXPECT_EQ(c.get_float("algo.gamma"), 1.0);
  EXPECT_CONTAINS(usage_error_of([&] { c.set("seed", int64_t{-3}, "--seed"); }), "--seed: seed = -3 must be >= 0");
  EXPECT_CONTAINS(error_of([&] { c.set("seed", std::string("x"), "--seed"); }), "is a int, set from code as a string");
}

TEST(Config, ResolvedTomlReproducesTheRun) {
  Config c(trainer_like_schema());
  c.apply_override("algo.gamma=0.1");      // shortest round-trip text: 0.1
  c.apply_override("algo.actor_lr=1e-05");
  c.apply_override("algo.tau=0.30000000000000004");
  c.apply_override("run.name=a \"quoted\" \\ name");
  c.apply_override("net.hidden=[]");
  c.apply_override("replay.nested.alpha=-3.4e38");
  c.set("algo.tau", 1.0 / 3.0, "code");
  const std::string text = c.to_toml("acx train, resolved config\nacx train --config THIS_FILE reproduces the run");

  EXPECT_EQ(text.rfind("# acx train, resolved config\n# acx train --config THIS_FILE", 0), 0u) << text;
  EXPECT_CONTAINS(text, "\n[algo]\n# Algorithm. (string, one of td3, ddpg; default \"td3\")\nname = \"td3\"\n");
  EXPECT_CONTAINS(text, "\n# Discount factor. (float, in [0, 1]; default 0.99)\ngamma = 0.1\n");
  EXPECT_CONTAINS(text, "\nactor_lr = 1e-05\n");
  EXPECT_CONTAINS(text, "# Seed of every random stream. (int, >= 0; default 1)\nseed = 1\n");
  EXPECT_CONTAINS(text, "[replay.nested]\n");
  EXPECT_LT(text.find("seed = 1"), text.find("[algo]"));  // top-level keys before any table

  Config back(trainer_like_schema());
  back.load_toml_string(text, "config.toml");
  EXPECT_EQ(back.to_toml(), c.to_toml());
  for (const ConfigEntry& e : c.schema().entries()) EXPECT_EQ(back.get(e.key), c.get(e.key)) << e.key;
  EXPECT_EQ(back.get_float("algo.tau"), 1.0 / 3.0);  // bit-exact
  EXPECT_EQ(back.get_string("run.name"), "a \"quoted\" \\ name");
  EXPECT_EQ(back.get_float("replay.nested.alpha"), -3.4e38);
}

// Every float setting feeds float32 math: infinity, NaN and values past
// float32's range are refused wherever they come from, even where the range
// would allow them (replay.nested.alpha is unbounded).
TEST(Config, FloatsAreFiniteAndWithinFloat32) {
  Config c(trainer_like_schema());
  for (const char* v : {"inf", "-inf", "+inf", "nan", "1e39", "-3.5e38", "1e300"}) {
    const std::string e = usage_error_of([&] { c.apply_override(std::string("replay.nested.alpha=") + v); });
    EXPECT_TRUE(e.find("must be a finite number within float32's range") != std::string::npos ||
                e.find("must be a number, not nan") != std::string::npos)
        << v << ": " << e;
  }
  EXPECT_CONTAINS(usage_error_of([&] { c.load_toml_string("[replay.nested]\nalpha = inf\n", "f.toml"); }),
                  "f.toml:2:9: replay.nested.alpha = inf must be a finite number within float32's range");
  EXPECT_CONTAINS(usage_error_of([&] { c.set("replay.nested.alpha", 1e300, "--flag"); }), "--flag: replay.nested.alpha");
  c.apply_override("replay.nested.alpha=3.4e38");  // the largest float32 is 3.4028235e38
  EXPECT_EQ(c.get_float("replay.nested.alpha"), 3.4e38);
}

// A value echoed in an error is escaped and cut: no terminal escape, no NUL,
// no 10 MB line.
TEST(Config, EchoedValuesAreEscapedAndCut) {
  Config c(trainer_like_schema());
  const std::string escape = usage_error_of([&] { c.apply_override("algo.name=\x1b[31mred"); });
  EXPECT_EQ(escape.find('\x1b'), std::string::npos) << escape;
  EXPECT_CONTAINS(escape, "\\x1B[31mred");
  const std::string big(10'000'000, 'a');
  const std::string huge = usage_error_of([&] { c.load_toml_string("[algo]\nname = \"" + big + "\"\n", "big.toml"); });
  EXPECT_LT(huge.size(), 1000u);
  EXPECT_CONTAINS(huge, "more bytes not shown]");
  const std::string nul = usage_error_of([&] { c.load_toml_string("[algo]\nname = \"a\\u0000b\"\n", "nul.toml"); });
  EXPECT_EQ(nul.find('\0'), std::string::npos);
  EXPECT_CONTAINS(nul, "must be one of");  // the message runs past the NUL
}

TEST(Config, JsonForTheSummary) {
  Config c(trainer_like_schema());
  const nlohmann::json j = c.to_json();
  EXPECT_EQ(j["algo"]["gamma"].get<double>(), 0.99);
  EXPECT_EQ(j["net"]["hidden"], nlohmann::json({256, 256}));
  EXPECT_EQ(j["replay"]["nested"]["alpha"].get<double>(), 0.6);
  EXPECT_EQ(j["seed"].get<int64_t>(), 1);
}

TEST(Config, MarkdownTableForTheDocs) {
  const std::string table = trainer_like_schema().markdown_table();
  EXPECT_EQ(table.rfind("| key | type | default | doc |\n| --- | --- | --- | --- |\n", 0), 0u) << table;
  EXPECT_CONTAINS(table, "| `algo.gamma` | float | `0.99` | Discount factor. Must be in [0, 1]. |\n");
  EXPECT_CONTAINS(table, "| `algo.name` | string | `\"td3\"` | Algorithm. One of: `td3`, `ddpg`. |\n");
  EXPECT_CONTAINS(table, "| `net.hidden` | int list | `[256, 256]` | Hidden layer widths of actor and critics. Each element must be >= 1. |");
  EXPECT_CONTAINS(table, "title \\| may contain a bar.");
  size_t rows = 0;
  for (char ch : table) rows += ch == '\n';
  EXPECT_EQ(rows, 2 + trainer_like_schema().entries().size());
}

}  // namespace
}  // namespace acx
