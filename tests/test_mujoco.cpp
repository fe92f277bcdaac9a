// The MuJoCo tasks (envs/mujoco/) beyond the gymnasium parity of
// tests/mujoco_parity.py: the registry, resets, auto-reset bookkeeping, the
// checkpoint round trip (bitwise, and refused across MuJoCo versions), bad
// input, and the pinned-host path to a CUDA device (run under the SIMT
// emulation's CUDA API stand-in in the emu build, on a GPU where there is one).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "envs/vec_env.h"
#include "host/io/config.h"
#include "host/io/safetensors.h"
#include "host/learn/trainer.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/error.h"
#include "tests/test_util.h"

#if ACX_HAS_MUJOCO
#include "envs/mujoco/mujoco_env.h"
#endif

namespace acx {
namespace {

namespace fs = std::filesystem;

#if !ACX_HAS_MUJOCO
TEST(Mujoco, NotBuilt) { GTEST_SKIP() << "built without MuJoCo (ACX_MUJOCO; scripts/install_deps.sh fetches it)"; }
#else

const char* kTasks[] = {"half-cheetah", "hopper", "walker2d", "ant", "humanoid", "humanoid-standup",
                        "inverted-pendulum", "inverted-double-pendulum", "reacher", "swimmer", "pusher"};

// Actions (n_envs, act_dim) from a fixed stream, within `scale` of the box.
std::vector<float> actions_for(const EnvInfo& info, int64_t n, uint32_t tag, float scale = 1.0f) {
  std::vector<float> a = test::random_floats(static_cast<size_t>(n) * info.act_dim, tag, -scale, scale);
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < info.act_dim; ++k) a[i * info.act_dim + k] *= info.action_high[k];
  return a;
}

void step_host(VecEnv& env, const std::vector<float>& a) {
  const Buffer<float> d = Buffer<float>::from_host(env.device(), a);
  env.step(d.data());
  env.device().synchronize();
}

std::vector<uint32_t> bits(const std::vector<float>& v) {
  std::vector<uint32_t> b(v.size());
  std::memcpy(b.data(), v.data(), v.size() * 4);
  return b;
}

TEST(Mujoco, EveryTaskIsRegisteredWithItsGymnasiumId) {
  for (const char* name : kTasks) {
    const EnvInfo info = find_registered_env(name);
    EXPECT_EQ(info.engine, std::string("MuJoCo ") + mujoco_env::kPinnedVersion) << name;
    EXPECT_NE(info.reference_id.find("-v5 (gymnasium 1.4.0)"), std::string::npos) << name;
    EXPECT_GT(info.frame_skip, 0) << name;
    EXPECT_EQ(info.max_steps, std::string(name) == "reacher" ? 50 : std::string(name) == "pusher" ? 100 : 1000);
  }
  EXPECT_EQ(find_registered_env("half-cheetah").obs_dim, 17);
  EXPECT_EQ(find_registered_env("humanoid").obs_dim, 348);
  EXPECT_EQ(find_registered_env("ant").obs_dim, 105);
  EXPECT_EQ(mujoco_env::linked_version(), mujoco_env::kPinnedVersion);
}

// dm_control's swing-up (tests/mujoco_parity.py checks its steps against
// dm_control's own): registered as a dm_control task, reset to the hanging
// pole with dm_control's noise, rewards in [0, 1], never terminated.
TEST(Mujoco, DmcCartpoleStartsHangingAndItsRewardStaysInTheUnitInterval) {
  const EnvInfo info = find_registered_env("dmc-cartpole-swingup");
  EXPECT_NE(info.reference_id.find("cartpole/swingup (dm_control "), std::string::npos) << info.reference_id;
  EXPECT_EQ(info.max_steps, 1000);
  EXPECT_EQ(info.frame_skip, 1);
  const int64_t n = 256;
  auto env = make_vec_env(Device::cpu(), "dmc-cartpole-swingup", n);
  env->reset(5);
  const std::vector<float> s = env->state_host(), o = env->obs_host();
  double x_sq = 0, th_sq = 0, v_sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    x_sq += double(s[i * 4]) * s[i * 4];
    th_sq += (double(s[i * 4 + 1]) - M_PI) * (double(s[i * 4 + 1]) - M_PI);
    v_sq += double(s[i * 4 + 2]) * s[i * 4 + 2] + double(s[i * 4 + 3]) * s[i * 4 + 3];
    EXPECT_EQ(o[i * 5], s[i * 4]);  // x first
    EXPECT_LT(o[i * 5 + 1], -0.99f);  // cos th: hanging
    EXPECT_NEAR(o[i * 5 + 2], std::sin(double(s[i * 4 + 1])), 1e-6);  // xmat xz = sin th
  }
  // 0.01 N(0, 1) on x, the angle about pi and both velocities.
  for (double var : {x_sq / n, th_sq / n, v_sq / (2 * n)}) {
    EXPECT_GT(std::sqrt(var), 0.008);
    EXPECT_LT(std::sqrt(var), 0.012);
  }
  double total = 0;
  for (int t = 0; t < 300; ++t) {
    step_host(*env, actions_for(env->info(), n, 900 + t));
    const auto r = env->reward_host();
    const auto term = env->terminated_host(), trunc = env->truncated_host();
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_GE(r[i], 0.0f);
      ASSERT_LE(r[i], 1.0f);
      ASSERT_FALSE(term[i]);
      ASSERT_FALSE(trunc[i]);
      total += r[i];
    }
  }
  // Random pushes keep the pole low: upright near 0, but not all-zero.
  EXPECT_GT(total, 0.0);
  EXPECT_LT(total / (300.0 * n), 0.5);
}

