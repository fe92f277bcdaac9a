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

#include <nlohmann/json.hpp>

#include "host/io/safetensors.h"
#include "tests/test_util.h"

namespace acx {
namespace {

namespace fs = std::filesystem;

using test::CliRun;
using test::run_acx;

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

// `cmd` (an acx train command line without --out or the step count) run
// for 600 env steps into a, and for 300 into b and then resumed to 600:
// the metrics (timing columns aside) and the named checkpoint tensors are
// the same bits. Returns the resumed run's stderr.
std::string expect_resume_bitwise(const std::string& cmd, const fs::path& a, const fs::path& b,
                                  std::initializer_list<const char*> tensors, const std::string& what = "") {
  CliRun r;
  for (const std::string& run : {cmd + " --set run.total_env_steps=600 --out " + a.string(),
                                 cmd + " --set run.total_env_steps=300 --out " + b.string(),
                                 "train --device cpu --resume " + b.string() + " --set run.total_env_steps=600"}) {
    r = run_acx(run);
    if (r.code != 0) {
      ADD_FAILURE() << what << ": acx " << run << " exited " << r.code << ":\n" << r.err;
      return r.err;
    }
  }
  const auto rows_a = deterministic_columns(a / "metrics.csv");
  EXPECT_EQ(rows_a.size(), 7u) << what;  // header + rows at 100 .. 600
  EXPECT_EQ(rows_a, deterministic_columns(b / "metrics.csv")) << what;
  for (const char* t : tensors) {
    EXPECT_EQ(tensor_bytes(a / "checkpoint.safetensors", t), tensor_bytes(b / "checkpoint.safetensors", t))
        << what << " " << t;
  }
  return r.err;
}

TEST(Train, ResumedRunIsBitwiseTheUninterruptedRun) {
  const fs::path a = fresh_dir("whole"), b = fresh_dir("split");
  const std::string err = expect_resume_bitwise(
      "train" + kSmall, a, b,
      {"actor.params", "critic.params", "actor_target.params", "critic_opt.v", "replay.obs", "env.state"});
  ASSERT_FALSE(HasFailure());
  EXPECT_NE(err.find("resuming"), std::string::npos) << err;
  // The run learned something: parameters moved from their initialization.
  const auto s = safetensors::load_safetensors((a / "checkpoint.safetensors").string());
  EXPECT_EQ(s.meta("env_steps"), "600");
  EXPECT_NE(s.meta("updates"), "0");
  for (const char* f : {"config.toml", "summary.json", "checkpoint.safetensors"}) EXPECT_TRUE(fs::exists(a / f)) << f;
  bool has_events = false;
  for (const auto& e : fs::directory_iterator(a)) has_events |= e.path().filename().string().rfind("events.out.tfevents", 0) == 0;
  EXPECT_TRUE(has_events);

  // acx eval reads the checkpoint and prints JSON with the mean return.
  const CliRun r = run_acx("eval --device cpu --episodes 3 --checkpoint " + (a / "checkpoint.safetensors").string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"mean_return\""), std::string::npos) << r.out;
  fs::remove_all(a);
  fs::remove_all(b);
}

// SAC's state differs (no target actor; the temperature and its Adam
// moments) and so do its noise streams (the policy's samples in updates and
// in acting): a resumed SAC run is bitwise the one that never stopped, with
// two agents so that each agent's temperature is its own.
TEST(Train, ResumedSacRunIsBitwiseTheUninterruptedRun) {
  const fs::path a = fresh_dir("sac_whole"), b = fresh_dir("sac_split");
  expect_resume_bitwise("train" + kSmall + " --algo sac --set run.agents=2", a, b,
                        {"actor.params", "actor_opt.m", "critic.params", "critic_target.params", "alpha.log_alpha",
                         "alpha_opt.m", "alpha_opt.v", "replay.obs", "env.state"});
  ASSERT_FALSE(HasFailure());
  const auto rows_a = deterministic_columns(a / "metrics.csv");
  EXPECT_NE(rows_a[0].find("alpha,entropy"), std::string::npos) << rows_a[0];
  const auto s = safetensors::load_safetensors((a / "checkpoint.safetensors").string());
  EXPECT_FALSE(s.contains("actor_target.params"));
  // The metadata describes the actor as stored: 2 act_dim identity outputs (mean, raw log-std).
  EXPECT_NE(s.meta("actor_layers").find(R"({"activation":"identity","in":16,"out":2})"), std::string::npos)
      << s.meta("actor_layers");
  // The temperatures moved from sac.init_alpha = 1 (log 0), each its own way.
  const std::vector<float> log_alpha = s.get("alpha.log_alpha").values<float>();
  ASSERT_EQ(log_alpha.size(), 2u);
  EXPECT_NE(log_alpha[0], 0.0f);
  EXPECT_NE(log_alpha[0], log_alpha[1]);

  // acx eval takes SAC's mean action.
  const CliRun r = run_acx("eval --device cpu --episodes 2 --checkpoint " + (a / "checkpoint.safetensors").string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"mean_return\""), std::string::npos) << r.out;
  fs::remove_all(a);
  fs::remove_all(b);
}

