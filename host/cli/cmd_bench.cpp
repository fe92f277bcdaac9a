// acx bench: throughput of the training iteration, per-kernel timings with
// their roofline, and the regression check against a saved run
// (docs/benchmarks.md). Exit codes: 0 ok, 1 a regression (or a runtime
// error), 2 unreadable or mismatched files and usage errors.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <iostream>

#include "host/cli/bench.h"
#include "host/cli/commands.h"
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
};

void write_json(const nlohmann::json& j, const std::string& path) {
  write_file_atomic(path, j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

void run_bench(BenchArgs& a) {
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