TEST(Mujoco, UnknownTaskNamesTheKnownOnes) {
  const std::string msg = usage_error_of([] { (void)make_vec_env(Device::cpu(), "half-cheeta", 2); });
  EXPECT_NE(msg.find("half-cheeta"), std::string::npos) << msg;
  EXPECT_NE(msg.find("half-cheetah"), std::string::npos) << msg;
}

TEST(Mujoco, ResetIsKeyedBySeedAndDrawsGymnasiumsNoise) {
  const Device dev = Device::cpu();
  auto a = make_vec_env(dev, "half-cheetah", 64), b = make_vec_env(dev, "half-cheetah", 64);
  a->reset(7);
  b->reset(7);
  EXPECT_EQ(bits(a->obs_host()), bits(b->obs_host()));
  b->reset(8);
  EXPECT_NE(bits(a->obs_host()), bits(b->obs_host()));
  // qpos = qpos0 + U(-0.1, 0.1) (qpos0 = 0 for the cheetah), qvel = 0.1 N(0, 1).
  const std::vector<float> s = a->state_host();
  double vel_sq = 0;
  for (int64_t i = 0; i < 64; ++i) {
    for (int k = 0; k < 9; ++k) EXPECT_LE(std::fabs(s[i * 18 + k]), 0.1f);
    for (int k = 9; k < 18; ++k) vel_sq += double(s[i * 18 + k]) * s[i * 18 + k];
  }
  const double vel_std = std::sqrt(vel_sq / (64 * 9));
  EXPECT_GT(vel_std, 0.08);
  EXPECT_LT(vel_std, 0.12);
}

TEST(Mujoco, EpisodesEndAndRestartWithTheirReturnsKept) {
  const Device dev = Device::cpu();
  const int64_t n = 8;
  auto env = make_vec_env(dev, "hopper", n);
  env->reset(3);
  std::vector<double> ret(n, 0.0);
  int ended = 0;
  for (int t = 0; t < 400 && ended < 4; ++t) {
    step_host(*env, actions_for(env->info(), n, 100 + t));
    const auto r = env->reward_host();
    const auto term = env->terminated_host(), trunc = env->truncated_host();
    const auto steps = env->episode_step_host();
    const auto done_ret = env->done_return_host();
    const auto obs = env->obs_host(), fin = env->final_obs_host();
    for (int64_t i = 0; i < n; ++i) {
      ret[i] += r[i];
      EXPECT_FALSE(trunc[i]);  // hopper falls long before 1000 steps
      if (term[i]) {
        ++ended;
        EXPECT_EQ(steps[i], 0);
        EXPECT_NEAR(done_ret[i], ret[i], 1e-3 * (1 + std::fabs(ret[i])));
        ret[i] = 0;
        // The new episode's first observation is not the one that ended.
        EXPECT_NE(std::memcmp(obs.data() + i * 11, fin.data() + i * 11, 11 * 4), 0);
      } else {
        EXPECT_EQ(std::memcmp(obs.data() + i * 11, fin.data() + i * 11, 11 * 4), 0);
      }
    }
  }
  EXPECT_GE(ended, 4);
}

