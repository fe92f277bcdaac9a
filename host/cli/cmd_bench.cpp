// acx bench: throughput of the training iteration, per-kernel timings with
// their roofline, and the regression check against a saved run
// (docs/benchmarks.md). Exit codes: 0 ok, 1 a regression (or a runtime
// error), 2 unreadable or mismatched files and usage errors.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include "host/cli/bench.h"
#include "host/cli/commands.h"
#include "host/dist/comm.h"
#include "host/dist/nccl_comm.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/cuda_api.h"
#include "host/io/atomic_file.h"
#include "kernels/runtime/error.h"

namespace acx {

namespace {

struct BenchArgs {
  bench::BenchOptions opt;
  std::vector<std::string> sizes;
  std::string json_out, baseline, current;
  double threshold = bench::CompareOptions{}.threshold;
  CLI::Option* threads_option = nullptr;
  bool allreduce = false;
};

void write_json(const nlohmann::json& j, const std::string& path) {
  write_file_atomic(path, j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

// The collective data-parallel training needs: MPI_Allreduce of float32
// sums at acx's gradient sizes between the ranks of an mpirun launch, or
// with --device cuda NCCL's between their GPUs. Latency (small messages) and
// bandwidth: algbw = bytes / time, busbw = algbw x 2 (P-1) / P, the
// per-link figure that does not depend on P (as nccl-tests reports it).
void run_allreduce_bench(const BenchArgs& a) {
  dist::Comm& comm = dist::world();
  ACX_USAGE_CHECK(dist::built_with_mpi(), "--allreduce needs acx built with MPI (ACX_MPI; scripts/install_deps.sh)");
  ACX_USAGE_CHECK(comm.distributed(), "--allreduce measures a collective between ranks: launch it as "
                                      "`mpirun -np 2 build/acx bench --allreduce`");
  const int P = comm.size();
  // --device cuda (or cuda:N): NCCL between the ranks' GPUs, bootstrapped
  // through MPI; otherwise MPI on host memory.
  const bool gpu = a.opt.device.rfind("cuda", 0) == 0;
  std::optional<Device> dev;
  std::unique_ptr<dist::NcclComm> nccl;
  if (gpu) {
    std::string no_gpu;
    const int gpus = cuda_api::device_count(&no_gpu);
    dev = Device::create(a.opt.device == "cuda" ? fmt::format("cuda:{}", gpus > 0 ? comm.local_rank() % gpus : 0)
                                                : a.opt.device,
                         0);
    const std::string why = dist::nccl_unusable_reason(comm, *dev);
    if (!why.empty()) {
      comm.mark_agreed_failure();
      throw UsageError("--allreduce --device cuda needs NCCL: " + why);
    }
    nccl = std::make_unique<dist::NcclComm>(comm, *dev);
  }
  const char* what = gpu ? "ncclAllReduce" : "MPI_Allreduce";
  // 4 B, 4 KiB, 64 KiB, a TD3's gradients on HalfCheetah-v5 (216,331 floats:
  // 256x256 actor and twin critics), the ~1.4 MB of the example, 8 MiB.
  const std::vector<int64_t> counts = {1, 1024, 16384, 216331, 350000, 2097152};
  const int repeats = a.opt.repeats > 0 ? a.opt.repeats : (a.opt.quick ? 20 : 100);
  nlohmann::json rows = nlohmann::json::array();
  if (comm.rank() == 0) {
    std::cout << fmt::format("{} (float32 sum, in place) over {} ranks{}, {} rounds per size\n\n", what, P,
                             gpu ? " (" + dev->describe() + " on rank 0)" : std::string(), repeats)
              << "| floats | bytes | min us | median us | algbw GB/s (median) | busbw GB/s (median) |\n"
              << "| ---: | ---: | ---: | ---: | ---: | ---: |\n";
  }
  for (int64_t n : counts) {
    // First the result: small integers, whose float32 sums are exact in any order.
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>((comm.rank() + 1) * (i % 7 + 1));
    std::optional<Buffer<float>> xd;
    if (gpu) xd = Buffer<float>::from_host(*dev, x);
    float* data = gpu ? xd->data() : x.data();
    auto reduce = [&] {
      if (gpu) {
        nccl->all_reduce(data, n, /*mean=*/false);
        dev->synchronize();
      } else {
        comm.all_reduce_sum(data, n);
      }
    };
    reduce();
    if (gpu) xd->copy_to_host(x.data(), x.size());
    for (int64_t i = 0; i < n; ++i) {
      const float want = static_cast<float>(P * (P + 1) / 2 * (i % 7 + 1));
      ACX_CHECK(x[i] == want, fmt::format("{} gave {} at element {} of {}, not {}", what, x[i], i, n, want));
    }
    for (int w = 0; w < 3; ++w) reduce();  // warm-up: connections, pages
    std::vector<double> us;
    for (int i = 0; i < repeats; ++i) {
      comm.barrier();
      const auto t0 = std::chrono::steady_clock::now();
      reduce();
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    // The slowest rank's time is the collective's: take each round's maximum.
    std::string mine(reinterpret_cast<const char*>(us.data()), us.size() * sizeof(double));
    const std::vector<std::string> all = comm.all_gather(mine);
    std::vector<double> worst(us.size(), 0.0);
    for (const std::string& r : all) {
      const double* v = reinterpret_cast<const double*>(r.data());
      for (size_t i = 0; i < worst.size(); ++i) worst[i] = std::max(worst[i], v[i]);
    }
    std::sort(worst.begin(), worst.end());
    const double med = worst[worst.size() / 2], bytes = 4.0 * static_cast<double>(n);
    const double algbw = bytes / (med * 1e-6) / 1e9, busbw = algbw * 2.0 * (P - 1) / P;
    if (comm.rank() == 0) {
      std::cout << fmt::format("| {} | {} | {:.1f} | {:.1f} | {:.3f} | {:.3f} |\n", n, 4 * n, worst.front(), med, algbw,
                               busbw);
      rows.push_back({{"floats", n}, {"bytes", 4 * n}, {"min_us", worst.front()}, {"median_us", med},
                      {"algbw_gbps", algbw}, {"busbw_gbps", busbw}});
    }
  }
  if (comm.rank() == 0 && !a.json_out.empty())
    write_json({{"schema", "acx-bench-allreduce-1"}, {"ranks", P}, {"launcher", comm.launcher()}, {"collective", what},
                {"repeats", repeats}, {"rows", rows}},
               a.json_out);
}

void run_bench(BenchArgs& a) {
  if (a.allreduce) {
    run_allreduce_bench(a);
    return;
  }
  ACX_USAGE_CHECK(a.current.empty() || !a.baseline.empty(), "--current needs --compare BASELINE.json");
  ACX_USAGE_CHECK(a.threshold > 0 && a.threshold < 10, "--threshold must be a fraction in (0, 10), e.g. 0.10");
  nlohmann::json baseline, current;
  if (!a.baseline.empty()) {
    baseline = bench::load_report(a.baseline);  // fail early on a bad file
    // A check measures as its baseline did: same thread count unless told otherwise.
    if (a.threads_option->count() == 0) a.opt.threads = baseline["config"].value("threads", 0);
  }
  if (!a.current.empty()) {
    current = bench::load_report(a.current);
  } else {
    for (const std::string& s : a.sizes) a.opt.sizes.push_back(bench::parse_size(s));
    if (const char* inj = std::getenv(bench::kInjectEnv)) a.opt.inject = inj;
    if (!a.opt.inject.empty()) {
      std::cerr << "acx bench: " << bench::kInjectEnv << "=" << a.opt.inject
                << " is set: measured times are multiplied (test hook)\n";
    }
    current = a.opt.metric == "instructions" && !bench::under_callgrind()
                  ? bench::instructions_under_callgrind(a.opt, std::cerr)
                  : bench::run(a.opt, std::cerr);
    std::cout << bench::format_report(current) << std::flush;
    if (!a.json_out.empty()) write_json(current, a.json_out);
  }
  if (a.baseline.empty()) return;
  bench::CompareOptions co;
  co.threshold = a.threshold;
  bench::CompareResult r = bench::compare(baseline, current, co);
  if (!r.regressions.empty() && a.current.empty() && a.opt.metric == "time") {
    // The second look: the flagged figures again, with twice the rounds, and
    // their rounds added to the first look's. A slowdown from a moment of
    // contention does not survive it; a real one does.
    std::cerr << fmt::format("acx bench: {} figure{} past {:.0f}% on the first look; measuring again\n",
                             r.regressions.size(), r.regressions.size() > 1 ? "s" : "", 100 * a.threshold);
    bench::BenchOptions again = a.opt;
    again.only = r.regressions;
    again.repeats = 2 * current["config"]["repeats"].get<int>();
    bench::merge_rounds(current, bench::run(again, std::cerr));
    if (!a.json_out.empty()) write_json(current, a.json_out);
    r = bench::compare(baseline, current, co);
  }
  std::cout << "\ncompare with " << printable(a.baseline) << ":\n\n" << bench::format_compare(r, co) << std::flush;
  if (!r.regressions.empty()) {
    std::string names;
    for (const std::string& n : r.regressions) names += (names.empty() ? "" : ", ") + n;
    throw Error(fmt::format("bench: {} figure{} regressed beyond {:.0f}%: {}", r.regressions.size(),
                            r.regressions.size() > 1 ? "s" : "", 100 * a.threshold, names));
  }
}

}  // namespace

void register_bench_command(CLI::App& app) {
  static BenchArgs b;
  CLI::App* sub = app.add_subcommand(
      "bench", "Throughput of the training iteration and its kernels, with rooflines; --compare checks for regressions");
  sub->add_option("--env", b.opt.env, "Environment")->capture_default_str();
  sub->add_option("--device", b.opt.device, "cpu, cuda, cuda:N or auto")->capture_default_str();
  b.threads_option =
      sub->add_option("--threads", b.opt.threads,
                      "CPU threads (default: all, or the baseline's with --compare); fewer than the cores steadies "
                      "shared machines")
          ->check(CLI::Range(0, 4096));
  sub->add_option("--json", b.json_out, "Write the report (JSON, schema acx-bench version 2) to this file");
  sub->add_flag("--allreduce", b.allreduce,
                "Under mpirun -np P: MPI_Allreduce (NCCL's with --device cuda) latency and bandwidth at acx's gradient "
                "sizes (docs/distributed.md)");
  sub->add_flag("--quick", b.opt.quick, "Two small sizes and fewer rounds (under ~20 s on 2 cores)");
  sub->add_option("--repeats", b.opt.repeats, "Timed rounds per figure (default 7 with --quick, else 11)")
      ->check(CLI::Range(3, 1000));
  sub->add_option("--size", b.sizes, "N_ENVS,BATCH,HIDDEN to run instead of the default sizes (repeatable)");
  sub->add_option("--compare", b.baseline, "Compare with this baseline report; exit 1 on a regression");
  sub->add_option("--current", b.current, "With --compare: compare this saved report instead of running");
  sub->add_option("--threshold", b.threshold, "Slowdown (fraction) beyond which a figure regresses")
      ->capture_default_str();
  sub->add_option("--metric", b.opt.metric,
                  "time, or instructions: counted by valgrind's callgrind, which a busy machine does not move")
      ->capture_default_str()
      ->check(CLI::IsMember({"time", "instructions"}));
  add_command(sub, [] { run_bench(b); });
}

}  // namespace acx
