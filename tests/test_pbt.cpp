// Population-based training (host/learn/pbt.h): the round's decisions
// (who copies whom, which hyper-parameters, when a member is ready), the
// member copy (every row of every flat buffer of one agent and nothing
// else), the settings' errors, and a run in which a sabotaged member is
// replaced by a good one and then does well. tests/dist_population.sh runs
// the same over two MPI ranks, and tests/test_train.cpp resumes a PBT run
// bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "envs/vec_env.h"
#include "host/learn/agent.h"
#include "host/learn/pbt.h"
#include "host/learn/train_config.h"
#include "kernels/runtime/buffer.h"
#include "tests/test_util.h"

namespace acx {
namespace {

namespace fs = std::filesystem;

PbtConfig simple_config() {
  PbtConfig c;
  c.interval = 100;
  c.ready_steps = 100;
  c.fraction = 0.25;
  c.resample_prob = 0.25;
  c.factors = {0.8, 1.2};
  for (int h = 0; h < kPbtHypers; ++h) {
    c.perturbs[h] = true;
    c.low[h] = 1e-5;
    c.high[h] = 1.0;
  }
  c.seed = 1234;
  return c;
}

std::vector<PbtMember> members(const std::vector<double>& scores) {
  std::vector<PbtMember> m(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    m[i].score = scores[i];
    m[i].hyper.v[0] = 1e-3f * static_cast<float>(i + 1);  // tell the members apart
    m[i].hyper.v[1] = 3e-4f;
    m[i].hyper.v[2] = 0.1f;
  }
  return m;
}

TEST(Pbt, TheBottomQuarterCopiesTheTopQuarterAndPerturbsTheCopiedValues) {
  const PbtConfig cfg = simple_config();
  // 8 members: the bottom 2 are 5 and 2, the top 2 are 7 and 0.
  const std::vector<PbtMember> m = members({50, 10, -300, 20, 30, -400, 0, 60});
  const std::vector<PbtChange> ch = pbt_decide(cfg, m, 200);
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch[0].member, 2);  // in member order
  EXPECT_EQ(ch[1].member, 5);
  bool draws_differ = false;
  for (const PbtChange& c : ch) {
    EXPECT_TRUE(c.source == 7 || c.source == 0) << c.source;
    EXPECT_EQ(c.env_steps, 200);
    EXPECT_EQ(c.round, 2);
    EXPECT_EQ(c.source_score, m[c.source].score);
    EXPECT_EQ(c.member_score, m[c.member].score);
    for (int h = 0; h < kPbtHypers; ++h) {
      EXPECT_EQ(c.before.v[h], m[c.member].hyper.v[h]);
      const double from = m[c.source].hyper.v[h], to = c.after.v[h];
      // Multiplied by 0.8 or 1.2, or resampled within the range.
      const bool scaled = std::abs(to - from * 0.8) <= 1e-6 * from || std::abs(to - from * 1.2) <= 1e-6 * from;
      EXPECT_TRUE(scaled || c.how.find(std::string(pbt_hyper_name(h)) + " resampled") != std::string::npos)
          << c.how << " " << from << " -> " << to;
      EXPECT_GE(to, cfg.low[h]);
      EXPECT_LE(to, cfg.high[h]);
      draws_differ |= to != from;
    }
    EXPECT_NE(c.how.find("actor_lr"), std::string::npos);
  }
  EXPECT_TRUE(draws_differ);
  // Deterministic: the same table gives the same decisions (every rank computes them).
  const std::vector<PbtChange> again = pbt_decide(cfg, m, 200);
  ASSERT_EQ(again.size(), ch.size());
  for (size_t i = 0; i < ch.size(); ++i) {
    EXPECT_EQ(again[i].source, ch[i].source);
    EXPECT_EQ(pbt_csv_row(again[i]), pbt_csv_row(ch[i]));
  }
  // Another round draws anew: over many rounds both top members are chosen,
  // and both factors and resampling all occur.
  std::set<int> sources;
  std::set<std::string> hows;
  for (int64_t step = 100; step <= 4000; step += 100) {
    for (const PbtChange& c : pbt_decide(cfg, m, step)) {
      sources.insert(c.source);
      std::stringstream ss(c.how);
      std::string part;
      while (std::getline(ss, part, ';')) hows.insert(part.substr(part.find(' ') + 1));
    }
  }
  EXPECT_EQ(sources, (std::set<int>{0, 7}));
  EXPECT_EQ(hows, (std::set<std::string>{"x0.8", "x1.2", "resampled"}));
}

TEST(Pbt, OnlyReadyMembersThatScoredLowerAreReplaced) {
  PbtConfig cfg = simple_config();
  cfg.fraction = 0.5;
  std::vector<PbtMember> m = members({1, 2, 3, 4});
  m[0].last_change = 150;  // changed 50 steps ago: not ready at 200 (ready_steps 100)
  std::vector<PbtChange> ch = pbt_decide(cfg, m, 200);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].member, 1);
  EXPECT_TRUE(ch[0].source == 2 || ch[0].source == 3);
  ch = pbt_decide(cfg, m, 300);  // ready again
  EXPECT_EQ(ch.size(), 2u);

  // Equal scores: nobody is better, nothing is copied.
  EXPECT_TRUE(pbt_decide(cfg, members({5, 5, 5, 5}), 200).empty());
  // NaN ranks below every number and is replaced; floor(0.25 x 3) = 0 still
  // means one member at each end.
  cfg.fraction = 0.25;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ch = pbt_decide(cfg, members({-5, nan, -7}), 100);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].member, 1);
  EXPECT_EQ(ch[0].source, 0);
  // Perturbing past a bound stops at the bound.
  cfg.resample_prob = 0;
  cfg.factors = {10.0};
  cfg.high[kPbtActorLr] = 2e-3;
  ch = pbt_decide(cfg, members({3, 1}), 100);
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].after.v[kPbtActorLr], static_cast<float>(2e-3));
  EXPECT_EQ(ch[0].after.v[kPbtExploreSigma], static_cast<float>(1.0));

  // Only the hyper-parameters asked for change.
  cfg = simple_config();
  cfg.perturbs[kPbtExploreSigma] = false;
  ch = pbt_decide(cfg, members({3, 1, 2, 4}), 100);
  ASSERT_FALSE(ch.empty());
  EXPECT_EQ(ch[0].after.v[kPbtExploreSigma], members({3, 1, 2, 4})[ch[0].source].hyper.v[kPbtExploreSigma]);
  EXPECT_EQ(ch[0].how.find("explore_sigma"), std::string::npos);
}