// A C51 critic (kernels/c51.h) with TD3 and with SAC: the critics' state
// holds logits over the atoms, and the run resumes bit for bit.
TEST(Train, ResumedC51RunsAreBitwiseTheUninterruptedRuns) {
  for (const char* algo : {"td3", "sac"}) {
    const fs::path a = fresh_dir(std::string("c51_whole_") + algo), b = fresh_dir(std::string("c51_split_") + algo);
    const std::string cfg = "train" + kSmall + " --algo " + algo +
                            " --set critic.distribution=\"c51\" --set critic.atoms=21 --set critic.v_min=-200"
                            " --set critic.v_max=0";
    expect_resume_bitwise(cfg, a, b, {"actor.params", "critic.params", "critic_target.params", "critic_opt.v"}, algo);
    ASSERT_FALSE(HasFailure()) << algo;
    // The critic's output layer has one logit per atom: (n_q K, P) with P
    // from hidden [16, 16] and 21 outputs.
    const auto s = safetensors::load_safetensors((a / "checkpoint.safetensors").string());
    const int64_t p = (4 * 16 + 16) + (16 * 16 + 16) + (16 * 21 + 21);
    EXPECT_EQ(s.get("critic.params").shape, (std::vector<int64_t>{2, p})) << algo;
    // The last row's cross-entropy is positive and finite, and its mean Q lies inside the support.
    std::ifstream in(a / "metrics.csv");
    std::string header, line, last;
    std::getline(in, header);
    while (std::getline(in, line)) last = line;
    auto column = [&](const std::string& name) {
      std::stringstream hs(header), ls(last);
      std::string h, v;
      while (std::getline(hs, h, ',') && std::getline(ls, v, ','))
        if (h == name) return std::stod(v);
      return std::nan("");
    };
    const double loss = column("critic_loss"), mean_q = column("mean_q");
    EXPECT_TRUE(std::isfinite(loss) && loss > 0.0) << algo << " " << loss;
    EXPECT_TRUE(mean_q > -200.0 && mean_q < 0.0) << algo << " " << mean_q;
    fs::remove_all(a);
    fs::remove_all(b);
  }
}

// Returns past the C51 support are valued as its edge; the run says so once.
// Population-based training keeps state a resume needs: each agent's
// hyper-parameters and the step of its last copy (pbt.* tensors), and the
// lineage up to the checkpoint. Rounds at 200 and 400 around the
// checkpoint at 300: the resumed run copies the same members with the same
// draws.
TEST(Train, ResumedPbtRunIsBitwiseTheUninterruptedRun) {
  const fs::path a = fresh_dir("pbt_whole"), b = fresh_dir("pbt_split");
  expect_resume_bitwise("train" + kSmall + " --set run.agents=4 --set pbt.enabled=true --set pbt.interval=200", a, b,
                        {"actor.params", "critic.params", "critic_opt.v", "pbt.hyper", "pbt.last_change"}, "pbt");
  ASSERT_FALSE(HasFailure());
  std::ifstream la(a / "pbt.csv"), lb(b / "pbt.csv");
  std::stringstream sa, sb;
  sa << la.rdbuf();
  sb << lb.rdbuf();
  const std::string whole = sa.str();
  EXPECT_EQ(whole, sb.str());
  // Both rounds replaced someone (header + at least two rows, at 200 and 400).
  EXPECT_NE(whole.find("\n200,1,"), std::string::npos) << whole;
  EXPECT_NE(whole.find("\n400,2,"), std::string::npos) << whole;
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(Train, C51SaysWhenItsSupportIsTooNarrow) {
  const fs::path d = fresh_dir("c51_narrow"), ok = fresh_dir("c51_wide");
  const std::string cfg = "train" + kSmall + " --set critic.distribution=\"c51\" --set algo.reward_scale=100"
                          " --set optim.critic_lr=3e-3"
                          " --set run.total_env_steps=300";
  CliRun r = run_acx(cfg + " --out " + d.string());  // pendulum's rewards x 100 against the default [-10, 10]
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("at the edge of the C51 support [-10, 10]"), std::string::npos) << r.err;
  r = run_acx(cfg + " --set critic.v_min=-20000 --set critic.v_max=1000 --out " + ok.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find("C51 support"), std::string::npos) << r.err;
  fs::remove_all(d);
  fs::remove_all(ok);
}

