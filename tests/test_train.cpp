// acx train end to end on the CPU, through the binary: a run resumed from
// its checkpoint gives bitwise the same metrics and parameters as one that
// never stopped; the same seed gives the same run and another seed another;
// NaN stops the run naming the quantity and keeps the last good checkpoint;
// corrupt and mismatched checkpoints are clear errors.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "host/safetensors.h"

namespace acx {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int code;
  std::string out, err;
};

CliRun run_acx(const std::string& args) {
  const fs::path tmp = fs::temp_directory_path() / ("acx_train_" + std::to_string(::getpid()));
  const std::string cmd = std::string(ACX_BINARY) + " " + args + " >" + tmp.string() + ".out 2>" + tmp.string() + ".err";
  const int status = std::system(cmd.c_str());
  CliRun r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, "", ""};
  std::ifstream o(tmp.string() + ".out"), e(tmp.string() + ".err");
  std::getline(o, r.out, '\0');
  std::getline(e, r.err, '\0');
  fs::remove(tmp.string() + ".out");
  fs::remove(tmp.string() + ".err");
  return r;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("acx_train_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

// Small and quick, but every part runs: warm-up, updates, delayed actor
// steps, episodes ending by time limit, evaluations, checkpoints.
const std::string kSmall =
    " --env pendulum --device cpu --set net.actor_hidden=[16,16] --set net.critic_hidden=[16,16]"
    " --set algo.batch_size=32 --set env.n_envs=4 --set env.max_steps=50 --set algo.learning_starts=100"
    " --set algo.warmup_steps=100 --set run.eval_every=100 --set run.eval_episodes=2 --set run.log_every=100"
    " --set run.checkpoint_every=300 --set replay.capacity=10000 --set run.threads=1";

// The CSV without its timing columns (wall_s, env_steps_per_s, updates_per_s).
std::vector<std::string> deterministic_columns(const fs::path& csv) {
  std::ifstream in(csv);
  std::vector<std::string> rows;
  std::string line;
  std::vector<bool> keep;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string cell, row;
    size_t i = 0;
    const bool header = keep.empty();
    while (std::getline(ss, cell, ',')) {
      if (header) keep.push_back(cell != "wall_s" && cell != "env_steps_per_s" && cell != "updates_per_s");
      if (i < keep.size() && keep[i]) row += cell + ",";
      ++i;
    }
    rows.push_back(row);
  }
  return rows;
}

std::vector<uint8_t> tensor_bytes(const fs::path& ckpt, const std::string& name) {
  return safetensors::load_safetensors(ckpt.string()).get(name).data;
}

TEST(Train, ResumedRunIsBitwiseTheUninterruptedRun) {
  const fs::path a = fresh_dir("whole"), b = fresh_dir("split");
  CliRun r = run_acx("train" + kSmall + " --set run.total_env_steps=600 --out " + a.string());
  ASSERT_EQ(r.code, 0) << r.err;
  r = run_acx("train" + kSmall + " --set run.total_env_steps=300 --out " + b.string());
  ASSERT_EQ(r.code, 0) << r.err;
  r = run_acx("train --device cpu --resume " + b.string() + " --set run.total_env_steps=600");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("resuming"), std::string::npos) << r.err;

  const auto rows_a = deterministic_columns(a / "metrics.csv"), rows_b = deterministic_columns(b / "metrics.csv");
  ASSERT_EQ(rows_a.size(), 7u);  // header + rows at 100 .. 600
  EXPECT_EQ(rows_a, rows_b);
  for (const char* t : {"actor.params", "critic.params", "actor_target.params", "critic_opt.v", "replay.obs",
                        "env.state"}) {
    EXPECT_EQ(tensor_bytes(a / "checkpoint.safetensors", t), tensor_bytes(b / "checkpoint.safetensors", t)) << t;
  }
  // The run learned something: parameters moved from their initialization.
  const auto s = safetensors::load_safetensors((a / "checkpoint.safetensors").string());
  EXPECT_EQ(s.meta("env_steps"), "600");
  EXPECT_NE(s.meta("updates"), "0");
  for (const char* f : {"config.toml", "summary.json", "checkpoint.safetensors"}) EXPECT_TRUE(fs::exists(a / f)) << f;
  bool has_events = false;
  for (const auto& e : fs::directory_iterator(a)) has_events |= e.path().filename().string().rfind("events.out.tfevents", 0) == 0;
  EXPECT_TRUE(has_events);

  // acx eval reads the checkpoint and prints JSON with the mean return.
  r = run_acx("eval --device cpu --episodes 3 --checkpoint " + (a / "checkpoint.safetensors").string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"mean_return\""), std::string::npos) << r.out;
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(Train, SameSeedSameRunOtherSeedOtherRun) {
  const fs::path a = fresh_dir("s1"), b = fresh_dir("s1b"), c = fresh_dir("s2");
  const std::string cfg = kSmall + " --set run.total_env_steps=200";
  ASSERT_EQ(run_acx("train" + cfg + " --seed 1 --out " + a.string()).code, 0);
  ASSERT_EQ(run_acx("train" + cfg + " --seed 1 --out " + b.string()).code, 0);
  ASSERT_EQ(run_acx("train" + cfg + " --seed 2 --out " + c.string()).code, 0);
  EXPECT_EQ(deterministic_columns(a / "metrics.csv"), deterministic_columns(b / "metrics.csv"));
  EXPECT_NE(deterministic_columns(a / "metrics.csv"), deterministic_columns(c / "metrics.csv"));
  for (const auto& d : {a, b, c}) fs::remove_all(d);
}

