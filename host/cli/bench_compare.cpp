// bench_compare.cpp: `acx bench --compare`, the regression check between two
// reports (bench.h says why it holds on noisy machines; docs/benchmarks.md
// how to use it in CI). The measurements are bench.cpp's.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string>

#include "host/cli/bench.h"
#include "host/io/read_file.h"
#include "kernels/runtime/error.h"

namespace acx::bench {

using json = nlohmann::json;

namespace {

// The spread of a run's figure: three robust standard deviations of its
// per-round values relative to their median (1.4826 MAD estimates the
// standard deviation of normal samples; one stalled round does not move it,
// which (max - min) would).
double relative_spread(const json& s) {
  const double med = s.at("median").get<double>();
  return med > 0 ? 3.0 * 1.4826 * s.at("mad").get<double>() / med : 0.0;
}

}  // namespace

json load_report(const std::string& path) {
  const std::string text = read_file(path, uint64_t{64} << 20, "bench report");
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    throw UsageError(quote_input(path) + " is not JSON: " + e.what());
  }
  ACX_USAGE_CHECK(j.is_object() && j.value("schema", "") == kSchema, path + " is not an acx bench report");
  ACX_USAGE_CHECK(j.value("schema_version", 0) == kSchemaVersion,
                  fmt::format("{} has schema version {}; this acx reads version {}", path, j.value("schema_version", 0),
                              kSchemaVersion));
  ACX_USAGE_CHECK(j.contains("figures") && j["figures"].is_array() && j.contains("config"),
                  path + " has no figures");
  return j;
}

CompareResult compare(const json& base, const json& cur, const CompareOptions& opt) {
  for (const char* key : {"env", "backend"}) {
    const std::string b = base["config"].value(key, ""), c = cur["config"].value(key, "");
    ACX_USAGE_CHECK(b == c, fmt::format("the runs differ in {}: baseline {}, current {}", key, b, c));
  }
  CompareResult r;
  std::map<std::string, const json*> cur_by_name;
  for (const json& f : cur["figures"]) cur_by_name[f["name"].get<std::string>()] = &f;
  std::map<std::string, bool> seen;
  int common = 0;
  for (const json& bf : base["figures"]) {
    const std::string name = bf["name"].get<std::string>();
    CompareRow row;
    row.figure = name;
    const auto it = cur_by_name.find(name);
    if (it == cur_by_name.end()) {
      row.verdict = "only-in-baseline";
      r.rows.push_back(row);
      continue;
    }
    seen[name] = true;
    ++common;
    const json& cf = *it->second;
    const std::string ref = bf["reference"].get<std::string>();
    const json &bs = bf["ratios"][ref], &cs = cf["ratios"][ref];
    row.baseline = bs["median"].get<double>();
    row.current = cs["median"].get<double>();
    row.change = row.current / row.baseline - 1.0;
    row.noise = std::max(relative_spread(bs), relative_spread(cs));
    if (row.change > opt.threshold) {
      row.verdict = row.change > row.noise ? "REGRESSION" : "noisy";
    } else if (row.change < -opt.threshold && -row.change > row.noise) {
      row.verdict = "faster";
    } else {
      row.verdict = "ok";
    }
    if (row.verdict == "REGRESSION") r.regressions.push_back(name);
    if (cf.contains("injected_slowdown")) {
      r.notes.push_back(fmt::format("{}: the current run injected a {}x slowdown ({})", name,
                                    cf["injected_slowdown"].get<double>(), kInjectEnv));
    }
    r.rows.push_back(row);
  }
  for (const json& cf : cur["figures"]) {
    const std::string name = cf["name"].get<std::string>();
    if (seen.count(name)) continue;
    CompareRow row;
    row.figure = name;
    row.verdict = "only-in-current";
    r.rows.push_back(row);
  }
  ACX_USAGE_CHECK(common > 0, "the runs have no figure in common (different sizes?)");
  const json &br = base["reference"], &cr = cur["reference"];
  r.notes.push_back(fmt::format("reference sgemm: baseline {:.1f} GFLOP/s, current {:.1f} GFLOP/s",
                                br["sgemm"]["gflops"].get<double>(), cr["sgemm"]["gflops"].get<double>()));
  for (const char* k : {"copy", "cache_copy"}) {
    r.notes.push_back(fmt::format("reference {}: baseline {:.1f} GB/s, current {:.1f} GB/s", k,
                                  br[k]["gbps"].get<double>(), cr[k]["gbps"].get<double>()));
  }
  return r;
}

std::string format_compare(const CompareResult& r, const CompareOptions& opt) {
  std::string out = fmt::format(
      "Each figure is its time over the same round's reference time (median over rounds; lower is faster).\n"
      "A regression: slower by more than {:.0f}% and by more than the noise, the larger of the two runs' spreads\n"
      "(3 x 1.4826 x the median absolute deviation of the per-round ratios, over their median).\n\n",
      100 * opt.threshold);
  out += "| figure | baseline | current | change | noise | verdict |\n| --- | --- | --- | --- | --- | --- |\n";
  for (const CompareRow& row : r.rows) {
    if (row.verdict.rfind("only-in", 0) == 0) {
      out += fmt::format("| {} | | | | | {} |\n", row.figure, row.verdict);
      continue;
    }
    out += fmt::format("| {} | {:.4g} | {:.4g} | {:+.1f}% | {:.1f}% | {} |\n", row.figure, row.baseline, row.current,
                       100 * row.change, 100 * row.noise, row.verdict);
  }
  out += "\n";
  for (const std::string& n : r.notes) out += n + "\n";
  return out;
}

}  // namespace acx::bench
