// The replay buffer on every backend against a plain list-of-transitions
// model written here: every sampled window is recomputed in float64 from the
// global time step its index stands for.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kernels/replay.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/launch_config.h"
#include "tests/test_util.h"

namespace acx {
namespace {

class ReplayTest : public ::testing::TestWithParam<Backend> {};

// ---- the reference: every step ever stored, in time order --------------------------
struct Step {
  std::vector<float> obs, action, reward, next_obs;  // (n, obs_dim), (n, act_dim), (n), (n, obs_dim)
  std::vector<uint8_t> terminated, truncated;        // (n)
};

struct Script {
  int64_t n_envs;
  int obs_dim, act_dim;
  std::vector<Step> steps;

  // Step t: fresh random rows, and episode ends at scripted places (some envs
  // terminate, some truncate, now and then both: termination wins).
  void add_step() {
    const int64_t t = static_cast<int64_t>(steps.size());
    const uint32_t tag = 1000 + static_cast<uint32_t>(t) * 4;
    Step s;
    s.obs = test::random_floats(n_envs * obs_dim, tag, -3.0f, 3.0f);
    s.action = test::random_floats(n_envs * act_dim, tag + 1);
    s.reward = test::random_floats(n_envs, tag + 2);
    s.next_obs = test::random_floats(n_envs * obs_dim, tag + 3, -3.0f, 3.0f);
    for (int64_t i = 0; i < n_envs; ++i) {
      s.terminated.push_back((t * 7 + i * 3) % 11 == 0 ? 1 : 0);
      s.truncated.push_back((t + 2 * i) % 9 == 0 ? 1 : 0);
    }
    steps.push_back(std::move(s));
  }
};

struct Expected {
  double reward, discount;
  std::vector<float> obs, action, next_obs;
  int end_kind;  // 0: n steps, 1: terminated, 2: truncated, 3: end of data
};

// The window of env i from global step t, with data up to step T - 1.
Expected reference_window(const Script& s, int64_t t, int64_t i, int n_step, double gamma) {
  const int64_t T = static_cast<int64_t>(s.steps.size());
  const int od = s.obs_dim, ad = s.act_dim;
  Expected e;
  e.obs.assign(s.steps[t].obs.begin() + i * od, s.steps[t].obs.begin() + (i + 1) * od);
  e.action.assign(s.steps[t].action.begin() + i * ad, s.steps[t].action.begin() + (i + 1) * ad);
  e.reward = 0;
  double g = 1;
  int64_t last = t;
  e.end_kind = 0;
  for (int j = 0; j < n_step; ++j) {
    const Step& st = s.steps[t + j];
    last = t + j;
    e.reward += std::pow(gamma, j) * st.reward[i];
    g = std::pow(gamma, j + 1);
    if (st.terminated[i]) {
      e.end_kind = 1;
      break;
    }
    if (st.truncated[i]) {
      e.end_kind = 2;
      break;
    }
    if (t + j + 1 == T) {
      e.end_kind = 3;
      break;
    }
  }
  e.discount = e.end_kind == 1 ? 0.0 : g;
  e.next_obs.assign(s.steps[last].next_obs.begin() + i * od, s.steps[last].next_obs.begin() + (i + 1) * od);
  return e;
}

// The global step stored in row `slot` when the buffer holds the last
// `size_steps` of T steps in a ring of `cap` rows.
int64_t step_of_slot(int64_t slot, int64_t T, int64_t size_steps, int64_t cap) {
  for (int64_t t = T - size_steps; t < T; ++t)
    if (t % cap == slot) return t;
  return -1;
}

// Uploads step s and stores it.
void store_step(const Device& dev, ReplayBuffer& rb, const Step& s) {
  Buffer<float> obs = Buffer<float>::from_host(dev, s.obs), act = Buffer<float>::from_host(dev, s.action),
                rew = Buffer<float>::from_host(dev, s.reward), nobs = Buffer<float>::from_host(dev, s.next_obs);
  Buffer<uint8_t> term = Buffer<uint8_t>::from_host(dev, s.terminated),
                  trunc = Buffer<uint8_t>::from_host(dev, s.truncated);
  rb.store(obs.data(), act.data(), rew.data(), nobs.data(), term.data(), trunc.data());
  dev.synchronize();  // the uploads are released on return
}

struct HostBatch {
  std::vector<float> obs, action, reward, next_obs, discount;
  std::vector<int64_t> index;
};

HostBatch sample_host(const ReplayBuffer& rb, int batch, uint64_t seed, uint64_t counter) {
  ReplayBatch b = rb.make_batch(batch, /*with_index=*/true);
  rb.sample(batch, seed, counter, b);
  return HostBatch{b.obs.to_host(), b.action.to_host(), b.reward.to_host(), b.next_obs.to_host(), b.discount.to_host(),
                   b.index.to_host()};
}

// Checks every sample of a batch against the reference; counts how windows ended.
void check_batch(const Script& s, const ReplayBuffer& rb, const HostBatch& b, int n_step, double gamma,
                 std::map<int, int>* end_kinds) {
  const int64_t T = static_cast<int64_t>(s.steps.size()), n = s.n_envs;
  const int od = s.obs_dim, ad = s.act_dim;
  const size_t batch = b.reward.size();
  for (size_t k = 0; k < batch; ++k) {
    const int64_t idx = b.index[k];
    ASSERT_GE(idx, 0);
    ASSERT_LT(idx, rb.capacity());
    const int64_t slot = idx / n, env = idx % n;
    const int64_t t = step_of_slot(slot, T, rb.size_steps(), rb.capacity_steps());
    ASSERT_GE(t, 0) << "sample " << k << " reads row " << slot << ", which holds no stored step";
    const Expected e = reference_window(s, t, env, n_step, gamma);
    (*end_kinds)[e.end_kind]++;
    const std::string where = "sample " + std::to_string(k) + " (step " + std::to_string(t) + ", env " +
                              std::to_string(env) + ", n " + std::to_string(n_step) + ")";
    EXPECT_NEAR(b.reward[k], e.reward, 1e-6 + 1e-6 * std::fabs(e.reward)) << where;
    EXPECT_NEAR(b.discount[k], e.discount, 1e-6) << where;
    for (int d = 0; d < od; ++d) {
      ASSERT_EQ(b.obs[k * od + d], e.obs[d]) << where;
      ASSERT_EQ(b.next_obs[k * od + d], e.next_obs[d]) << where;
    }
    for (int d = 0; d < ad; ++d) ASSERT_EQ(b.action[k * ad + d], e.action[d]) << where;
  }
}

TEST_P(ReplayTest, NStepWindowsMatchTheReferenceThroughTheRingWrap) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  for (int n_step : {1, 3}) {
    const double gamma = 0.9;
    ReplayConfig cfg;
    cfg.capacity = 62;  // 13 rows of 5 envs: rounded up
    cfg.n_envs = 5;
    cfg.obs_dim = 3;
    cfg.act_dim = 2;
    cfg.n_step = n_step;
    cfg.gamma = static_cast<float>(gamma);
    ReplayBuffer rb(dev, cfg);
    ASSERT_EQ(rb.capacity_steps(), 13);
    ASSERT_EQ(rb.capacity(), 65);
    Script s{cfg.n_envs, cfg.obs_dim, cfg.act_dim, {}};
    std::map<int, int> end_kinds;
    for (int t = 1; t <= 41; ++t) {
      s.add_step();
      store_step(dev, rb, s.steps.back());
      EXPECT_EQ(rb.size_steps(), std::min<int64_t>(t, 13));
      EXPECT_EQ(rb.head(), t % 13);
      const RingPosition ring = rb.device_ring();  // advanced by the device's own kernel
      EXPECT_EQ(ring.head, rb.head());
      EXPECT_EQ(ring.size, rb.size_steps());
      if (t == 1 || t == 4 || t == 13 || t == 14 || t % 5 == 0) {
        const int batch = static_cast<int>(std::min<int64_t>(rb.size(), 40));
        const HostBatch b = sample_host(rb, batch, 17, static_cast<uint64_t>(t));
        check_batch(s, rb, b, n_step, gamma, &end_kinds);
        if (HasFatalFailure()) return;
        ASSERT_GT(test::l2_norm(b.obs), 0.0);
      }
    }
    // Every way a window can end was exercised.
    EXPECT_GT(end_kinds[1], 0) << "no window ended in a termination";
    EXPECT_GT(end_kinds[2], 0) << "no window ended in a truncation";
    EXPECT_GT(end_kinds[3], 0) << "no window ended at the newest row";
    if (n_step > 1) {
      EXPECT_GT(end_kinds[0], 0) << "no full n-step window";
    }
  }
}

// One env, hand-computed windows: truncation bootstraps from the final
// observation of the cut episode, termination does not bootstrap.
TEST_P(ReplayTest, TruncationBootstrapsTerminationDoesNot) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  ReplayConfig cfg;
  cfg.capacity = 8;
  cfg.n_envs = 1;
  cfg.obs_dim = 1;
  cfg.act_dim = 1;
  cfg.n_step = 3;
  cfg.gamma = 0.5f;
  ReplayBuffer rb(dev, cfg);
  // step 0: r 1, truncated, final obs 7 (the env then reset to obs 10)
  // step 1: r 2, from obs 10
  // step 2: r 4, terminated, final obs 9
  // step 3: r 8, from obs 30, next obs 31, newest row
  const Step steps[4] = {
      {{0}, {0.5f}, {1}, {7}, {0}, {1}},
      {{10}, {0.6f}, {2}, {11}, {0}, {0}},
      {{11}, {0.7f}, {4}, {9}, {1}, {0}},
      {{30}, {0.8f}, {8}, {31}, {0}, {0}},
  };
  for (const Step& st : steps) store_step(dev, rb, st);
  struct Want {
    float obs, action, reward, next_obs, discount;
  };
  const Want want[4] = {
      {0, 0.5f, 1.0f, 7, 0.5f},            // cut by truncation: bootstrap from 7 with gamma^1
      {10, 0.6f, 2.0f + 0.5f * 4, 9, 0},   // ends in termination: no bootstrap
      {11, 0.7f, 4.0f, 9, 0},
      {30, 0.8f, 8.0f, 31, 0.5f},          // end of data: a 1-step window
  };
  std::set<int64_t> seen;
  for (uint64_t counter = 0; counter < 64 && seen.size() < 4; ++counter) {
    const HostBatch b = sample_host(rb, 4, 3, counter);
    for (size_t k = 0; k < 4; ++k) {
      const int64_t slot = b.index[k];
      ASSERT_TRUE(slot >= 0 && slot < 4) << slot;
      seen.insert(slot);
      const Want& w = want[slot];
      EXPECT_EQ(b.obs[k], w.obs) << "slot " << slot;
      EXPECT_EQ(b.action[k], w.action) << "slot " << slot;
      EXPECT_FLOAT_EQ(b.reward[k], w.reward) << "slot " << slot;
      EXPECT_EQ(b.next_obs[k], w.next_obs) << "slot " << slot;
      EXPECT_FLOAT_EQ(b.discount[k], w.discount) << "slot " << slot;
    }
  }
  EXPECT_EQ(seen.size(), 4u);
}

