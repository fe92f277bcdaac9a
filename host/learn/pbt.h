// pbt.h: population-based training (PBT; Jaderberg et al. 2017,
// arXiv:1711.09846) over the run.agents members of one process or of a
// dist.mode = population launch (docs/distributed.md).
//
// Every pbt.interval env steps, right after the evaluation at that step,
// every rank contributes its members' latest evaluation returns, the env
// step of their last change and their hyper-parameters; every rank then
// computes the same decisions from the same gathered table (pbt_decide
// draws from a Philox stream keyed by run.seed and the round, so nothing
// but the table is communicated to agree on them). A ready member of the
// bottom pbt.fraction copies a member drawn uniformly from the top
// fraction: the weights, the target networks, the optimizer moments, SAC's
// temperature and the observation statistics (the member's rows of every
// flat buffer, sent by the source's rank to the member's rank when they
// differ), then perturbs the copied hyper-parameters: each one multiplied
// by a factor drawn from pbt.perturb, or with probability
// pbt.resample_prob drawn anew log-uniformly from its range; a product
// outside the range is set to the range's bound. A member keeps its own
// envs, replay buffer and exploration state. The lineage (who copied whom,
// when, with which returns and hyper-parameters) goes to DIR/pbt.csv.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "host/io/config.h"
#include "host/learn/agent.h"
#include "kernels/runtime/device.h"

namespace acx {

// The hyper-parameters PBT can change, in this order everywhere (the
// checkpoint's pbt.hyper columns, pbt.csv, summary.json).
enum PbtHyper : int { kPbtActorLr = 0, kPbtCriticLr = 1, kPbtExploreSigma = 2 };
constexpr int kPbtHypers = 3;
const char* pbt_hyper_name(int h);  // "actor_lr", "critic_lr", "explore_sigma"

struct MemberHyper {
  float v[kPbtHypers] = {0, 0, 0};
};

struct PbtConfig {
  int64_t interval = 0;     // env steps per agent between rounds
  int64_t ready_steps = 0;  // env steps after a change before the next
  double fraction = 0.25;   // top and bottom share
  double resample_prob = 0.25;
  std::vector<double> factors;  // pbt.perturb
  bool perturbs[kPbtHypers] = {false, false, false};
  double low[kPbtHypers] = {0, 0, 0}, high[kPbtHypers] = {0, 0, 0};
  uint64_t seed = 0;  // of the rounds' draws
};

// The PBT settings of `cfg` for a population of `members` members over the
// whole launch; UsageError naming the key for what cannot work (fewer
// than two members, an interval that is no multiple of run.eval_every, an
// empty or inverted range, explore_sigma with SAC, dist.mode = data).
PbtConfig pbt_config(const Config& cfg, int members);

// One member's row of a round's table.
struct PbtMember {
  double score = 0;         // its latest evaluation return; NaN ranks last
  int64_t last_change = 0;  // env step of its last copy (0: none yet)
  MemberHyper hyper;
};

// One copy decided by a round: `member` takes `source`'s state and `after`.
struct PbtChange {
  int64_t env_steps = 0;
  int64_t round = 0;
  int member = 0, source = 0;  // indices over the whole population
  double member_score = 0, source_score = 0;
  MemberHyper before, after;
  std::string how;           // per perturbed hyper-parameter: "x0.8", "x1.2" or "resampled", ';'-separated
  uint64_t state_hash = 0;   // FNV-1a of the copied state, as the member received it
};

// The copies of the round at `env_steps` (a multiple of cfg.interval):
// members ranked by score (ties by the lower index first); each ready
// member of the bottom n = max(1, floor(fraction M)) copies a member drawn
// uniformly from the top n, when that one scored strictly higher.
// Deterministic: the same table gives the same changes on every rank.
std::vector<PbtChange> pbt_decide(const PbtConfig& cfg, const std::vector<PbtMember>& members, int64_t env_steps);

// A round's table travels as bytes: rows of (score, last_change, hyper).
std::string pack_members(const std::vector<PbtMember>& members);
std::vector<PbtMember> unpack_members(const std::string& bytes);

// pbt.csv: its header and one change's row.
std::string pbt_csv_header();
std::string pbt_csv_row(const PbtChange& c);

// How a round reaches the other ranks: a world of one in one process,
// MPI in a dist.mode = population launch (host/learn/distributed.cpp).
class PbtTransport {
 public:
  virtual ~PbtTransport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::vector<std::string> all_gather(const std::string& bytes) = 0;
  virtual void send(int to, const std::string& bytes) = 0;
  virtual std::string recv(int from) = 0;
};

// Member k's rows of a flat buffer of `rows` rows (a multiple of K) and
// `total_bytes` bytes: the rows j K + k for j < rows / K (an actor's
// (K, P): row k; the critics' (n_q K, P): rows q K + k). Device memory.
std::string member_rows(const Device& dev, const void* data, int64_t total_bytes, int64_t rows, int K, int k);
void set_member_rows(const Device& dev, void* data, int64_t total_bytes, int64_t rows, int K, int k,
                     const std::string& bytes);
// The same on host bytes (the observation statistics, staged on the host).
std::string member_rows_host(const std::vector<uint8_t>& data, int64_t rows, int K, int k);
void set_member_rows_host(std::vector<uint8_t>* data, int64_t rows, int K, int k, const std::string& bytes);

}  // namespace acx