// The many-env recipe's options together: no target actor, per-env scales
// redrawn at episode ends (saved in the checkpoint), a fixed number of
// updates per vector step. The run resumes bit for bit.
TEST(Train, ManyEnvRecipeResumesBitwise) {
  const fs::path a = fresh_dir("recipe_whole"), b = fresh_dir("recipe_split");
  const std::string cfg = "train" + kSmall +
                          " --set env.n_envs=20 --set algo.target_actor=false --set explore.sigma_min=0.01"
                          " --set explore.sigma=0.4 --set explore.sigma_redraw=true"
                          " --set algo.updates_per_vector_step=2 --set env.max_steps=10";
  expect_resume_bitwise(cfg, a, b, {"actor.params", "critic.params", "explore.sigma", "env.state"});
  ASSERT_FALSE(HasFailure());
  const auto s = safetensors::load_safetensors((a / "checkpoint.safetensors").string());
  EXPECT_FALSE(s.contains("actor_target.params"));
  // 2 updates per step of the 20 envs from learning_starts (100) on: 2 ((600 - 100) / 20 + 1).
  EXPECT_EQ(s.meta("updates"), "52");
  // 30 steps of every env, episodes of 10 steps: every scale was redrawn, each
  // within [0.01, 0.4], and they are not the initial geometric spread.
  const std::vector<float> sigma = s.get("explore.sigma").values<float>();
  ASSERT_EQ(sigma.size(), 20u);
  int off_spread = 0;
  for (size_t i = 0; i < sigma.size(); ++i) {
    EXPECT_GE(sigma[i], 0.01f * 0.999f);
    EXPECT_LE(sigma[i], 0.4f * 1.001f);
    off_spread += std::fabs(sigma[i] - 0.01f * std::pow(40.0f, static_cast<float>(i) / 19.0f)) > 1e-4f;
  }
  EXPECT_GT(off_spread, 15);
  const CliRun r =
      run_acx("train" + kSmall + " --set explore.sigma_redraw=true --out " + fresh_dir("recipe_bad").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("explore.sigma_redraw needs explore.sigma_min > 0"), std::string::npos) << r.err;
  fs::remove_all(a);
  fs::remove_all(b);
  fs::remove_all(fresh_dir("recipe_bad"));
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

// A run is the same bits on 1 and 2 CPU threads, and with the governor
// choosing: networks wide enough that the lone products (the actor's, the
// target actor's) are cut into blocks spread over the threads, and the twin
// critics run side by side (kernels/runtime/blas.cpp). On a Zen 3 EPYC this
// failed while OpenBLAS split those products over its own threads.
TEST(Train, SameBitsOnOneTwoAndGovernedThreads) {
  const std::string cfg = kSmall + " --set run.total_env_steps=300 --set net.actor_hidden=[128,128]" +
                          " --set net.critic_hidden=[128,128] --set algo.batch_size=128";
  std::vector<fs::path> dirs;
  for (const char* threads : {"1", "2", "0"}) {
    dirs.push_back(fresh_dir(std::string("threads") + threads));
    const CliRun r = run_acx("train" + cfg + " --set run.threads=" + threads + " --out " + dirs.back().string());
    ASSERT_EQ(r.code, 0) << r.err;
  }
  const auto rows = deterministic_columns(dirs[0] / "metrics.csv");
  EXPECT_EQ(rows.size(), 4u);  // header + rows at 100 .. 300
  for (size_t i = 1; i < dirs.size(); ++i) {
    EXPECT_EQ(deterministic_columns(dirs[i] / "metrics.csv"), rows) << dirs[i];
    for (const char* t : {"actor.params", "critic.params", "actor_target.params", "critic_opt.v"}) {
      EXPECT_EQ(tensor_bytes(dirs[i] / "checkpoint.safetensors", t), tensor_bytes(dirs[0] / "checkpoint.safetensors", t))
          << dirs[i] << " " << t;
    }
  }
  for (const auto& d : dirs) fs::remove_all(d);
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
  EXPECT_NE(r.err.find("unknown env \"pendulm\""), std::string::npos) << r.err;
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

// Per-agent variants: agents are independent members, so an agent whose
// hyper-parameters are the same in two runs trains bit for bit the same,
// and one whose variants differ trains differently.
// With observation normalization too: each agent's statistics see only its
// own envs (shared ones would let agent 1's noise reach agent 0).
class TrainVariants : public ::testing::TestWithParam<bool> {};

TEST_P(TrainVariants, PerAgentVariantsChangeOnlyTheirAgent) {
  const std::string tag = GetParam() ? "_norm" : "";
  const fs::path a = fresh_dir("variants_a" + tag), b = fresh_dir("variants_b" + tag);
  const std::string common = kSmall + " --agents 2 --set run.total_env_steps=300" +
                             (GetParam() ? " --set obs_norm.enabled=true" : "");
  ASSERT_EQ(run_acx("train" + common +
                    " --set variants.actor_lr=[3e-4,1e-3] --set variants.critic_lr=[3e-4,2e-3]"
                    " --set variants.explore_sigma=[0.1,0.3] --out " + a.string()).code, 0);
  ASSERT_EQ(run_acx("train" + common +
                    " --set variants.actor_lr=[3e-4,3e-3] --set variants.critic_lr=[3e-4,1e-4]"
                    " --set variants.explore_sigma=[0.1,0.05] --out " + b.string()).code, 0);
  const auto halves = [](const fs::path& d, const std::string& name, int n_halves) {
    const std::vector<uint8_t> bytes = tensor_bytes(d / "checkpoint.safetensors", name);
    std::vector<std::vector<uint8_t>> out;
    const size_t part = bytes.size() / n_halves;
    for (int i = 0; i < n_halves; ++i) out.emplace_back(bytes.begin() + i * part, bytes.begin() + (i + 1) * part);
    return out;
  };
  // actor.params is (K, P): agent 0 then agent 1. critic.params is (2 K, P):
  // critic 0 of agents 0, 1, then critic 1 of agents 0, 1.
  const auto actor_a = halves(a, "actor.params", 2), actor_b = halves(b, "actor.params", 2);
  const auto critic_a = halves(a, "critic.params", 4), critic_b = halves(b, "critic.params", 4);
  EXPECT_EQ(actor_a[0], actor_b[0]) << "agent 0 has the same hyper-parameters in both runs";
  EXPECT_EQ(critic_a[0], critic_b[0]);
  EXPECT_EQ(critic_a[2], critic_b[2]);
  EXPECT_NE(actor_a[1], actor_b[1]) << "agent 1's variants differ";
  EXPECT_NE(critic_a[1], critic_b[1]);
  EXPECT_NE(critic_a[3], critic_b[3]);
  const nlohmann::json j = nlohmann::json::parse(std::ifstream(a / "summary.json"));
  EXPECT_EQ(j["variants"]["actor_lr"], nlohmann::json({3e-4, 1e-3}));
  EXPECT_EQ(j["final_eval_per_agent"].size(), 2u);

  if (GetParam()) {
    const auto count = safetensors::load_safetensors((a / "checkpoint.safetensors").string()).get("obs_norm.count");
    EXPECT_EQ(count.shape, (std::vector<int64_t>{2, 3}));  // (K, obs_dim) of pendulum
  }
  const fs::path d = fresh_dir("variants_bad" + tag);
  const CliRun r = run_acx("train" + common + " --set variants.actor_lr=[1e-3,1e-3,1e-3] --out " + d.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("variants.actor_lr has 3 values but run.agents is 2"), std::string::npos) << r.err;
  for (const fs::path& p : {a, b, d}) fs::remove_all(p);
}

INSTANTIATE_TEST_SUITE_P(ObsNorm, TrainVariants, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "WithObsNorm" : "Plain"; });

// The expected optimal cost of the default lqr env over a horizon, written
// here from the textbook recursion (independent of envs/lqr_riccati.cpp):
// P_T = 0, P_t = Q + A'P(A - BK), K = (R + B'PB)^-1 B'PA; E[x0'P_0x0] = tr(P_0)/3.
double lqr_expected_optimal_cost(int horizon) {
  // The env's float parameters (envs/lqr.h), widened.
  const double dt = 0.1f, a[2][2] = {{1.0, dt}, {0.0, 1.0}}, b[2] = {0.005f, dt}, r = 0.1f;
  double p[2][2] = {{0, 0}, {0, 0}};
  for (int t = 0; t < horizon; ++t) {
    const double pb[2] = {p[0][0] * b[0] + p[0][1] * b[1], p[1][0] * b[0] + p[1][1] * b[1]};
    const double s = r + b[0] * pb[0] + b[1] * pb[1];
    double k[2];  // (B'PA) / s
    for (int j = 0; j < 2; ++j) k[j] = (pb[0] * a[0][j] + pb[1] * a[1][j]) / s;
    double acl[2][2], pn[2][2];
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) acl[i][j] = a[i][j] - b[i] * k[j];
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        double v = i == j ? 1.0 : 0.0;
        for (int m = 0; m < 2; ++m)
          for (int n = 0; n < 2; ++n) v += a[m][i] * p[m][n] * acl[n][j];
        pn[i][j] = v;
      }
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) p[i][j] = pn[i][j];
  }
  return (p[0][0] + p[1][1]) / 3.0;
}

