#include "host/learn/distributed.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>

#include "host/dist/nccl_comm.h"
#include "host/io/atomic_file.h"
#include "host/io/read_file.h"
#include "host/io/run_lock.h"
#include "host/io/safetensors.h"
#include "host/learn/checkpoint.h"
#include "host/learn/pbt.h"
#include "host/learn/train_config.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/cuda_api.h"
#include "kernels/runtime/device.h"
#include "kernels/runtime/error.h"

namespace acx {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDistFile = "dist.json";

uint64_t binary_hash() {
  // The executable's bytes: two ranks started from different builds differ here.
  return dist::fnv1a64(read_file("/proc/self/exe", uint64_t{1} << 31, "the acx binary"));
}

std::string rank_dir(const std::string& out, int rank) { return (fs::path(out) / fmt::format("rank-{}", rank)).string(); }

// A failure every rank reaches together: rank 0 prints it, all exit with its code.
[[noreturn]] void agreed_failure(dist::Comm& comm, const std::string& message, bool usage = true) {
  comm.mark_agreed_failure();
  if (usage) throw UsageError(message);
  throw Error(message);
}

// The run directory's preparation on rank 0; returns "" or the error as
// "2 message" (usage) or "1 message" (runtime), which every rank then raises.
std::string prepare_on_rank0(const Config& cfg, const std::string& out, bool resume, int ranks,
                             std::optional<RunLock>* lock) {
  const std::string mode = cfg.get_string("dist.mode");
  try {
    const fs::path dir(out);
    const std::string shown = quote_input(out);
    ACX_USAGE_CHECK(!out.empty(), "the run directory is empty: give --out DIR (or --resume DIR)");
    if (resume) {
      ACX_USAGE_CHECK(fs::is_directory(dir), "cannot resume: " + shown + " is not a directory");
    } else {
      std::error_code ec;
      fs::create_directories(dir, ec);
      ACX_USAGE_CHECK(!ec, "cannot create the run directory " + shown + ": " + ec.message());
    }
    lock->emplace(out);
    const fs::path pop = dir / kDistFile;
    const int K = cfg.get_int32("run.agents");
    if (resume) {
      ACX_USAGE_CHECK(fs::exists(pop), "cannot resume " + shown + " with several ranks: it has no " + kDistFile +
                                           " (a one-process run is resumed without mpirun)");
      const nlohmann::json p = nlohmann::json::parse(read_file(pop.string(), 1 << 20, kDistFile), nullptr, false);
      if (p.is_discarded() || !p.contains("ranks") || !p["ranks"].is_number_integer())
        throw Error("corrupt " + pop.string() + ": it is not the JSON acx train writes");
      const int was = p["ranks"].get<int>();
      ACX_USAGE_CHECK(was == ranks, fmt::format("{} was trained by {} ranks and this launch has {}: a distributed run "
                                                "resumes with the same rank count (mpirun -np {})",
                                                shown, was, ranks, was));
      // A resume may have made the run longer (run.total_env_steps): the next resume reads it here.
      write_file_atomic((dir / "config.toml").string(),
                        cfg.to_toml("acx train: the resolved configuration of this distributed run. Resume it with "
                                    "`mpirun -np " + std::to_string(ranks) + " acx train --resume DIR`."));
    } else {
      ACX_USAGE_CHECK(!fs::exists(pop) && !fs::exists(dir / "config.toml"),
                      shown + " already holds a run; use --resume " + shown + " to continue it, or choose another --out");
      nlohmann::json p;
      p["mode"] = mode;
      p["ranks"] = ranks;
      p["agents"] = K;
      nlohmann::json blocks = nlohmann::json::array();
      if (mode == "population") {
        p["agents_per_rank"] = K / ranks;
        for (int r = 0; r < ranks; ++r) {
          const int first = r * (K / ranks);
          blocks.push_back({{"rank", r},
                            {"agents", {first, first + K / ranks}},
                            {"seed", cfg.get_int("run.seed") + first},
                            {"dir", fmt::format("rank-{}", r)}});
        }
      } else {
        // Every rank the same agents; its own envs and replay buffer.
        for (int r = 0; r < ranks; ++r) blocks.push_back({{"rank", r}, {"dir", fmt::format("rank-{}", r)}});
      }
      p["ranks_detail"] = blocks;
      write_file_atomic(pop.string(), p.dump(2) + "\n");
      write_file_atomic((dir / "config.toml").string(),
                        cfg.to_toml("acx train: the resolved configuration of this distributed run. Resume it with "
                                    "`mpirun -np " + std::to_string(ranks) + " acx train --resume DIR`."));
    }
    return "";
  } catch (const UsageError& e) {
    return std::string("2 ") + e.what();
  } catch (const std::exception& e) {
    return std::string("1 ") + e.what();
  }
}

// "cuda" (or "auto" where CUDA is usable): the GPU of this rank's local
// rank, wrapped around the node's GPUs (ranks beyond them share).
std::string device_for_rank(const std::string& spec, int local_rank) {
  if (spec == "cuda" || (spec == "auto" && cuda_unusable_reason().empty())) {
    std::string why;
    const int n = cuda_api::device_count(&why);
    return fmt::format("cuda:{}", n > 0 ? local_rank % n : 0);
  }
  return spec;
}

// Each gradient replaced by its mean over the ranks. MPI_Allreduce sums in
// an order of the library's choosing (Open MPI returns the same bits on
// every rank; the state hash at every metrics row checks it); with
// dist.deterministic every rank's gradient is gathered and summed in rank
// order in float64, which no collective algorithm or rank placement can
// change, for P times the bytes on the wire. On a GPU the gradient is
// staged through the host (Debian's Open MPI is not CUDA-aware).
Agent::GradReduce make_grad_reduce(const dist::Comm& comm, const Device& dev, bool deterministic,
                                   std::shared_ptr<dist::NcclComm> nccl) {
  if (nccl) {
    // On the device's stream, no host copies: NCCL's average.
    return [nccl](float* grad, int64_t n) { nccl->all_reduce(grad, n, /*mean=*/true); };
  }
  auto staging = std::make_shared<std::vector<float>>();
  const char* diverge = std::getenv("ACX_DIST_TEST_DIVERGE");
  return [&comm, dev, deterministic, staging, diverge_for_test = diverge && *diverge == '1'](float* grad,
                                                                                           int64_t n) mutable {
    float* h = grad;
    if (dev.is_cuda()) {
      staging->resize(static_cast<size_t>(n));
      memory::copy_device_to_host(dev, staging->data(), grad, static_cast<size_t>(n) * sizeof(float));
      h = staging->data();
    }
    const int P = comm.size();
    if (deterministic) {
      const std::vector<std::string> all =
          comm.all_gather(std::string(reinterpret_cast<const char*>(h), static_cast<size_t>(n) * sizeof(float)));
      for (int64_t i = 0; i < n; ++i) {
        double sum = 0;
        for (int r = 0; r < P; ++r) sum += static_cast<double>(reinterpret_cast<const float*>(all[r].data())[i]);
        h[i] = static_cast<float>(sum / P);
      }
    } else {
      comm.all_reduce_sum(h, n);
      const float inv = 1.0f / static_cast<float>(P);
      for (int64_t i = 0; i < n; ++i) h[i] *= inv;
    }
    // Test hook (tests/dist_data.sh): rank 1 drifts once, which the state hash must catch.
    if (diverge_for_test && comm.rank() == 1 && n > 0) {
      h[0] += 1e-3f;
      diverge_for_test = false;
    }
    if (dev.is_cuda()) memory::copy_host_to_device(dev, grad, h, static_cast<size_t>(n) * sizeof(float));
  };
}

// The env step a checkpoint holds (its metadata only), or -1 without one.
int64_t checkpoint_step(const fs::path& path) {
  if (!fs::exists(path)) return -1;
  try {
    const safetensors::SafetensorsFile f =
        safetensors::load_safetensors(path.string(), [](const std::string&) { return false; });
    return std::stoll(f.meta("env_steps"));
  } catch (const std::exception&) {
    return -2;  // unreadable: named in the refusal
  }
}

// Ranks whose checkpoints must be at one step (data mode, PBT) write them
// in two phases (host/learn/trainer.cpp): every rank writes
// checkpoint.next, they agree, each renames. A launch killed between the
// agreement and the last rename leaves some ranks at the new step and the
// others with the new step still in checkpoint.next: those promote it.
// Killed earlier, every rank is still at the old step and the unfinished
// checkpoint.next files are removed. Returns what it did, for rank 0's log.
std::string reconcile_checkpoints(dist::Comm& comm, const std::string& dir) {
  const fs::path ckpt = fs::path(dir) / kCheckpointName, next = fs::path(dir) / kCheckpointNextName;
  const int64_t mine[2] = {checkpoint_step(ckpt), checkpoint_step(next)};
  const std::vector<std::string> all = comm.all_gather(std::string(reinterpret_cast<const char*>(mine), sizeof(mine)));
  std::vector<int64_t> have, pending;
  for (const std::string& b : all) {
    int64_t v[2];
    std::memcpy(v, b.data(), sizeof(v));
    have.push_back(v[0]);
    pending.push_back(v[1]);
  }
  const int64_t target = *std::max_element(have.begin(), have.end());
  std::string refused, done;
  int promoted = 0;
  for (size_t q = 0; q < have.size(); ++q) {
    if (have[q] == target) continue;
    if (pending[q] == target) {
      ++promoted;
      continue;
    }
    refused += fmt::format("{}rank {} at env step {}", refused.empty() ? "" : ", ", q,
                           have[q] == -1 ? std::string("(none)") : have[q] == -2 ? "(unreadable)" : std::to_string(have[q]));
  }
  if (!refused.empty())
    agreed_failure(comm, fmt::format("cannot resume {}: the ranks' checkpoints are at different env steps ({} on the "
                                     "furthest rank; {}), and the missing ones cannot be completed from "
                                     "checkpoint.next; the ranks must resume from one step",
                                     printable(fs::path(dir).parent_path().string()), target, refused),
                   false);
  const int r = comm.rank();
  if (have[r] != target && pending[r] == target) {
    fs::rename(next, ckpt);
  } else if (pending[r] != -1) {
    std::error_code ec;
    fs::remove(next, ec);  // an unfinished write of a step no rank completed, or a duplicate
  }
  if (promoted > 0)
    done = fmt::format("acx train: {} rank{} had not yet renamed the checkpoint at env step {} (the launch stopped "
                       "between the two phases of its write); completed it\n",
                       promoted, promoted == 1 ? "" : "s", target);
  comm.barrier();
  return done;
}

// A check that every rank holds the same `value`; else every rank stops
// together with "the ranks' WHAT differ: ... ; WHY, stopping".
std::function<void(const std::string&, const std::string&)> same_on_every_rank(dist::Comm& comm, std::string why) {
  return [&comm, why](const std::string& what, const std::string& value) {
    const std::vector<std::string> all = comm.all_gather(value);
    for (size_t q = 1; q < all.size(); ++q) {
      if (all[q] == all[0]) continue;
      comm.mark_agreed_failure();  // every rank sees the same gathered values
      throw Error(fmt::format("the ranks' {} differ: {} on rank {}, {} on rank 0; {}, stopping", what, all[q], q,
                              all[0], why));
    }
  };
}

// PBT's rounds over MPI (host/learn/pbt.h).
class MpiTransport : public PbtTransport {
 public:
  explicit MpiTransport(dist::Comm& comm) : comm_(comm) {}
  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  std::vector<std::string> all_gather(const std::string& bytes) override { return comm_.all_gather(bytes); }
  void send(int to, const std::string& bytes) override { comm_.send(to, bytes); }
  std::string recv(int from) override { return comm_.recv(from); }