// Counts over many batches: uniform over the stored (row, env) pairs, never
// an unwritten or overwritten row; the grid cap makes the sampler's
// grid-stride loop run.
TEST_P(ReplayTest, SamplingIsUniformOverStoredPairs) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const ScopedMaxGridBlocks grid_cap(1);
  ReplayConfig cfg;
  cfg.capacity = 400;  // 100 rows of 4 envs
  cfg.n_envs = 4;
  cfg.obs_dim = 2;
  cfg.act_dim = 1;
  Script s{cfg.n_envs, cfg.obs_dim, cfg.act_dim, {}};
  {
    // Partly filled: only the 3 rows written are drawn.
    ReplayBuffer rb(dev, cfg);
    for (int t = 0; t < 3; ++t) {
      s.add_step();
      store_step(dev, rb, s.steps.back());
    }
    for (uint64_t c = 0; c < 5; ++c)
      for (int64_t idx : sample_host(rb, 12, 5, c).index) ASSERT_TRUE(idx >= 0 && idx < 12) << idx;
  }
  ReplayBuffer rb(dev, cfg);
  for (int t = 0; t < 130; ++t) {  // wrapped: every row written, head 30
    if (t >= 3) s.add_step();
    store_step(dev, rb, s.steps[t]);
  }
  ASSERT_EQ(rb.size(), 400);
  const int batch = 300;  // > one block of 256: the grid-stride loop runs
  const int n_batches = 40;
  std::vector<int> counts(400, 0);
  for (int c = 0; c < n_batches; ++c)
    for (int64_t idx : sample_host(rb, batch, 11, static_cast<uint64_t>(c)).index) {
      ASSERT_TRUE(idx >= 0 && idx < 400) << idx;
      counts[idx]++;
    }
  const double expected = static_cast<double>(batch) * n_batches / 400.0;
  double chi2 = 0;
  for (int c : counts) chi2 += (c - expected) * (c - expected) / expected;
  // 399 degrees of freedom: mean 399, sd 28; the bounds are six sd away.
  EXPECT_LT(chi2, 570.0) << "counts far from uniform";
  EXPECT_GT(chi2, 230.0) << "counts suspiciously even";
}

