// The arithmetic of data-parallel learners (dist.mode = data,
// host/learn/distributed.h): each rank's critic gradient is the gradient of
// the mean TD loss over its own batch, so the mean of the ranks' gradients
// (the all-reduced sum times 1/P) is the gradient over all their batches
// together. Checked in one process, through the agent's gradient hook,
// against a float64 reference MLP that shares no code with the kernels
// (tests/mlp_reference.h). tests/dist_data.sh checks the MPI side:
// two real ranks stay bit for bit equal.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "envs/vec_env.h"
#include "host/learn/agent.h"
#include "kernels/philox.h"
#include "kernels/runtime/buffer.h"
#include "tests/mlp_reference.h"

namespace acx {
namespace {

std::vector<float> uniform(int64_t n, double lo, double hi, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint64_t s = seed;
  for (float& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<float>(lo + (hi - lo) * static_cast<double>(s >> 11) / 9007199254740992.0);
  }
  return v;
}

TEST(DataParallel, MeanOfTwoRanksCriticGradientsIsTheGradientOverBothBatches) {
  const Device dev = Device::cpu(1);
  const EnvInfo env = find_registered_env("pendulum");
  const int B = 4, od = env.obs_dim, ad = env.act_dim, P = 2;
  AgentConfig cfg;
  cfg.algo = Algo::kDdpg;  // one critic, no target smoothing
  cfg.policy_delay = 1;
  cfg.actor_hidden = {8, 8};
  cfg.critic_hidden = {8, 8};
  cfg.batch = B;
  cfg.seed = 7;

  // Each rank's batch; discount 0 (every row terminal), so the TD target is
  // the reward and the target networks drop out of the critic's loss.
  std::vector<std::vector<float>> obs, act, rew;
  for (int r = 0; r < P; ++r) {
    obs.push_back(uniform(B * od, -1, 1, 11 + r));
    act.push_back(uniform(B * ad, -2, 2, 21 + r));
    rew.push_back(uniform(B, -5, 0, 31 + r));
  }
  const std::vector<float> zeros(B, 0.0f);
  std::vector<std::vector<float>> grads(P);
  std::vector<float> p0;
  for (int r = 0; r < P; ++r) {
    Agent agent(dev, env, cfg);  // the same seed: the same networks on every rank
    for (const StateTensor& t : agent.state()) {
      if (t.name == "critic.params" && r == 0) p0.assign(t.data, t.data + agent.critic().n_params());
    }
    int calls = 0;
    // The critic's gradient comes first in an update; keep it, change nothing.
    agent.set_grad_reduce([&, r](float* g, int64_t n) {
      if (calls++ == 0) grads[r].assign(g, g + n);
    });
    Buffer<float> o = Buffer<float>::from_host(dev, obs[r]), a = Buffer<float>::from_host(dev, act[r]),
                  rw = Buffer<float>::from_host(dev, rew[r]), d = Buffer<float>::from_host(dev, zeros);
    agent.update(TrainBatch{o.data(), a.data(), rw.data(), o.data(), d.data()});
    ASSERT_EQ(calls, 2) << "DDPG: one critic and one actor gradient per update";
    ASSERT_EQ(static_cast<int64_t>(grads[r].size()), agent.critic().n_params());
  }

  // float64: the gradient of (1 / (P B)) sum over both batches of (Q(s, a) - r)^2.
  const test::RefMlp ref(od + ad, {8, 8}, 1, false);
  ASSERT_EQ(ref.n_params(), static_cast<int64_t>(p0.size()));
  const std::vector<double> p(p0.begin(), p0.end());
  std::vector<double> want(p.size(), 0.0);
  for (int r = 0; r < P; ++r) {
    for (int b = 0; b < B; ++b) {
      std::vector<double> x;
      for (int i = 0; i < od; ++i) x.push_back(obs[r][b * od + i]);
      for (int i = 0; i < ad; ++i) x.push_back(act[r][b * ad + i]);
      const double q = ref.forward(p.data(), x.data())[0];
      const double g = 2.0 * (q - rew[r][b]) / (P * B);
      ref.backward(p.data(), x.data(), &g, want.data(), nullptr);
    }
  }
  double norm = 0, worst = 0;
  int64_t worst_i = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double mean = (static_cast<double>(grads[0][i]) + grads[1][i]) / P;
    const double err = std::fabs(mean - want[i]) / (1e-6 + 1e-4 * std::fabs(want[i]));
    if (err > worst) worst = err, worst_i = static_cast<int64_t>(i);
    norm += want[i] * want[i];
  }
  EXPECT_GT(std::sqrt(norm), 1e-3) << "the reference gradient is (nearly) zero: the check would pass on anything";
  EXPECT_LE(worst, 1.0) << "parameter " << worst_i << ": mean of the ranks "
                        << (grads[0][worst_i] + grads[1][worst_i]) / P << ", float64 " << want[worst_i]
                        << " (|a - b| <= 1e-6 + 1e-4 |b| fails)";
  // And the two ranks' own gradients differ: each saw only its batch.
  EXPECT_NE(grads[0], grads[1]);
}

}  // namespace
}  // namespace acx