TEST(Pbt, TablesRoundTripThroughBytes) {
  std::vector<PbtMember> m = members({1.5, -std::numeric_limits<double>::infinity(), 7});
  m[2].last_change = 123456789012;
  const std::vector<PbtMember> back = unpack_members(pack_members(m));
  ASSERT_EQ(back.size(), 3u);
  for (size_t i = 0; i < m.size(); ++i) {
    EXPECT_EQ(back[i].score, m[i].score);
    EXPECT_EQ(back[i].last_change, m[i].last_change);
    for (int h = 0; h < kPbtHypers; ++h) EXPECT_EQ(back[i].hyper.v[h], m[i].hyper.v[h]);
  }
}

// A copy carries agent k's rows of every state tensor (the critics' rows
// q K + k too) and leaves every other agent's rows alone.
TEST(Pbt, MemberRowsCopyOneAgentOfEveryStateTensor) {
  const Device dev = Device::cpu(1);
  const EnvInfo env = find_registered_env("pendulum");
  for (Algo algo : {Algo::kTd3, Algo::kSac}) {
    AgentConfig cfg;
    cfg.algo = algo;
    cfg.n_agents = 3;
    cfg.actor_hidden = {8, 8};
    cfg.critic_hidden = {8, 8};
    cfg.seed = 5;
    Agent agent(dev, env, cfg);
    std::vector<std::vector<float>> before;
    for (const StateTensor& t : agent.state()) {
      const int64_t n = t.shape[0] * t.shape[1];
      std::vector<float> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) + 0.25f * static_cast<float>(before.size());
      memory::copy_host_to_device(dev, t.data, v.data(), v.size() * sizeof(float));
      before.push_back(v);
    }
    std::string blob;
    for (const StateTensor& t : agent.state())
      blob += member_rows(dev, t.data, t.shape[0] * t.shape[1] * 4, t.shape[0], 3, 0);
    size_t at = 0;
    for (const StateTensor& t : agent.state()) {
      const size_t n = static_cast<size_t>(t.shape[0] * t.shape[1] * 4 / 3);
      set_member_rows(dev, t.data, t.shape[0] * t.shape[1] * 4, t.shape[0], 3, 2, blob.substr(at, n));
      at += n;
    }
    ASSERT_EQ(at, blob.size());
    size_t i = 0;
    for (const StateTensor& t : agent.state()) {
      const int64_t rows = t.shape[0], cols = t.shape[1];
      std::vector<float> now(static_cast<size_t>(rows * cols));
      memory::copy_device_to_host(dev, now.data(), t.data, now.size() * sizeof(float));
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t from = (r % 3 == 2) ? r - 2 : r;  // agent 2's rows now hold agent 0's
        for (int64_t c = 0; c < cols; ++c)
          ASSERT_EQ(now[r * cols + c], before[i][from * cols + c]) << algo_name(algo) << " " << t.name << " row " << r;
      }
      ++i;
    }
  }
}

