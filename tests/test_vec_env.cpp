// Vectorized stepping on every backend: reproducibility, bounds, auto-reset
// with the final observation, truncation versus termination, and the CPU
// loop against the CUDA kernel (run for real under the SIMT emulation).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "envs/vec_env.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/launch_config.h"
#include "tests/test_util.h"

namespace acx {
namespace {

// Random actions in 1.5x the action box, so clipping is exercised.
std::vector<float> random_actions(const EnvInfo& info, int64_t n, uint32_t tag) {
  std::vector<float> a(n * info.act_dim);
  PhiloxStream rng(77, RngPurpose::kTest, tag, 0);
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < info.act_dim; ++k) {
      const float mid = 0.5f * (info.action_low[k] + info.action_high[k]);
      const float half = 0.5f * (info.action_high[k] - info.action_low[k]);
      a[i * info.act_dim + k] = mid + 1.5f * half * rng.uniform(-1.0f, 1.0f);
    }
  }
  return a;
}

struct Trace {
  std::vector<float> obs, reward, final_obs, done_return;
  std::vector<uint8_t> terminated, truncated;
};

Trace run(const Device& dev, const std::string& name, int64_t n, uint64_t seed, int steps, int max_steps = 0) {
  auto env = make_vec_env(dev, name, n);
  if (max_steps > 0) env->set_max_steps(max_steps);
  env->reset(seed);
  Buffer<float> act(dev, n * env->info().act_dim);
  Trace tr;
  tr.obs = env->obs_host();
  for (int t = 0; t < steps; ++t) {
    const auto a = random_actions(env->info(), n, static_cast<uint32_t>(t));
    act.copy_from_host(a.data(), a.size());
    env->step(act.data());
    for (auto [dst, src] : {std::pair{&tr.obs, env->obs_host()}, std::pair{&tr.reward, env->reward_host()},
                            std::pair{&tr.final_obs, env->final_obs_host()}}) {
      dst->insert(dst->end(), src.begin(), src.end());
    }
    const auto te = env->terminated_host(), tu = env->truncated_host();
    tr.terminated.insert(tr.terminated.end(), te.begin(), te.end());
    tr.truncated.insert(tr.truncated.end(), tu.begin(), tu.end());
  }
  tr.done_return = env->done_return_host();
  return tr;
}

class VecEnvTest : public ::testing::TestWithParam<Backend> {};

const char* kEnvs[] = {"pendulum", "mountain-car-continuous", "cartpole-swingup", "acrobot-continuous", "lqr"};

TEST_P(VecEnvTest, SameSeedSameRunDifferentSeedDifferentRun) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  for (const char* name : kEnvs) {
    const Trace a = run(dev, name, 37, 1, 5), b = run(dev, name, 37, 1, 5), c = run(dev, name, 37, 2, 5);
    EXPECT_EQ(a.obs, b.obs) << name;
    EXPECT_EQ(a.reward, b.reward) << name;
    EXPECT_NE(a.obs, c.obs) << name;
    ASSERT_GT(test::l2_norm(a.obs), 0.0) << name;
    // Every env starts from its own state.
    const EnvInfo info = find_registered_env(name);
    std::set<std::vector<float>> first;
    for (int64_t i = 0; i < 37; ++i)
      first.insert(std::vector<float>(a.obs.begin() + i * info.obs_dim, a.obs.begin() + (i + 1) * info.obs_dim));
    EXPECT_GT(first.size(), 30u) << name;
  }
}

TEST_P(VecEnvTest, ObservationsStayInBounds) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  for (const char* name : kEnvs) {
    const EnvInfo info = find_registered_env(name);
    const Trace tr = run(dev, name, 64, 3, 60);
    for (size_t j = 0; j < tr.obs.size(); ++j) {
      const int k = static_cast<int>(j % info.obs_dim);
      ASSERT_TRUE(std::isfinite(tr.obs[j])) << name;
      ASSERT_GE(tr.obs[j], info.obs_low[k]) << name << " obs " << k;
      ASSERT_LE(tr.obs[j], info.obs_high[k]) << name << " obs " << k;
    }
    for (float r : tr.reward) ASSERT_TRUE(std::isfinite(r)) << name;
  }
}

TEST_P(VecEnvTest, TruncationAutoResetsAndKeepsTheFinalObservation) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int64_t n = 19;
  const int limit = 4;
  auto env = make_vec_env(dev, "pendulum", n);
  env->set_max_steps(limit);
  env->reset(11);
  const auto start = env->obs_host();
  Buffer<float> act = Buffer<float>::from_host(dev, std::vector<float>(n, 0.5f));
  std::vector<float> ret(n, 0.0f);
  for (int t = 1; t <= 2 * limit; ++t) {
    env->step(act.data());
    const auto obs = env->obs_host(), fin = env->final_obs_host(), rew = env->reward_host();
    const auto term = env->terminated_host(), trunc = env->truncated_host();
    for (int64_t i = 0; i < n; ++i) {
      ret[i] += rew[i];
      ASSERT_EQ(term[i], 0);  // pendulum never terminates
      ASSERT_EQ(trunc[i], t % limit == 0 ? 1 : 0) << "step " << t;
    }
    if (t % limit == 0) {
      // A new episode began: its first obs differs from the one that ended it,
      // which stays in final_obs; the episode's return was recorded.
      EXPECT_NE(obs, fin);
      const auto done = env->done_return_host();
      const auto len = env->done_length_host();
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_NEAR(done[i], ret[i], 1e-4f * (1 + std::fabs(ret[i])));
        EXPECT_EQ(len[i], limit);
      }
      std::fill(ret.begin(), ret.end(), 0.0f);
      if (t == limit) {
        EXPECT_NE(obs, start) << "episode 1 must not replay episode 0's reset";
      }
      for (int32_t s : env->episode_step_host()) EXPECT_EQ(s, 0);
    } else {
      EXPECT_EQ(obs, fin);
    }
  }
}