 private:
  dist::Comm& comm_;
};

// dist.mode = data: every rank trains the same agents on its own envs and
// replay buffer, the gradients averaged at every update.
TrainResult train_data_parallel(dist::Comm& comm, const Config& cfg, const std::string& out, bool resume) {
  const int P = comm.size(), r = comm.rank();
  std::optional<RunLock> lock;
  const std::string status = comm.broadcast(r == 0 ? prepare_on_rank0(cfg, out, resume, P, &lock) : std::string());
  if (!status.empty()) agreed_failure(comm, status.substr(2), status[0] == '2');
  const std::string dir = rank_dir(out, r);
  if (r == 0) {
    std::cerr << fmt::format("acx train: data-parallel learners on {} ranks (launched by {}): each rank {} agent{} x "
                             "{} envs with its own replay, every gradient averaged over the ranks ({}); {} env steps "
                             "per vector step in all; rank 0's progress below\n",
                             P, comm.launcher(), cfg.get_int("run.agents"), cfg.get_int("run.agents") > 1 ? "s" : "",
                             cfg.get_int("env.n_envs"),
                             cfg.get_bool("dist.deterministic") ? "in rank order, float64: dist.deterministic"
                                                                : "MPI_Allreduce",
                             P * cfg.get_int("env.n_envs"));
  }
  const Device dev = Device::create(device_for_rank(cfg.get_string("run.device"), comm.local_rank()),
                                    cfg.get_int32("run.threads"), r == 0 ? &std::cerr : nullptr);
  // GPU ranks: NCCL when each has its own GPU and the reduction need not be
  // deterministic; otherwise staged through the host over MPI, said once.
  const bool deterministic = cfg.get_bool("dist.deterministic");
  const std::string no_nccl = dist::nccl_unusable_reason(comm, dev);  // a collective: every rank
  std::shared_ptr<dist::NcclComm> nccl;
  const bool test_hook = std::getenv("ACX_DIST_TEST_DIVERGE") != nullptr;  // needs the host path
  if (dev.is_cuda() && no_nccl.empty() && !deterministic && !test_hook) {
    nccl = std::make_shared<dist::NcclComm>(comm, dev);
    if (r == 0) std::cerr << "acx train: gradients all-reduced by NCCL on the device's stream\n";
  } else if (dev.is_cuda() && r == 0) {
    std::cerr << "acx train: gradients staged through the host and reduced over MPI ("
              << (deterministic ? std::string("dist.deterministic") : no_nccl) << ")\n";
  }
  DataParallelHooks hooks;
  hooks.rank = r;
  hooks.grad_reduce = make_grad_reduce(comm, dev, deterministic, nccl);
  hooks.check_same = same_on_every_rank(comm, "data-parallel learners must stay identical");
  hooks.all_gather = [&comm](const std::string& bytes) { return comm.all_gather(bytes); };
  const bool resume_rank = resume && fs::exists(fs::path(dir) / "config.toml");
  if (resume) {
    const std::string note = reconcile_checkpoints(comm, dir);
    if (r == 0) std::cerr << note;
  }
  const TrainResult mine = train(dev, cfg, dir, resume_rank, r == 0 ? Output::kProgress : Output::kQuiet, &hooks);
  TrainResult result{mine.final_eval_return, mine.wall_s, (fs::path(out) / "summary.json").string()};
  if (r == 0) {
    nlohmann::json j = nlohmann::json::parse(read_file(mine.summary_path, 64 << 20, "rank 0's summary.json"));
    j["mode"] = "data";
    j["ranks"] = P;
    j["deterministic_reduction"] = cfg.get_bool("dist.deterministic");
    j["total_env_steps"] = j.value("env_steps", int64_t{0}) * cfg.get_int("run.agents") * P;
    write_file_atomic(result.summary_path, j.dump(2) + "\n");
    std::cout << j.dump(2) << "\n";
  }
  comm.barrier();
  return result;
}

}  // namespace