TEST(Train, NanStopsTheRunAndKeepsTheLastGoodCheckpoint) {
  const fs::path d = fresh_dir("nan");
  // A learning rate this large overflows the networks at the first updates
  // (env step 200), after the first checkpoint (env step 100).
  const CliRun r = run_acx("train" + kSmall +
                           " --set run.total_env_steps=1200 --set optim.critic_lr=1e30 --set optim.actor_lr=1e30"
                           " --set algo.learning_starts=200 --set run.checkpoint_every=100 --out " + d.string());
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find(" at env step "), std::string::npos) << r.err;
  EXPECT_TRUE(r.err.find("loss is") != std::string::npos || r.err.find("mean Q is") != std::string::npos ||
              r.err.find("return is") != std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("last good checkpoint is kept"), std::string::npos) << r.err;
  // The checkpoint that stayed is finite and loads.
  const auto s = safetensors::load_safetensors((d / "checkpoint.safetensors").string());
  EXPECT_EQ(s.meta("env_steps"), "100");
  for (float v : s.get("actor.params").values<float>()) ASSERT_TRUE(std::isfinite(v));
  fs::remove_all(d);
}

TEST(Train, BadInputIsAClearError) {
  const fs::path d = fresh_dir("bad");
  CliRun r = run_acx("train --env pendulm --out " + d.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown env 'pendulm'"), std::string::npos) << r.err;
  r = run_acx("train --env pendulum --set algo.gama=0.9 --out " + d.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("algo.gamma"), std::string::npos) << "should suggest the key: " << r.err;
  r = run_acx("train --env pendulum --set algo.gamma=1.5 --out " + d.string());
  EXPECT_EQ(r.code, 2);
  r = run_acx("train --resume " + d.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;

  // A run, then: corrupt its checkpoint, and mismatch its config.
  ASSERT_EQ(run_acx("train" + kSmall + " --set run.total_env_steps=100 --out " + d.string()).code, 0);
  r = run_acx("train" + kSmall + " --set run.total_env_steps=100 --out " + d.string());
  EXPECT_EQ(r.code, 2) << "a second run into the same directory must not overwrite it";
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;
  const fs::path ckpt = d / "checkpoint.safetensors";
  const fs::path copy = d / "copy.safetensors";
  fs::copy_file(ckpt, copy);
  fs::resize_file(copy, fs::file_size(copy) / 2);
  r = run_acx("eval --device cpu --checkpoint " + copy.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("corrupt checkpoint"), std::string::npos) << r.err;

  std::string toml;
  {
    std::ifstream in(d / "config.toml");
    std::getline(in, toml, '\0');
  }
  const auto pos = toml.find("gamma = 0.99");
  ASSERT_NE(pos, std::string::npos);
  toml.replace(pos, 12, "gamma = 0.98");
  std::ofstream(d / "config.toml") << toml;
  r = run_acx("train --device cpu --resume " + d.string() + " --set run.total_env_steps=200");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("mismatched checkpoint"), std::string::npos) << r.err;
  fs::remove_all(d);
}

}  // namespace
}  // namespace acx
