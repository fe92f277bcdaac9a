#include "host/learn/pbt.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "host/learn/train_config.h"
#include "kernels/philox.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/error.h"

namespace acx {

namespace {

constexpr const char* kHyperNames[kPbtHypers] = {"actor_lr", "critic_lr", "explore_sigma"};
constexpr const char* kRangeKeys[kPbtHypers] = {"pbt.actor_lr_range", "pbt.critic_lr_range", "pbt.explore_sigma_range"};

// a ranks above b: a higher score; NaN below every number; ties by index.
bool ranks_above(const std::vector<PbtMember>& m, int a, int b) {
  const double x = m[a].score, y = m[b].score;
  if (std::isnan(x) != std::isnan(y)) return std::isnan(y);
  if (!std::isnan(x) && x != y) return x > y;
  return a < b;
}

bool scored_higher(double a, double b) { return !std::isnan(a) && (std::isnan(b) || a > b); }

std::string fmt_float(double v) { return std::isnan(v) ? std::string("nan") : fmt::format("{}", v); }

}  // namespace

const char* pbt_hyper_name(int h) {
  ACX_CHECK(h >= 0 && h < kPbtHypers, "PBT hyper-parameter index out of range");
  return kHyperNames[h];
}

PbtConfig pbt_config(const Config& cfg, int members) {
  PbtConfig p;
  ACX_USAGE_CHECK(members >= 2, fmt::format("pbt.enabled needs a population of at least 2 members, and run.agents is "
                                            "{}: give --agents 4 (or more)",
                                            members));
  ACX_USAGE_CHECK(cfg.get_string("dist.mode") != "data",
                  "pbt.enabled with dist.mode = data: data-parallel learners train one population on every rank; "
                  "PBT runs in one process or with dist.mode = population");
  p.interval = cfg.get_int("pbt.interval");
  const int64_t eval_every = cfg.get_int("run.eval_every");
  ACX_USAGE_CHECK(eval_every > 0 && p.interval % eval_every == 0,
                  fmt::format("pbt.interval = {} must be a multiple of run.eval_every = {} (each round ranks the "
                              "members by the evaluation at its step)",
                              p.interval, eval_every));
  p.ready_steps = cfg.get_int("pbt.ready_steps") > 0 ? cfg.get_int("pbt.ready_steps") : p.interval;
  p.fraction = cfg.get_float("pbt.fraction");
  p.resample_prob = cfg.get_float("pbt.resample_prob");
  p.factors = cfg.get_float_list("pbt.perturb");
  ACX_USAGE_CHECK(!p.factors.empty(), "pbt.perturb is empty: give the factors to multiply by, e.g. [0.8, 1.2]");
  const bool sac = parse_algo(cfg.get_string("algo.name")) == Algo::kSac;
  const std::string list = cfg.get_string("pbt.hyperparams");
  if (list == "auto") {
    p.perturbs[kPbtActorLr] = p.perturbs[kPbtCriticLr] = true;
    p.perturbs[kPbtExploreSigma] = !sac;
  } else {
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      const auto* it = std::find_if(std::begin(kHyperNames), std::end(kHyperNames),
                                    [&](const char* n) { return item == n; });
      ACX_USAGE_CHECK(it != std::end(kHyperNames),
                      fmt::format("pbt.hyperparams: '{}' is not one PBT can change; choose from actor_lr, "
                                  "critic_lr, explore_sigma (comma-separated), or auto",
                                  item));
      p.perturbs[it - std::begin(kHyperNames)] = true;
    }
    ACX_USAGE_CHECK(p.perturbs[0] || p.perturbs[1] || p.perturbs[2],
                    "pbt.hyperparams is empty: name at least one of actor_lr, critic_lr, explore_sigma, or auto");
    ACX_USAGE_CHECK(!(sac && p.perturbs[kPbtExploreSigma]),
                    "pbt.hyperparams has explore_sigma, which SAC does not use (it explores by sampling its policy)");
  }
  for (int h = 0; h < kPbtHypers; ++h) {
    const std::vector<double>& r = cfg.get_float_list(kRangeKeys[h]);
    ACX_USAGE_CHECK(r.size() == 2 && r[0] <= r[1],
                    fmt::format("{} must be [low, high] with low <= high", kRangeKeys[h]));
    p.low[h] = r[0];
    p.high[h] = r[1];
  }
  p.seed = mix_seed(static_cast<uint64_t>(cfg.get_int("run.seed")), kSaltPbt);
  return p;
}

std::vector<PbtChange> pbt_decide(const PbtConfig& cfg, const std::vector<PbtMember>& m, int64_t env_steps) {
  const int M = static_cast<int>(m.size());
  ACX_CHECK(M >= 2 && cfg.interval > 0, "a PBT round needs two members and an interval");
  std::vector<int> order(M);
  for (int i = 0; i < M; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](int a, int b) { return ranks_above(m, a, b); });
  const int n = std::max(1, static_cast<int>(std::floor(cfg.fraction * M + 1e-9)));
  const std::vector<int> top(order.begin(), order.begin() + n);
  std::vector<int> bottom(order.end() - n, order.end());
  std::sort(bottom.begin(), bottom.end());  // decided in member order
  const int64_t round = env_steps / cfg.interval;
  std::vector<PbtChange> out;
  for (int dst : bottom) {
    if (env_steps - m[dst].last_change < cfg.ready_steps) continue;
    // Every draw of this member in this round: one stream, counter = round.
    PhiloxStream rng(cfg.seed, RngPurpose::kPbt, static_cast<uint32_t>(dst), static_cast<uint64_t>(round));
    const int src = top[rng.next_u32() % static_cast<uint32_t>(n)];
    if (!scored_higher(m[src].score, m[dst].score)) continue;
    PbtChange c;
    c.env_steps = env_steps;
    c.round = round;
    c.member = dst;
    c.source = src;
    c.member_score = m[dst].score;
    c.source_score = m[src].score;
    c.before = m[dst].hyper;
    c.after = m[src].hyper;
    for (int h = 0; h < kPbtHypers; ++h) {
      if (!cfg.perturbs[h]) continue;
      const double u = rng.uniform();
      double v = 0;
      std::string how;
      if (u < cfg.resample_prob) {
        const double a = std::log(cfg.low[h]), b = std::log(cfg.high[h]);
        v = std::exp(a + (b - a) * static_cast<double>(rng.uniform()));
        how = "resampled";
      } else {
        const double f = cfg.factors[rng.next_u32() % static_cast<uint32_t>(cfg.factors.size())];
        v = static_cast<double>(c.after.v[h]) * f;
        how = fmt::format("x{}", f);
      }
      v = std::min(std::max(v, cfg.low[h]), cfg.high[h]);
      c.after.v[h] = static_cast<float>(v);
      if (!c.how.empty()) c.how += ';';
      c.how.append(kHyperNames[h]).append(" ").append(how);
    }
    out.push_back(c);
  }
  return out;
}

