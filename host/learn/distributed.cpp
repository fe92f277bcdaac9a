#include "host/learn/distributed.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <limits>
#include <optional>

#include "host/io/atomic_file.h"
#include "host/io/read_file.h"
#include "host/io/run_lock.h"
#include "host/learn/train_config.h"
#include "kernels/runtime/device.h"
#include "kernels/runtime/error.h"

namespace acx {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPopulationFile = "population.json";

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
    const fs::path pop = dir / kPopulationFile;
    const int K = cfg.get_int32("run.agents");
    if (resume) {
      ACX_USAGE_CHECK(fs::exists(pop), "cannot resume " + shown + " as a population: it has no " + kPopulationFile +
                                           " (a one-process run is resumed without mpirun)");
      const nlohmann::json p = nlohmann::json::parse(read_file(pop.string(), 1 << 20, kPopulationFile), nullptr, false);
      if (p.is_discarded() || !p.contains("ranks") || !p["ranks"].is_number_integer())
        throw Error("corrupt " + pop.string() + ": it is not the JSON acx train writes");
      const int was = p["ranks"].get<int>();
      ACX_USAGE_CHECK(was == ranks, fmt::format("{} was trained by {} ranks and this launch has {}: a population "
                                                "resumes with the same rank count (mpirun -np {})",
                                                shown, was, ranks, was));
    } else {
      ACX_USAGE_CHECK(!fs::exists(pop) && !fs::exists(dir / "config.toml"),
                      shown + " already holds a run; use --resume " + shown + " to continue it, or choose another --out");
      nlohmann::json p;
      p["mode"] = "population";
      p["ranks"] = ranks;
      p["agents"] = K;
      p["agents_per_rank"] = K / ranks;
      nlohmann::json blocks = nlohmann::json::array();
      for (int r = 0; r < ranks; ++r) {
        const int first = r * (K / ranks);
        blocks.push_back({{"rank", r},
                          {"agents", {first, first + K / ranks}},
                          {"seed", cfg.get_int("run.seed") + first},
                          {"dir", fmt::format("rank-{}", r)}});
      }
      p["blocks"] = blocks;
      write_file_atomic(pop.string(), p.dump(2) + "\n");
      write_file_atomic((dir / "config.toml").string(),
                        cfg.to_toml("acx train: the resolved configuration of this population run. Resume it with "
                                    "`mpirun -np " + std::to_string(ranks) + " acx train --resume DIR`."));
    }
    return "";
  } catch (const UsageError& e) {
    return std::string("2 ") + e.what();
  } catch (const std::exception& e) {
    return std::string("1 ") + e.what();
  }
}

std::string device_for_rank(const std::string& spec, int local_rank) {
  if (spec == "cuda" || (spec == "auto" && cuda_unusable_reason().empty())) return fmt::format("cuda:{}", local_rank);
  return spec;
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

TrainResult train_distributed(dist::Comm& comm, Config cfg, const std::string& out, bool resume,
                              const std::string& device) {
  const std::string mode = cfg.get_string("dist.mode");
  if (!dist::built_with_mpi())
    throw UsageError("dist.mode = " + mode + " needs acx built with MPI (this one was built with ACX_MPI=OFF or "
                     "without Open MPI): install libopenmpi-dev (scripts/install_deps.sh) and rebuild");
  if (!comm.distributed())
    throw UsageError("dist.mode = " + mode + " needs several processes: launch it as `mpirun -np N build/acx train "
                     "...` (or srun); this process was started alone");
  // Every rank the same binary and config, before anything else is decided.
  const std::string diff = first_difference(comm.all_gather(identity_of(cfg, binary_hash())));
  if (!diff.empty()) agreed_failure(comm, diff);

  const int P = comm.size(), r = comm.rank();
  if (mode == "none")
    agreed_failure(comm, fmt::format("started as {} processes by {}, but dist.mode is none: every rank would train "
                                     "the same run; add --set dist.mode=population",
                                     P, comm.launcher()));
  if (mode == "data")
    agreed_failure(comm, "dist.mode = data (data-parallel learners) is not available yet; dist.mode = population "
                         "is (docs/distributed.md)");
  const int K = cfg.get_int32("run.agents");
  if (K < P)
    agreed_failure(comm, fmt::format("run.agents = {} is fewer than the {} ranks: a population spreads whole agents "
                                     "over the ranks; give --agents {} or more, or launch fewer ranks",
                                     K, P, P));
  if (K % P != 0)
    agreed_failure(comm, fmt::format("run.agents = {} does not divide over {} ranks: each rank trains the same "
                                     "number of agents; use a multiple of {} (e.g. --agents {})",
                                     K, P, P, (K / P + 1) * P));

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
  const Device dev = Device::create(device_for_rank(device, comm.local_rank()), cfg.get_int32("run.threads"),
                                    r == 0 ? &std::cerr : nullptr);
  // A rank killed before its directory held a config starts its block over.
  const bool resume_block = resume && fs::exists(fs::path(dir) / "config.toml");
  const TrainResult mine = train(dev, sub, dir, resume_block, /*quiet=*/r != 0);

  // The population's summary: every block's, in rank order, merged on rank 0.
  const std::vector<std::string> all =
      comm.all_gather(read_file(mine.summary_path, 64 << 20, "a rank's summary.json"));
  TrainResult result{mine.final_eval_return, mine.wall_s, (fs::path(out) / "summary.json").string()};
  if (r == 0) {
    nlohmann::json j, blocks = nlohmann::json::array();
    std::vector<double> per_agent;
    double wall = 0;
    for (int q = 0; q < P; ++q) {
      const nlohmann::json s = nlohmann::json::parse(all[q]);
      for (const auto& v : s.value("final_eval_per_agent", nlohmann::json::array()))
        per_agent.push_back(v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN());
      wall = std::max(wall, s.value("wall_s", 0.0));
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
    write_file_atomic(result.summary_path, j.dump(2) + "\n");
    std::cout << j.dump(2) << "\n";
    result.final_eval_return = j["final_eval_return"].get<double>();
    result.wall_s = wall;
  }
  comm.barrier();  // rank 0 holds DIR's lock until the summary is written
  return result;
}

}  // namespace acx