TEST(Pbt, SettingsThatCannotWorkAreClearErrors) {
  auto cfg = [](std::initializer_list<std::pair<const char*, ConfigValue>> kv) {
    Config c(train_schema());
    c.set("pbt.enabled", true, "test");
    c.set("pbt.interval", int64_t{4000}, "test");
    for (const auto& [k, v] : kv) c.set(k, v, "test");
    return c;
  };
  EXPECT_NE(usage_error_of([&] { pbt_config(cfg({}), 1); }).find("at least 2 members"), std::string::npos);
  EXPECT_NE(usage_error_of([&] { pbt_config(cfg({{"pbt.interval", int64_t{3000}}}), 4); })
                .find("multiple of run.eval_every = 2000"),
            std::string::npos);
  EXPECT_NE(usage_error_of([&] { pbt_config(cfg({{"dist.mode", std::string("data")}}), 4); }).find("dist.mode = data"),
            std::string::npos);
  EXPECT_NE(usage_error_of([&] { pbt_config(cfg({{"pbt.hyperparams", std::string("actor_lr,gamma")}}), 4); })
                .find("'gamma'"),
            std::string::npos);
  EXPECT_NE(usage_error_of([&] {
              pbt_config(cfg({{"algo.name", std::string("sac")}, {"pbt.hyperparams", std::string("explore_sigma")}}),
                         4);
            }).find("SAC"),
            std::string::npos);
  EXPECT_NE(usage_error_of([&] { pbt_config(cfg({{"pbt.actor_lr_range", std::vector<double>{1e-3, 1e-4}}}), 4); })
                .find("pbt.actor_lr_range"),
            std::string::npos);
  // SAC's auto list leaves the exploration scale out; the default list has all three.
  const PbtConfig sac = pbt_config(cfg({{"algo.name", std::string("sac")}}), 4);
  EXPECT_TRUE(sac.perturbs[kPbtActorLr] && sac.perturbs[kPbtCriticLr] && !sac.perturbs[kPbtExploreSigma]);
  const PbtConfig td3 = pbt_config(cfg({}), 4);
  EXPECT_TRUE(td3.perturbs[kPbtActorLr] && td3.perturbs[kPbtCriticLr] && td3.perturbs[kPbtExploreSigma]);
  EXPECT_EQ(td3.ready_steps, 4000);
}

// pbt.csv's rows: {column: value}.
std::vector<std::map<std::string, std::string>> read_lineage(const fs::path& csv) {
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> cols;
  std::stringstream hs(line);
  for (std::string c; std::getline(hs, c, ',');) cols.push_back(c);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::map<std::string, std::string> row;
    size_t i = 0;
    for (std::string c; std::getline(ss, c, ',') && i < cols.size(); ++i) row[cols[i]] = c;
    rows.push_back(row);
  }
  return rows;
}

// Agent 3 learns nothing (an actor learning rate of 1e-7); at the round at
// 8k steps it is the worst of four, copies a good member, and ends as a
// good member: its final evaluation is near the others', far above an
// untrained actor's (pendulum: about -1200 and below).
TEST(Pbt, ASabotagedMemberIsReplacedAndThenDoesWell) {
#if defined(__SANITIZE_ADDRESS__)
  // 40k env steps of learning: 105 s under ASan, a fifth of that build's
  // test time. It runs in the cpu, cuda and emu builds; the PBT code it
  // drives is sanitized here by the tests above and Train.ResumedPbtRun*.
  GTEST_SKIP() << "a learning test, run in the unsanitized builds";
#endif
  const fs::path out = fs::temp_directory_path() / ("acx_pbt_sabotage_" + std::to_string(::getpid()));
  fs::remove_all(out);
  const test::CliRun r = test::run_acx(
      "train --env pendulum --device cpu --agents 4 --seed 1 --set run.threads=1 --set run.total_env_steps=10000 "
      "--set run.eval_every=2000 --set net.actor_hidden=[64,64] --set net.critic_hidden=[64,64] "
      "--set pbt.enabled=true --set pbt.interval=8000 --set variants.actor_lr=[1e-3,1e-3,1e-3,1e-7] --out " +
      out.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("PBT round 1 at env step 8000: member 3"), std::string::npos) << r.err;
  const auto rows = read_lineage(out / "pbt.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("env_steps"), "8000");
  EXPECT_EQ(rows[0].at("member"), "3");
  EXPECT_NE(rows[0].at("source"), "3");
  EXPECT_GT(std::stod(rows[0].at("source_return")), std::stod(rows[0].at("member_return")) + 500);
  EXPECT_EQ(rows[0].at("actor_lr_before"), "1e-07");
  EXPECT_NE(rows[0].at("state_fnv1a"), "0000000000000000");

  const nlohmann::json s = nlohmann::json::parse(std::ifstream(out / "summary.json"));
  const std::vector<double> final_eval = s["final_eval_per_agent"].get<std::vector<double>>();
  EXPECT_GT(final_eval[3], -600) << s.dump();
  EXPECT_EQ(s["pbt"]["last_change_per_agent"][3], 8000);
  EXPECT_EQ(s["pbt"]["last_change_per_agent"][0], 0);
  EXPECT_GT(s["pbt"]["hyper_per_agent"]["actor_lr"][3].get<double>(), 1e-5);  // the copied rate, perturbed
  fs::remove_all(out);
}

}  // namespace
}  // namespace acx