// The draw is a function of (seed, counter) only: repeatable, different
// for another counter or seed, and the same on the CPU.
TEST_P(ReplayTest, SamplesAreKeyedBySeedAndCounterAndMatchTheCpu) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const Device cpu = Device::cpu();
  ReplayConfig cfg;
  cfg.capacity = 70;
  cfg.n_envs = 7;
  cfg.obs_dim = 3;
  cfg.act_dim = 2;
  cfg.n_step = 3;
  cfg.gamma = 0.97f;
  ReplayBuffer rb(dev, cfg), rb_cpu(cpu, cfg);
  Script s{cfg.n_envs, cfg.obs_dim, cfg.act_dim, {}};
  for (int t = 0; t < 15; ++t) {
    s.add_step();
    store_step(dev, rb, s.steps.back());
    store_step(cpu, rb_cpu, s.steps.back());
  }
  const HostBatch a = sample_host(rb, 64, 42, 1000);
  const HostBatch again = sample_host(rb, 64, 42, 1000);
  const HostBatch next = sample_host(rb, 64, 42, 1001);
  const HostBatch other_seed = sample_host(rb, 64, 43, 1000);
  const HostBatch on_cpu = sample_host(rb_cpu, 64, 42, 1000);
  EXPECT_EQ(a.index, again.index);
  EXPECT_EQ(a.reward, again.reward);
  EXPECT_NE(a.index, next.index);
  EXPECT_NE(a.index, other_seed.index);
  EXPECT_EQ(a.index, on_cpu.index) << "the backends drew different pairs";
  EXPECT_TRUE(test::all_close(a.reward, on_cpu.reward, 1e-6, 1e-6));
  EXPECT_TRUE(test::all_close(a.discount, on_cpu.discount, 1e-7, 1e-6));
  EXPECT_EQ(a.obs, on_cpu.obs);
  EXPECT_EQ(a.next_obs, on_cpu.next_obs);
  EXPECT_EQ(a.action, on_cpu.action);
  // A smaller batch is a prefix of a larger one: sample b's draw depends on b only.
  const HostBatch small = sample_host(rb, 10, 42, 1000);
  EXPECT_TRUE(std::equal(small.index.begin(), small.index.end(), a.index.begin()));
  // A batch without the index output gives the same samples.
  ReplayBatch plain(dev, 64, cfg.obs_dim, cfg.act_dim);
  rb.sample(64, 42, 1000, plain);
  EXPECT_EQ(plain.reward.to_host(), a.reward);
  EXPECT_EQ(plain.obs.to_host(), a.obs);
}