bool wants_distributed(const dist::Comm& comm, const Config& cfg) {
  return comm.distributed() || cfg.get_string("dist.mode") != "none";
}

std::string identity_of(const Config& cfg, uint64_t binary) {
  return fmt::format("{:016x}\n{}", binary, cfg.to_toml());
}

std::string first_difference(const std::vector<std::string>& identities) {
  auto split = [](const std::string& id) {
    const size_t nl = id.find('\n');
    return std::pair<std::string, std::string>(id.substr(0, nl), nl == std::string::npos ? "" : id.substr(nl + 1));
  };
  const auto [bin0, toml0] = split(identities.at(0));
  for (size_t r = 1; r < identities.size(); ++r) {
    const auto [bin, toml] = split(identities[r]);
    if (bin != bin0)
      return fmt::format("rank {} runs another acx binary than rank 0 (FNV-1a of the executable {} there, {} on "
                         "rank 0): start every rank from the same build",
                         r, bin, bin0);
    if (toml == toml0) continue;
    Config a(train_schema()), b(train_schema());
    a.load_toml_string(toml0, "rank 0's config");
    b.load_toml_string(toml, fmt::format("rank {}'s config", r));
    for (const ConfigEntry& e : a.schema().entries()) {
      const std::string va = config_value_toml(a.get(e.key)), vb = config_value_toml(b.get(e.key));
      if (va != vb)
        return fmt::format("rank {} was started with another config than rank 0: '{}' is {} there and {} on rank 0 "
                           "(every rank of a launch must get the same options)",
                           r, e.key, vb, va);
    }
    return fmt::format("rank {} was started with another config than rank 0", r);
  }
  return "";
}