TEST_P(VecEnvTest, TerminationIsNotTruncation) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  // Mountain car placed just short of the goal with full throttle terminates
  // at once (gymnasium: position >= 0.45 and velocity >= 0), with the +100.
  const int64_t n = 5;
  auto env = make_vec_env(dev, "mountain-car-continuous", n);
  env->reset(0);
  std::vector<float> states;  // rows (position, velocity)
  for (int64_t i = 0; i < n; ++i) states.insert(states.end(), {0.44f, 0.03f});
  states[2 * 4] = -0.5f;  // env 4 is far from the goal
  states[2 * 4 + 1] = 0.0f;
  Buffer<float> s = Buffer<float>::from_host(dev, states);
  env->set_state(s.data());
  Buffer<float> act = Buffer<float>::from_host(dev, std::vector<float>(n, 1.0f));
  env->step(act.data());
  const auto term = env->terminated_host(), trunc = env->truncated_host();
  const auto rew = env->reward_host();
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(term[i], 1) << i;
    EXPECT_EQ(trunc[i], 0) << i;
    EXPECT_NEAR(rew[i], 100.0f - 0.1f, 1e-4f);
  }
  EXPECT_EQ(term[4], 0);
  EXPECT_EQ(trunc[4], 0);
  // The terminal observation is kept; the env itself restarted near the bottom.
  const auto fin = env->final_obs_host(), obs = env->obs_host();
  EXPECT_GE(fin[0], 0.45f);
  EXPECT_LT(obs[0], -0.39f);
  EXPECT_GT(obs[0], -0.61f);
}

TEST_P(VecEnvTest, WithoutAutoResetEnvsKeepStepping) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  auto env = make_vec_env(dev, "pendulum", 3);
  env->set_auto_reset(false);
  env->set_max_steps(2);
  env->reset(5);
  Buffer<float> act = Buffer<float>::from_host(dev, std::vector<float>(3, 0.0f));
  for (int t = 1; t <= 4; ++t) {
    env->step(act.data());
    const auto trunc = env->truncated_host();
    for (uint8_t x : trunc) EXPECT_EQ(x, t >= 2 ? 1 : 0) << t;
    EXPECT_EQ(env->obs_host(), env->final_obs_host());
  }
  for (int32_t s : env->episode_step_host()) EXPECT_EQ(s, 4);
}

TEST_P(VecEnvTest, GridStrideLoopsStepEveryEnv) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  // One block of 256 threads for 700 envs: each thread steps three envs.
  Trace capped, free;
  {
    const ScopedMaxGridBlocks cap(1);
    capped = run(dev, "pendulum", 700, 21, 3, 2);
  }
  free = run(dev, "pendulum", 700, 21, 3, 2);
  EXPECT_EQ(capped.obs, free.obs);
  EXPECT_EQ(capped.truncated, free.truncated);
  ASSERT_GT(test::l2_norm(capped.reward), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Backends, VecEnvTest, test::all_backends(), test::backend_param_name);

TEST(VecEnvCpuVsCuda, KernelMatchesCpuLoop) {
  std::string why = cuda_unusable_reason();
  if (!why.empty()) GTEST_SKIP() << "no usable CUDA device, CPU-vs-CUDA comparison skipped: " << why;
  const Device cpu = Device::cpu(), cuda = Device::create("cuda");
  for (const char* name : kEnvs) {
    const Trace a = run(cpu, name, 300, 9, 30, 13), b = run(cuda, name, 300, 9, 30, 13);
    // Same reset draws, same element math: equal up to the math library's
    // last-ulp differences, which chaotic envs may amplify over 30 steps.
    EXPECT_TRUE(test::all_close(b.obs, a.obs, 1e-3, 1e-3)) << name;
    EXPECT_EQ(a.truncated, b.truncated) << name;
  }
}

TEST(VecEnvRegistry, UnknownEnvAndBadSizesAreUsageErrors) {
  const Device dev = Device::cpu();
  try {
    (void)make_vec_env(dev, "pendulm", 4);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("pendulm"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("pendulum"), std::string::npos) << "should list the known envs";
  }
  EXPECT_THROW((void)make_vec_env(dev, "pendulum", 0), UsageError);
  auto env = make_vec_env(dev, "pendulum", 1);
  EXPECT_THROW(env->set_max_steps(0), UsageError);
}

}  // namespace
}  // namespace acx
