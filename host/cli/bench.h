// bench.h: `acx bench`, end-to-end throughput of the training iteration and
// per-kernel timings with their roofline, and the regression check that
// compares two runs on noisy machines (docs/benchmarks.md).
//
// Why the numbers hold on a noisy machine:
//   - every figure is timed in R rounds; a round times the two reference
//     kernels (sgemm 512^3, a memory copy) and then every figure once, so a
//     figure's ratio to its reference is taken within one round (load that
//     changes between rounds cancels) and the median over rounds is kept;
//   - each figure is compared through that ratio, not through seconds, so a
//     slower or busier machine that slows the reference as much does not fail;
//   - a slowdown is a regression only when it exceeds the threshold AND the
//     two runs' own spread (CompareOptions).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace acx::bench {

// The JSON written by run(): {"schema": kSchema, "schema_version": kSchemaVersion, ...}.
constexpr const char* kSchema = "acx-bench";
constexpr int kSchemaVersion = 1;

// The environment variable of the test hook: "FIGURE:FACTOR[,FIGURE:FACTOR...]"
// multiplies every measured time of the figures whose kernel name (e.g.
// env_step) or full name (env_step/n=1024,b=256,h=256) is FIGURE by FACTOR.
constexpr const char* kInjectEnv = "ACX_BENCH_INJECT_SLOWDOWN";

struct BenchSize {
  int64_t n_envs = 1024;
  int batch = 256;
  int hidden = 256;  // actor and critic: two hidden layers of this width
};

struct BenchOptions {
  std::string env = "pendulum";
  std::string device = "auto";
  int threads = 0;                 // CPU threads (OpenMP and OpenBLAS); 0: the default
  bool quick = false;
  int repeats = 0;                 // rounds; 0: 7 (--quick) or 11
  std::vector<BenchSize> sizes;    // empty: the defaults of --quick or of a full run
  std::string inject;              // kInjectEnv's value
};

// "N,B,H" -> BenchSize; UsageError when malformed.
BenchSize parse_size(const std::string& s);

// Runs the benchmark; progress lines go to `log`. Returns the report (schema above).
nlohmann::json run(const BenchOptions& opt, std::ostream& log);

// The report as a Markdown table (one row per figure) with the machine and the ceilings.
std::string format_report(const nlohmann::json& report);

// A figure regresses when its reference-normalized ratio grows by more than
// `threshold` AND by more than the noise: the larger of the two runs' own
// spreads, 3 x 1.4826 x MAD / median of the per-round ratios (three robust
// standard deviations of one round).
struct CompareOptions {
  double threshold = 0.10;
};

struct CompareRow {
  std::string figure;
  double baseline = 0, current = 0;  // the figure's reference-normalized ratio (lower is faster)
  double change = 0;                 // current / baseline - 1 (positive: slower)
  double noise = 0;                  // the change the two runs' spread can explain
  std::string verdict;               // ok, faster, REGRESSION, noisy, only-in-baseline, only-in-current
};

struct CompareResult {
  std::vector<CompareRow> rows;
  std::vector<std::string> regressions;  // figure names
  std::vector<std::string> notes;        // reference speeds, injected slowdowns, skipped figures
};

// Compares figure by figure. Throws UsageError when the files are not
// comparable (schema, env or backend differ, or no figure in common).
CompareResult compare(const nlohmann::json& baseline, const nlohmann::json& current, const CompareOptions& opt);

// The comparison as a Markdown table.
std::string format_compare(const CompareResult& r, const CompareOptions& opt);

// Reads a report; UsageError when the file is unreadable or not an acx-bench report.
nlohmann::json load_report(const std::string& path);

}  // namespace acx::bench
