// The custom-env walkthrough (docs/custom_env.md) compiles and works: its
// C++ blocks are extracted by CMake into generated/custom_env_example.cu and
// linked into this binary, which registers "point-mass-example".
#include <gtest/gtest.h>

#include <cmath>

#include "envs/registry.h"
#include "envs/vec_env.h"
#include "kernels/runtime/buffer.h"
#include "tests/test_util.h"

namespace acx {
namespace {

class CustomEnvTest : public ::testing::TestWithParam<Backend> {};

TEST(CustomEnv, DocExampleIsRegisteredWithItsDims) {
  const EnvInfo info = find_registered_env("point-mass-example");
  EXPECT_EQ(info.obs_dim, 4);
  EXPECT_EQ(info.act_dim, 2);
  EXPECT_EQ(info.state_dim, 4);
  EXPECT_EQ(info.max_steps, 100);
  EXPECT_EQ(info.action_low, (std::vector<float>{-1.0f, -1.0f}));
  EXPECT_EQ(find_env("point-mass-example").name, "point-mass-example");  // the registry sees it too
}

TEST_P(CustomEnvTest, DocExampleStepsResetsAndTerminates) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const int64_t n = 33;
  auto env = make_vec_env(dev, "point-mass-example", n);
  env->reset(4);
  const auto obs0 = env->obs_host();
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_LE(std::fabs(obs0[i * 4 + 0]), 1.0f);
    EXPECT_EQ(obs0[i * 4 + 2], 0.0f);  // starts at rest
  }
  ASSERT_GT(test::l2_norm(obs0), 0.0);

  // A push along +x for one step moves x by dt^2 and vx by dt (clipped at 1).
  Buffer<float> act = Buffer<float>::from_host(dev, std::vector<float>(2 * n, 3.0f));
  env->step(act.data());
  const auto obs1 = env->obs_host();
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_NEAR(obs1[i * 4 + 2], 0.1f, 1e-6f);
    EXPECT_NEAR(obs1[i * 4 + 0], obs0[i * 4 + 0] + 0.01f, 1e-6f);
  }

  // Placed at the goal and at rest, it terminates with the bonus.
  Buffer<float> s = Buffer<float>::from_host(dev, std::vector<float>(4 * n, 0.0f));
  env->set_state(s.data());
  Buffer<float> zero = Buffer<float>::from_host(dev, std::vector<float>(2 * n, 0.0f));
  env->step(zero.data());
  for (uint8_t t : env->terminated_host()) EXPECT_EQ(t, 1);
  for (float r : env->reward_host()) EXPECT_NEAR(r, 10.0f, 1e-6f);
}

INSTANTIATE_TEST_SUITE_P(Backends, CustomEnvTest, test::all_backends(), test::backend_param_name);

}  // namespace
}  // namespace acx