// Independent agents: member m's rows of the batch come from its own envs
// only, and are the same windows the reference computes.
TEST_P(ReplayTest, MembersSampleOnlyTheirOwnEnvs) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  ReplayConfig cfg;
  cfg.capacity = 60;  // 10 rows of 6 envs
  cfg.n_envs = 6;
  cfg.obs_dim = 2;
  cfg.act_dim = 1;
  cfg.n_step = 3;
  cfg.gamma = 0.8f;
  cfg.n_members = 3;
  ReplayBuffer rb(dev, cfg);
  Script s{cfg.n_envs, cfg.obs_dim, cfg.act_dim, {}};
  for (int t = 0; t < 14; ++t) {
    s.add_step();
    store_step(dev, rb, s.steps.back());
  }
  const int batch = 20;
  std::set<int64_t> envs_seen[3];
  std::map<int, int> end_kinds;
  for (uint64_t c = 0; c < 4; ++c) {
    const HostBatch b = sample_host(rb, batch, 8, c);
    ASSERT_EQ(b.reward.size(), 3u * batch);
    check_batch(s, rb, b, cfg.n_step, cfg.gamma, &end_kinds);
    for (int m = 0; m < 3; ++m)
      for (int k = 0; k < batch; ++k) {
        const int64_t env = b.index[m * batch + k] % cfg.n_envs;
        ASSERT_TRUE(env == 2 * m || env == 2 * m + 1) << "member " << m << " drew env " << env;
        envs_seen[m].insert(env);
      }
  }
  for (int m = 0; m < 3; ++m) EXPECT_EQ(envs_seen[m].size(), 2u) << m;
  ReplayBatch out = rb.make_batch(21);
  try {
    rb.sample(21, 0, 0, out);
    ADD_FAILURE() << "a batch larger than a member's share was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("20 transitions stored per member"), std::string::npos) << e.what();
  }
  ReplayConfig bad = cfg;
  bad.n_envs = 7;
  bad.capacity = 70;
  EXPECT_THROW(ReplayBuffer(dev, bad), UsageError);
}