TEST(Mujoco, CheckpointRoundTripContinuesBitForBit) {
  const Device dev = Device::cpu();
  for (const char* name : {"ant", "humanoid", "half-cheetah"}) {
    const int64_t n = 5;
    auto a = make_vec_env(dev, name, n);
    a->reset(11);
    for (int t = 0; t < 30; ++t) step_host(*a, actions_for(a->info(), n, 500 + t, 0.5f));
    const std::vector<HostArray> saved = a->to_host();
    auto b = make_vec_env(dev, name, n);
    b->from_host(saved);
    for (int t = 30; t < 80; ++t) {
      const auto act = actions_for(a->info(), n, 500 + t, 0.5f);
      step_host(*a, act);
      step_host(*b, act);
      ASSERT_EQ(bits(a->obs_host()), bits(b->obs_host())) << name << " step " << t;
      ASSERT_EQ(bits(a->reward_host()), bits(b->reward_host())) << name << " step " << t;
    }
  }
}

TEST(Mujoco, CheckpointFromAnotherMujocoIsRefusedNamingBothVersions) {
  const Device dev = Device::cpu();
  auto a = make_vec_env(dev, "swimmer", 2);
  a->reset(1);
  std::vector<HostArray> saved = a->to_host();
  for (HostArray& h : saved) {
    if (h.name == "env.mujoco_version") {
      const std::string other = "3.6.0";
      h.bytes.assign(other.begin(), other.end());
      h.shape = {static_cast<int64_t>(other.size())};
    }
  }
  const std::string msg = error_of([&] { a->from_host(saved); });
  EXPECT_NE(msg.find("3.6.0"), std::string::npos) << msg;
  EXPECT_NE(msg.find(mujoco_env::kPinnedVersion), std::string::npos) << msg;
}

TEST(Mujoco, NanActionReportsNanAndLeavesTheSimulationAlone) {
  const Device dev = Device::cpu();
  auto env = make_vec_env(dev, "walker2d", 2);
  env->reset(5);
  const std::vector<float> before = env->state_host();
  std::vector<float> act(12, 0.1f);
  act[3] = std::nanf("");  // env 0
  step_host(*env, act);
  const auto r = env->reward_host();
  const auto obs = env->obs_host();
  const std::vector<float> after = env->state_host();
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_TRUE(std::isnan(obs[0]));
  EXPECT_FALSE(std::isnan(r[1]));
  for (int k = 0; k < 18; ++k) EXPECT_EQ(after[k], before[k]) << k;  // env 0 did not step
  EXPECT_NE(std::memcmp(after.data() + 18, before.data() + 18, 18 * 4), 0);  // env 1 did
}

struct AssetsDir {
  explicit AssetsDir(const fs::path& dir) {
    const char* old = std::getenv("ACX_MUJOCO_ASSETS");
    had_ = old != nullptr;
    if (old) old_ = old;
    ::setenv("ACX_MUJOCO_ASSETS", dir.c_str(), 1);
  }
  ~AssetsDir() {
    if (had_) {
      ::setenv("ACX_MUJOCO_ASSETS", old_.c_str(), 1);
    } else {
      ::unsetenv("ACX_MUJOCO_ASSETS");
    }
  }
  bool had_ = false;
  std::string old_;
};

