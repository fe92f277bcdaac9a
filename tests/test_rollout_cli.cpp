// `acx rollout` reproduces gymnasium step for step: the binary is run on the
// committed fixtures (tools/gen_gym_fixtures.py, gymnasium 1.0.0) and its
// .npy output compared with what gymnasium returned. Bad input exits 2.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sys/wait.h>
#include <unistd.h>

#include "host/io/npy.h"
#include "tests/test_util.h"

namespace acx {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = std::string(ACX_SOURCE_DIR) + "/tests/fixtures/";

using test::CliRun;
using test::run_acx;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("acx_rollout_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

void expect_rollout_matches(const std::string& env, const std::string& prefix, const std::string& obs_fixture,
                            const std::string& reward_fixture, const std::string& terminated_fixture,
                            int max_steps) {
  const fs::path out = fresh_dir(env);
  const CliRun r = run_acx("rollout --env " + env + " --device cpu --init " + kFixtures + prefix + "_init.npy" +
                        " --actions " + kFixtures + prefix + "_actions.npy --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.err;

  const npy::Array want_obs = npy::read(kFixtures + obs_fixture);
  const npy::Array got_obs = npy::read((out / "obs.npy").string());
  ASSERT_EQ(got_obs.dtype, npy::DType::kFloat32);
  ASSERT_EQ(got_obs.shape, want_obs.shape);
  EXPECT_TRUE(test::all_close(got_obs.to_float64(), want_obs.to_float64(), 1e-5, 0.0)) << env << " obs";
  ASSERT_GT(test::l2_norm(got_obs.to_float64()), 0.0);

  const npy::Array want_rew = npy::read(kFixtures + reward_fixture);
  const npy::Array got_rew = npy::read((out / "reward.npy").string());
  ASSERT_EQ(got_rew.shape, want_rew.shape);
  // Rewards reach ~17 (pendulum) and 100 (mountain car): float32 resolution.
  EXPECT_TRUE(test::all_close(got_rew.to_float64(), want_rew.to_float64(), 1e-5, 1e-6)) << env << " reward";

  const npy::Array got_term = npy::read((out / "terminated.npy").string());
  const npy::Array got_trunc = npy::read((out / "truncated.npy").string());
  ASSERT_EQ(got_term.dtype, npy::DType::kUInt8);
  ASSERT_EQ(got_trunc.dtype, npy::DType::kUInt8);
  const int64_t n_steps = got_rew.shape[0], n_envs = got_rew.shape[1];
  std::vector<double> want_term(n_steps * n_envs, 0.0);
  if (!terminated_fixture.empty()) want_term = npy::read(kFixtures + terminated_fixture).to_float64();
  const auto term = got_term.to_float64(), trunc = got_trunc.to_float64();
  EXPECT_EQ(term, want_term) << env << " terminated";
  for (int64_t t = 0; t < n_steps; ++t) {
    for (int64_t i = 0; i < n_envs; ++i) {
      // gymnasium's TimeLimit: truncated once the step count reaches the limit, unless terminated.
      const double want = (t + 1 >= max_steps && term[t * n_envs + i] == 0) ? 1.0 : 0.0;
      ASSERT_EQ(trunc[t * n_envs + i], want) << env << " truncated at step " << t << " env " << i;
    }
  }
  fs::remove_all(out);
}

TEST(RolloutCli, PendulumMatchesGymnasiumForWholeEpisodes) {
  // gymnasium with its state rounded to float32 between steps, as acx keeps
  // it: 64 envs x 200 steps, out-of-range torques included.
  expect_rollout_matches("pendulum", "pendulum_traj", "pendulum_traj_f32state_obs.npy",
                         "pendulum_traj_f32state_reward.npy", "", 200);
}

TEST(RolloutCli, MountainCarContinuousMatchesGymnasiumForWholeEpisodes) {
  expect_rollout_matches("mountain-car-continuous", "mcc_traj", "mcc_traj_obs.npy", "mcc_traj_reward.npy",
                         "mcc_traj_terminated.npy", 999);
}

TEST(RolloutCli, BadInputIsAUsageError) {
  const fs::path dir = fresh_dir("bad");
  fs::create_directories(dir);
  const std::string init = (dir / "init.npy").string(), acts = (dir / "acts.npy").string();
  const std::string out = (dir / "out").string();
  npy::write(init, {3, 2}, std::vector<float>{0.1f, 0.0f, -0.2f, 0.5f, 3.0f, -1.0f});
  npy::write(acts, {4, 3, 1}, std::vector<float>(12, 0.5f));
  const std::string ok = " --device cpu --init " + init + " --actions " + acts + " --out " + out;

  EXPECT_EQ(run_acx("rollout --env pendulum" + ok).code, 0);
  // The outputs exist now: a second run must not overwrite them silently.
  CliRun r = run_acx("rollout --env pendulum" + ok);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(run_acx("rollout --env pendulum --force" + ok).code, 0);

  r = run_acx("rollout --env pendulm" + ok);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown env \"pendulm\""), std::string::npos) << r.err;

  // Wrong state width: mountain car's state is also 2 wide, acrobot's is 4.
  r = run_acx("rollout --env acrobot-continuous" + ok);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("init.npy"), std::string::npos) << r.err;

  const std::string bad_acts = (dir / "bad_acts.npy").string();
  npy::write(bad_acts, {4, 2, 1}, std::vector<float>(8, 0.5f));  // 2 envs, not 3
  r = run_acx("rollout --env pendulum --device cpu --init " + init + " --actions " + bad_acts + " --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("bad_acts.npy"), std::string::npos) << r.err;

  npy::write(bad_acts, {4, 3, 1}, std::vector<double>(12, 0.5));  // float64 actions
  r = run_acx("rollout --env pendulum --device cpu --init " + init + " --actions " + bad_acts + " --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("float32"), std::string::npos) << r.err;

  std::vector<float> nan_acts(12, 0.5f);
  nan_acts[7] = std::numeric_limits<float>::quiet_NaN();
  npy::write(bad_acts, {4, 3, 1}, nan_acts);
  r = run_acx("rollout --env pendulum --device cpu --init " + init + " --actions " + bad_acts + " --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("element 7"), std::string::npos) << r.err;

  const std::string garbage = (dir / "garbage.npy").string();
  std::ofstream(garbage) << "not a numpy file";
  r = run_acx("rollout --env pendulum --device cpu --init " + garbage + " --actions " + acts + " --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("garbage.npy"), std::string::npos) << r.err;

  r = run_acx("rollout --env pendulum --device cpu --init " + init + " --out " + out);  // no --actions
  EXPECT_EQ(r.code, 2);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace acx