// lqr is trained on short episodes and evaluated on run.eval_max_steps ones;
// its evaluations compare each episode with the optimum from the same start
// over that horizon, so no policy can score a cost ratio below 1.
TEST(Train, LqrIsEvaluatedAgainstTheOptimumFromTheSameStartsOverTheEvalHorizon) {
  const fs::path d = fresh_dir("lqr");
  const std::string args =
      " --env lqr --device cpu --set net.actor_hidden=[16,16] --set net.critic_hidden=[16,16] --set algo.batch_size=32"
      " --set env.n_envs=4 --set env.max_steps=30 --set run.eval_max_steps=200 --set algo.learning_starts=100"
      " --set run.total_env_steps=400 --set run.eval_every=200 --set run.eval_episodes=50 --set run.threads=1"
      " --set replay.capacity=1000 --agents 2 --out " + d.string();
  const CliRun r = run_acx("train" + args);
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(std::ifstream(d / "summary.json"));
  const double opt200 = lqr_expected_optimal_cost(200), opt30 = lqr_expected_optimal_cost(30);
  ASSERT_GT(std::abs(opt200 - opt30), 1e-3) << "the test must tell the two horizons apart";
  EXPECT_NEAR(j["lqr_optimal_return"].get<double>(), -opt200, 1e-9 * opt200);
  ASSERT_EQ(j["evals"].size(), 2u);
  for (const auto& e : j["evals"]) {
    ASSERT_EQ(e["lqr_cost_ratio_per_agent"].size(), 2u);
    for (const auto& ratio : e["lqr_cost_ratio_per_agent"]) {
      // float32 dynamics against the float64 optimum: allow rounding only.
      EXPECT_GE(ratio.get<double>(), 1.0 - 1e-4) << e.dump();
      EXPECT_TRUE(std::isfinite(ratio.get<double>()));
    }
  }
  const double ratio = j["lqr_cost_ratio"].get<double>();
  EXPECT_NEAR(ratio, 0.5 * (j["lqr_cost_ratio_per_agent"][0].get<double>() + j["lqr_cost_ratio_per_agent"][1].get<double>()),
              1e-12 * ratio);

  const CliRun ev = run_acx("eval --device cpu --episodes 40 --checkpoint " + (d / "checkpoint.safetensors").string());
  ASSERT_EQ(ev.code, 0) << ev.err;
  const nlohmann::json e = nlohmann::json::parse(ev.out);
  ASSERT_EQ(e["returns"].size(), 80u);
  ASSERT_EQ(e["lqr_cost_ratio_per_agent"].size(), 2u);
  for (const auto& x : e["lqr_cost_ratio_per_agent"]) EXPECT_GE(x.get<double>(), 1.0 - 1e-4);
  EXPECT_NEAR(e["lqr_optimal_return"].get<double>(), -opt200, 1e-9 * opt200);
  fs::remove_all(d);
}

}  // namespace
}  // namespace acx