TEST(Mujoco, MissingOrBrokenModelIsAClearErrorNamingTheFile) {
  const fs::path dir = fs::temp_directory_path() / ("acx_mujoco_assets_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    AssetsDir use(dir);
    std::string msg = error_of([] { (void)make_vec_env(Device::cpu(), "half-cheetah", 1); });
    EXPECT_NE(msg.find((dir / "half_cheetah.xml").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
    std::ofstream(dir / "half_cheetah.xml") << "<mujoco><worldbody><body name='x'><geom type='sphere'";
    msg = error_of([] { (void)make_vec_env(Device::cpu(), "half-cheetah", 1); });
    EXPECT_NE(msg.find((dir / "half_cheetah.xml").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("could not load"), std::string::npos) << msg;
    // A valid model of something else is not taken for the task.
    std::ofstream(dir / "hopper.xml") << "<mujoco><worldbody><body><freejoint/><geom size='0.1'/></body>"
                                         "</worldbody></mujoco>";
    msg = error_of([] { (void)make_vec_env(Device::cpu(), "hopper", 1); });
    EXPECT_NE(msg.find("not the model of Hopper-v5"), std::string::npos) << msg;
  }
  fs::remove_all(dir);
}

std::vector<uint8_t> tensor(const fs::path& ckpt, const std::string& name) {
  return safetensors::load_safetensors(ckpt.string()).get(name).data;
}

// Training on a MuJoCo task stops and resumes bit for bit: the simulator
// state, the carried quantities and everything else travel in the checkpoint.
TEST(Mujoco, TrainingResumesBitForBit) {
  const std::string small =
      " --env hopper --device cpu --set net.actor_hidden=[16,16] --set net.critic_hidden=[16,16]"
      " --set algo.batch_size=32 --set env.n_envs=4 --set algo.learning_starts=100 --set algo.warmup_steps=100"
      " --set run.eval_every=200 --set run.eval_episodes=1 --set run.log_every=100 --set run.checkpoint_every=200"
      " --set run.threads=1";
  const fs::path a = fs::temp_directory_path() / ("acx_mj_whole_" + std::to_string(::getpid()));
  const fs::path b = fs::temp_directory_path() / ("acx_mj_split_" + std::to_string(::getpid()));
  fs::remove_all(a);
  fs::remove_all(b);
  test::CliRun r = test::run_acx("train" + small + " --set run.total_env_steps=400 --out " + a.string());
  ASSERT_EQ(r.code, 0) << r.err;
  r = test::run_acx("train" + small + " --set run.total_env_steps=200 --out " + b.string());
  ASSERT_EQ(r.code, 0) << r.err;
  r = test::run_acx("train --device cpu --resume " + b.string() + " --set run.total_env_steps=400");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* t : {"actor.params", "critic.params", "env.mujoco_state", "env.mujoco_carry", "env.obs",
                        "replay.obs"}) {
    EXPECT_EQ(tensor(a / "checkpoint.safetensors", t), tensor(b / "checkpoint.safetensors", t)) << t;
  }
  fs::remove_all(a);
  fs::remove_all(b);
}

// The CUDA device path: the step writes pinned host memory and one
// asynchronous copy takes it to the device; the results equal the CPU's.
class MujocoDevice : public ::testing::TestWithParam<Backend> {};

TEST_P(MujocoDevice, PinnedHostPathGivesTheCpuResults) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const Device cpu = Device::cpu();
  const int64_t n = 6;
  auto a = make_vec_env(cpu, "ant", n), b = make_vec_env(dev, "ant", n);
  a->reset(9);
  b->reset(9);
  EXPECT_EQ(bits(a->obs_host()), bits(b->obs_host()));
  for (int t = 0; t < 40; ++t) {
    const auto act = actions_for(a->info(), n, 900 + t);
    step_host(*a, act);
    step_host(*b, act);
    ASSERT_EQ(bits(a->obs_host()), bits(b->obs_host())) << t;
    ASSERT_EQ(bits(a->final_obs_host()), bits(b->final_obs_host())) << t;
    ASSERT_EQ(bits(a->reward_host()), bits(b->reward_host())) << t;
    ASSERT_EQ(a->terminated_host(), b->terminated_host()) << t;
    ASSERT_EQ(a->episode_step_host(), b->episode_step_host()) << t;
  }
  // The checkpoint round trip on the device side too.
  auto c = make_vec_env(dev, "ant", n);
  c->from_host(b->to_host());
  const auto act = actions_for(a->info(), n, 999);
  step_host(*b, act);
  step_host(*c, act);
  EXPECT_EQ(bits(b->obs_host()), bits(c->obs_host()));
}

INSTANTIATE_TEST_SUITE_P(Backends, MujocoDevice, test::all_backends(), test::backend_param_name);

// HalfCheetah's own defaults are the shared MuJoCo ones with Adam at 1e-3
// (docs/results.md, issue 14); the other tasks keep 3e-4, and --set still
// wins over an env's defaults.
TEST(Mujoco, HalfCheetahHasItsOwnLearningRatesOverTheSharedDefaults) {
  const Config cheetah = resolve_train_config("half-cheetah", "", {});
  const Config hopper = resolve_train_config("hopper", "", {});
  EXPECT_EQ(cheetah.get_float("optim.actor_lr"), 1e-3);
  EXPECT_EQ(cheetah.get_float("optim.critic_lr"), 1e-3);
  EXPECT_EQ(hopper.get_float("optim.actor_lr"), 3e-4);
  EXPECT_EQ(hopper.get_float("optim.critic_lr"), 3e-4);
  for (const char* key : {"env.n_envs", "algo.learning_starts", "algo.warmup_steps", "run.total_env_steps"}) {
    EXPECT_EQ(cheetah.get_int(key), hopper.get_int(key)) << key;
  }
  EXPECT_EQ(hopper.get_int("env.n_envs"), 4);
  const Config set = resolve_train_config("half-cheetah", "", {"optim.actor_lr=0.0003"});
  EXPECT_EQ(set.get_float("optim.actor_lr"), 3e-4);
  EXPECT_EQ(set.get_float("optim.critic_lr"), 1e-3);
}

#endif  // ACX_HAS_MUJOCO

}  // namespace
}  // namespace acx