std::string pack_members(const std::vector<PbtMember>& members) {
  constexpr size_t row = sizeof(double) + sizeof(int64_t) + kPbtHypers * sizeof(float);
  std::string out(members.size() * row, '\0');
  char* p = out.data();
  for (const PbtMember& m : members) {
    std::memcpy(p, &m.score, sizeof(double));
    std::memcpy(p + sizeof(double), &m.last_change, sizeof(int64_t));
    std::memcpy(p + sizeof(double) + sizeof(int64_t), m.hyper.v, kPbtHypers * sizeof(float));
    p += row;
  }
  return out;
}

std::vector<PbtMember> unpack_members(const std::string& bytes) {
  constexpr size_t row = sizeof(double) + sizeof(int64_t) + kPbtHypers * sizeof(float);
  ACX_CHECK(bytes.size() % row == 0, "a PBT table of a rank has a partial row");
  std::vector<PbtMember> out(bytes.size() / row);
  const char* p = bytes.data();
  for (PbtMember& m : out) {
    std::memcpy(&m.score, p, sizeof(double));
    std::memcpy(&m.last_change, p + sizeof(double), sizeof(int64_t));
    std::memcpy(m.hyper.v, p + sizeof(double) + sizeof(int64_t), kPbtHypers * sizeof(float));
    p += row;
  }
  return out;
}

std::string pbt_csv_header() {
  return "env_steps,round,member,source,member_return,source_return,actor_lr_before,critic_lr_before,"
         "explore_sigma_before,actor_lr,critic_lr,explore_sigma,perturbation,state_fnv1a\n";
}

std::string pbt_csv_row(const PbtChange& c) {
  return fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{:016x}\n", c.env_steps, c.round, c.member, c.source,
                     fmt_float(c.member_score), fmt_float(c.source_score), c.before.v[0], c.before.v[1],
                     c.before.v[2], c.after.v[0], c.after.v[1], c.after.v[2], c.how, c.state_hash);
}

std::string member_rows(const Device& dev, const void* data, int64_t total_bytes, int64_t rows, int K, int k) {
  ACX_CHECK(rows % K == 0 && total_bytes % rows == 0 && k >= 0 && k < K, "a member's rows of a malformed buffer");
  const int64_t row = total_bytes / rows, m = rows / K;
  std::string out(static_cast<size_t>(m * row), '\0');
  for (int64_t j = 0; j < m; ++j) {
    memory::copy_device_to_host(dev, out.data() + j * row, static_cast<const char*>(data) + (j * K + k) * row,
                                static_cast<size_t>(row));
  }
  return out;
}

void set_member_rows(const Device& dev, void* data, int64_t total_bytes, int64_t rows, int K, int k,
                     const std::string& bytes) {
  ACX_CHECK(rows % K == 0 && total_bytes % rows == 0 && k >= 0 && k < K, "a member's rows of a malformed buffer");
  const int64_t row = total_bytes / rows, m = rows / K;
  ACX_CHECK(static_cast<int64_t>(bytes.size()) == m * row,
            fmt::format("a member's state of {} bytes where {} were expected", bytes.size(), m * row));
  for (int64_t j = 0; j < m; ++j) {
    memory::copy_host_to_device(dev, static_cast<char*>(data) + (j * K + k) * row, bytes.data() + j * row,
                                static_cast<size_t>(row));
  }
}

std::string member_rows_host(const std::vector<uint8_t>& data, int64_t rows, int K, int k) {
  const int64_t total = static_cast<int64_t>(data.size());
  ACX_CHECK(rows % K == 0 && total % rows == 0 && k >= 0 && k < K, "a member's rows of a malformed array");
  const int64_t row = total / rows, m = rows / K;
  std::string out;
  for (int64_t j = 0; j < m; ++j)
    out.append(reinterpret_cast<const char*>(data.data()) + (j * K + k) * row, static_cast<size_t>(row));
  return out;
}

void set_member_rows_host(std::vector<uint8_t>* data, int64_t rows, int K, int k, const std::string& bytes) {
  const int64_t total = static_cast<int64_t>(data->size());
  ACX_CHECK(rows % K == 0 && total % rows == 0 && k >= 0 && k < K, "a member's rows of a malformed array");
  const int64_t row = total / rows, m = rows / K;
  ACX_CHECK(static_cast<int64_t>(bytes.size()) == m * row, "a member's observation statistics of the wrong size");
  for (int64_t j = 0; j < m; ++j)
    std::memcpy(data->data() + (j * K + k) * row, bytes.data() + j * row, static_cast<size_t>(row));
}

}  // namespace acx