// A store writes row head of each array in the documented layout; many envs
// and a grid cap of one block make the store's grid-stride loop run.
TEST_P(ReplayTest, StoreWritesTheDocumentedLayout) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  const ScopedMaxGridBlocks grid_cap(1);
  ReplayConfig cfg;
  cfg.capacity = 3 * 101;
  cfg.n_envs = 101;
  cfg.obs_dim = 3;
  cfg.act_dim = 2;
  ReplayBuffer rb(dev, cfg);
  Script s{cfg.n_envs, cfg.obs_dim, cfg.act_dim, {}};
  for (int t = 0; t < 4; ++t) {  // the 4th store overwrites row 0
    s.add_step();
    store_step(dev, rb, s.steps.back());
  }
  const int64_t n = cfg.n_envs, od = cfg.obs_dim, ad = cfg.act_dim, rows = 3 * n;
  auto host = [&](const float* p, int64_t count) {
    std::vector<float> v(count);
    memory::copy_device_to_host(dev, v.data(), p, count * sizeof(float));
    return v;
  };
  auto host_u8 = [&](const uint8_t* p) {
    std::vector<uint8_t> v(rows);
    memory::copy_device_to_host(dev, v.data(), p, rows);
    return v;
  };
  const auto obs = host(rb.obs_data(), rows * od), act = host(rb.action_data(), rows * ad),
             rew = host(rb.reward_data(), rows), nobs = host(rb.next_obs_data(), rows * od);
  const auto term = host_u8(rb.terminated_data()), trunc = host_u8(rb.truncated_data());
  const int64_t step_in_row[3] = {3, 1, 2};
  for (int64_t r = 0; r < 3; ++r) {
    const Step& st = s.steps[step_in_row[r]];
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t d = 0; d < od; ++d) {
        ASSERT_EQ(obs[(r * n + i) * od + d], st.obs[i * od + d]) << r << " " << i;
        ASSERT_EQ(nobs[(r * n + i) * od + d], st.next_obs[i * od + d]) << r << " " << i;
      }
      for (int64_t d = 0; d < ad; ++d) ASSERT_EQ(act[(r * n + i) * ad + d], st.action[i * ad + d]);
      ASSERT_EQ(rew[r * n + i], st.reward[i]);
      ASSERT_EQ(term[r * n + i], st.terminated[i]);
      ASSERT_EQ(trunc[r * n + i], st.truncated[i]);
    }
  }
  EXPECT_EQ(rb.bytes(), static_cast<size_t>(rows) * ((2 * od + ad + 1) * sizeof(float) + 2));
}