TrainResult train_distributed(dist::Comm& comm, Config cfg, const std::string& out, bool resume) {
  const std::string mode = cfg.get_string("dist.mode");
  if (!dist::built_with_mpi())
    throw UsageError("dist.mode = " + mode + " needs acx built with MPI (this one was built with ACX_MPI=OFF or "
                     "without Open MPI): install libopenmpi-dev (scripts/install_deps.sh) and rebuild");
  if (!comm.distributed())
    throw UsageError("dist.mode = " + mode + " needs several processes: launch it as `mpirun -np N build/acx train "
                     "...` with N >= 2 (or srun); this launch has one process");
  // Every rank the same binary and config, before anything else is decided.
  const std::string diff = first_difference(comm.all_gather(identity_of(cfg, binary_hash())));
  if (!diff.empty()) agreed_failure(comm, diff);

  const int P = comm.size(), r = comm.rank();
  if (mode == "none")
    agreed_failure(comm, fmt::format("started as {} processes by {}, but dist.mode is none: every rank would train "
                                     "the same run; add --set dist.mode=population",
                                     P, comm.launcher()));
  const int K = cfg.get_int32("run.agents");
  if (mode == "data") return train_data_parallel(comm, cfg, out, resume);
  if (K < P)
    agreed_failure(comm, fmt::format("run.agents = {} is fewer than the {} ranks: a population spreads whole agents "
                                     "over the ranks; give --agents {} or more, or launch fewer ranks",
                                     K, P, P));
  if (K % P != 0)
    agreed_failure(comm, fmt::format("run.agents = {} does not divide over {} ranks: each rank trains the same "
                                     "number of agents; use a multiple of {} (e.g. --agents {})",
                                     K, P, P, (K / P + 1) * P));

  const bool pbt = cfg.get_bool("pbt.enabled");
  if (pbt) {
    try {
      (void)pbt_config(cfg, K);  // the same verdict on every rank
    } catch (const UsageError& e) {
      agreed_failure(comm, e.what());
    }
  }
  std::optional<RunLock> lock;
  const std::string status = comm.broadcast(r == 0 ? prepare_on_rank0(cfg, out, resume, P, &lock) : std::string());
  if (!status.empty()) agreed_failure(comm, status.substr(2), status[0] == '2');

  const int per = K / P, first = r * per;
  const int64_t seed = cfg.get_int("run.seed") + first;
  const std::string dir = rank_dir(out, r);
  if (r == 0) {
    std::cerr << fmt::format("acx train: population of {} agents over {} ranks ({} per rank, launched by {}); rank r "
                             "trains agents [r x {}, (r+1) x {}) with seed {} + r x {} into {}/rank-r; rank 0's "
                             "progress below\n",
                             K, P, per, comm.launcher(), per, per, cfg.get_int("run.seed"), per, printable(out));
  }
  Config sub = cfg;
  sub.set("run.agents", int64_t{per}, "population block");
  sub.set("run.seed", seed, "population block");
  sub.set("dist.mode", std::string("none"), "population block");
  // Per-agent variants: this block's share of the list.
  for (const char* key : {"variants.actor_lr", "variants.critic_lr", "variants.explore_sigma"}) {
    const std::vector<double>& v = cfg.get_float_list(key);
    if (v.empty()) continue;
    if (static_cast<int>(v.size()) != K)
      agreed_failure(comm, fmt::format("{} has {} values but run.agents is {}: give one per agent, or none", key,
                                       v.size(), K));
    sub.set(key, std::vector<double>(v.begin() + first, v.begin() + first + per), "population block");
  }
  MpiTransport transport(comm);
  PopulationHooks hooks;
  hooks.first_member = first;
  hooks.population = K;
  hooks.members_per_rank = per;
  hooks.launch_seed = cfg.get_int("run.seed");
  hooks.transport = &transport;
  hooks.check_same = same_on_every_rank(comm, "PBT's rounds need every rank at the same step");
  if (r == 0) hooks.lineage_path = (fs::path(out) / "pbt.csv").string();
  const Device dev = Device::create(device_for_rank(cfg.get_string("run.device"), comm.local_rank()),
                                    cfg.get_int32("run.threads"), r == 0 ? &std::cerr : nullptr);
  // A rank killed before its directory held a config starts its block over.
  const bool resume_block = resume && fs::exists(fs::path(dir) / "config.toml");
  if (resume && pbt) {  // the rounds tie the blocks: their checkpoints are written in two phases
    const std::string note = reconcile_checkpoints(comm, dir);
    if (r == 0) std::cerr << note;
  }
  const TrainResult mine =
      train(dev, sub, dir, resume_block, r == 0 ? Output::kProgress : Output::kQuiet, nullptr, pbt ? &hooks : nullptr);

  // The population's summary: every block's, in rank order, merged on rank 0.
  const std::vector<std::string> all =
      comm.all_gather(read_file(mine.summary_path, 64 << 20, "a rank's summary.json"));
  TrainResult result{mine.final_eval_return, mine.wall_s, (fs::path(out) / "summary.json").string()};
  if (r == 0) {
    nlohmann::json j, blocks = nlohmann::json::array();
    nlohmann::json pbt_hyper = nlohmann::json::object(), pbt_last = nlohmann::json::array();
    std::vector<double> per_agent;
    double wall = 0;
    for (int q = 0; q < P; ++q) {
      const nlohmann::json s = nlohmann::json::parse(all[q]);
      for (const auto& v : s.value("final_eval_per_agent", nlohmann::json::array()))
        per_agent.push_back(v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN());
      wall = std::max(wall, s.value("wall_s", 0.0));
      if (s.contains("pbt")) {  // the members' hyper-parameters now, in member order
        for (const auto& [name, v] : s["pbt"]["hyper_per_agent"].items())
          for (const auto& x : v) pbt_hyper[name].push_back(x);
        for (const auto& x : s["pbt"]["last_change_per_agent"]) pbt_last.push_back(x);
      }
      blocks.push_back({{"rank", q},
                        {"dir", fmt::format("rank-{}", q)},
                        {"agents", {q * per, (q + 1) * per}},
                        {"seed", s["seed"]},
                        {"final_eval_return", s["final_eval_return"]},
                        {"wall_s", s["wall_s"]},
                        {"device", s["device"]}});
    }
    const nlohmann::json s0 = nlohmann::json::parse(all[0]);
    double sum = 0;
    for (double v : per_agent) sum += v;
    j["mode"] = "population";
    j["ranks"] = P;
    j["env"] = s0["env"];
    j["algo"] = s0["algo"];
    j["agents"] = K;
    j["seed"] = cfg.get_int("run.seed");
    j["env_steps"] = s0["env_steps"];
    j["total_env_steps"] = s0.value("env_steps", int64_t{0}) * K;
    j["wall_s"] = wall;
    j["final_eval_return"] = per_agent.empty() ? std::numeric_limits<double>::quiet_NaN() : sum / per_agent.size();
    j["final_eval_per_agent"] = per_agent;
    j["blocks"] = blocks;
    if (pbt) {
      j["pbt"] = {{"population", K},
                  {"interval", nlohmann::json::parse(all[0])["pbt"]["interval"]},
                  {"hyper_per_agent", pbt_hyper},
                  {"last_change_per_agent", pbt_last},
                  {"lineage", "pbt.csv"}};
    }
    write_file_atomic(result.summary_path, j.dump(2) + "\n");
    std::cout << j.dump(2) << "\n";
    result.final_eval_return = j["final_eval_return"].get<double>();
    result.wall_s = wall;
  }
  comm.barrier();  // rank 0 holds DIR's lock until the summary is written
  return result;
}

}  // namespace acx
