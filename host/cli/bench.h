// bench.h: `acx bench`, end-to-end throughput of the training iteration and
// per-kernel timings with their roofline, and the regression check that
// compares two runs on noisy machines (docs/benchmarks.md).
//
// Why the gate holds on a shared machine:
//   - every figure is timed in R rounds of 5 chunks; a round times the three
//     reference kernels (sgemm 512^3, a DRAM copy, a cache-resident copy)
//     and then every figure, so both see the same machine;
//   - --compare judges each figure by its fastest chunk over the fastest
//     chunk of its reference (the one of its bound), over all rounds. A busy
//     neighbour only ever adds time: the fastest chunk is the one it left
//     alone, and the reference's fastest chunk cancels what the machine
//     itself does to both (a slower CPU, a cache another job thrashes);
//   - a figure past the threshold is measured again, twice as many rounds,
//     before the gate fails: only a slowdown that survives the second look
//     is a regression (what a person would do with a surprising result);
//   - medians over rounds stay in the report, for reading, not for judging.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace acx::bench {

// The JSON written by run(): {"schema": kSchema, "schema_version": kSchemaVersion, ...}.
constexpr const char* kSchema = "acx-bench";
constexpr int kSchemaVersion = 2;

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
  std::vector<std::string> only;   // figure names to measure; empty: all (the gate's second look)
  std::string metric = "time";     // "time", or "instructions" (counted by valgrind's callgrind)
};

// --metric instructions: every figure runs once under valgrind's callgrind,
// which counts the instructions it executes, per unit of work. A busy
// neighbour does not move a count at all (only the code and its inputs do),
// so the gate needs neither references nor a second look; the price is
// valgrind's slowdown (about 50x) and that a change in cache misses or
// memory traffic, which costs time without instructions, goes unseen.
// run() re-executes acx under valgrind for it (instructions_under_callgrind).
constexpr const char* kCallgrindDirEnv = "ACX_BENCH_CALLGRIND_DIR";
bool under_callgrind();
nlohmann::json instructions_under_callgrind(const BenchOptions& opt, std::ostream& log);

// "N,B,H" -> BenchSize; UsageError when malformed.
BenchSize parse_size(const std::string& s);

// Runs the benchmark; progress lines go to `log`. Returns the report (schema above).
nlohmann::json run(const BenchOptions& opt, std::ostream& log);

// The report as a Markdown table (one row per figure) with the machine and the ceilings.
std::string format_report(const nlohmann::json& report);

// A figure regresses when its gate ratio (fastest chunk over its reference's
// fastest chunk, above) grows by more than `threshold`.
// 0.20: a time figure's fastest chunk varied by up to about 17% between
// runs of one build beside a 2-thread job (docs/benchmarks.md); 1.5x stays
// far outside that.
struct CompareOptions {
  double threshold = 0.20;
};

struct CompareRow {
  std::string figure;
  double baseline = 0, current = 0;  // the figure's gate ratio (lower is faster)
  double change = 0;                 // current / baseline - 1 (positive: slower)
  int rounds = 0;                    // rounds of the current run behind its ratio
  std::string verdict;               // ok, faster, REGRESSION, only-in-baseline, only-in-current
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

// Adds the rounds of `more` (a run of some of the same figures) to `report`:
// each figure's samples, and its gate ratio over all rounds of both.
void merge_rounds(nlohmann::json& report, const nlohmann::json& more);

}  // namespace acx::bench