TEST_P(ReplayTest, SaveAndLoadRoundTrip) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  ReplayConfig cfg;
  cfg.capacity = 30;
  cfg.n_envs = 3;
  cfg.obs_dim = 2;
  cfg.act_dim = 2;
  cfg.n_step = 3;
  ReplayBuffer rb(dev, cfg);
  Script s{cfg.n_envs, cfg.obs_dim, cfg.act_dim, {}};
  for (int t = 0; t < 14; ++t) {  // wrapped: head 4
    s.add_step();
    store_step(dev, rb, s.steps.back());
  }
  const auto saved = rb.to_host();
  ASSERT_EQ(saved.size(), 7u);
  for (const HostArray& h : saved) {
    int64_t elems = 1;
    for (int64_t d : h.shape) elems *= d;
    const size_t elem_bytes = h.dtype == "F32" ? 4 : h.dtype == "I64" ? 8 : 1;
    EXPECT_EQ(h.bytes.size(), static_cast<size_t>(elems) * elem_bytes) << h.name;
  }
  ReplayBuffer restored(dev, cfg);
  restored.from_host(saved);
  EXPECT_EQ(restored.head(), rb.head());
  EXPECT_EQ(restored.size(), rb.size());
  // The same draws now and after the same further steps.
  for (int round = 0; round < 2; ++round) {
    const HostBatch a = sample_host(rb, 25, 9, 77 + round), b = sample_host(restored, 25, 9, 77 + round);
    EXPECT_EQ(a.index, b.index);
    EXPECT_EQ(a.reward, b.reward);
    EXPECT_EQ(a.discount, b.discount);
    EXPECT_EQ(a.obs, b.obs);
    EXPECT_EQ(a.next_obs, b.next_obs);
    for (int t = 0; t < 4; ++t) {
      s.add_step();
      store_step(dev, rb, s.steps.back());
      store_step(dev, restored, s.steps.back());
    }
  }
  const auto resaved = restored.to_host();
  for (size_t k = 0; k < resaved.size(); ++k) EXPECT_EQ(resaved[k].bytes, rb.to_host()[k].bytes) << resaved[k].name;

  // A checkpoint of another shape, a missing array, a truncated array, corrupt counters.
  ReplayConfig other = cfg;
  other.n_envs = 5;
  ReplayBuffer wrong_shape(dev, other);
  EXPECT_THROW(wrong_shape.from_host(saved), Error);
  auto missing = saved;
  missing.erase(missing.begin() + 3);  // next_obs
  try {
    restored.from_host(missing);
    ADD_FAILURE() << "a checkpoint without next_obs was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("next_obs"), std::string::npos) << e.what();
  }
  auto short_reward = saved;
  short_reward[2].bytes.pop_back();
  EXPECT_THROW(restored.from_host(short_reward), Error);
  auto bad_ring = saved;
  bad_ring[6].bytes[4 * 8] = 99;  // head 99 of 10 rows
  EXPECT_THROW(restored.from_host(bad_ring), Error);
  // A failed load leaves the buffer as it was.
  EXPECT_EQ(restored.head(), rb.head());
}

TEST_P(ReplayTest, BadInputsAreClearErrors) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  ReplayConfig cfg;
  cfg.capacity = 10;
  cfg.n_envs = 4;
  cfg.obs_dim = 2;
  cfg.act_dim = 1;
  {
    ReplayConfig c = cfg;
    c.capacity = 3;
    try {
      ReplayBuffer rb(dev, c);
      ADD_FAILURE() << "capacity < n_envs was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("capacity 3"), std::string::npos) << e.what();
    }
  }
  {
    ReplayConfig c = cfg;
    c.n_step = 0;
    EXPECT_THROW(ReplayBuffer(dev, c), UsageError);
    c = cfg;
    c.gamma = 1.5f;
    EXPECT_THROW(ReplayBuffer(dev, c), UsageError);
    c = cfg;
    c.obs_dim = 0;
    EXPECT_THROW(ReplayBuffer(dev, c), UsageError);
  }
  ReplayBuffer rb(dev, cfg);
  EXPECT_EQ(rb.capacity(), 12);
  ReplayBatch out(dev, 8, cfg.obs_dim, cfg.act_dim);
  EXPECT_THROW(rb.sample(1, 0, 0, out), Error);  // empty
  Script s{cfg.n_envs, cfg.obs_dim, cfg.act_dim, {}};
  s.add_step();
  store_step(dev, rb, s.steps.back());
  try {
    rb.sample(5, 0, 0, out);
    ADD_FAILURE() << "a batch larger than the buffer was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch 5 is larger than the 4 transitions"), std::string::npos) << e.what();
  }
  EXPECT_THROW(rb.sample(0, 0, 0, out), Error);
  s.add_step();
  store_step(dev, rb, s.steps.back());
  EXPECT_NO_THROW(rb.sample(8, 0, 0, out));  // 8 of 8 stored
  ReplayBatch small(dev, 2, cfg.obs_dim, cfg.act_dim);
  EXPECT_THROW(rb.sample(4, 0, 0, small), Error);  // the output holds 2
}

INSTANTIATE_TEST_SUITE_P(Backends, ReplayTest, test::all_backends(), test::backend_param_name);

}  // namespace
}  // namespace acx
