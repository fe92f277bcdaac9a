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
  ACX_USAGE_CHECK(base["config"].value("metric", "time") == cur["config"].value("metric", "time"),
                  "the runs differ in metric: one measured time, the other counted instructions");
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
    row.baseline = bf["gate"]["ratio"].get<double>();
    row.current = cf["gate"]["ratio"].get<double>();
    row.rounds = cf["gate"]["rounds"].get<int>();
    row.change = row.current / row.baseline - 1.0;
    if (row.change > opt.threshold) {
      row.verdict = "REGRESSION";
    } else if (row.change < -opt.threshold) {
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
  if (cur["config"].value("metric", "time") == "instructions") return r;  // no references to report
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
      "Each figure is its fastest chunk over the fastest chunk of its reference, over all rounds (lower is faster),\n"
      "or its instructions per unit (--metric instructions). A regression: slower (more) by more than {:.0f}%,\n"
      "for time on a first look and again on a second one with more rounds.\n\n",
      100 * opt.threshold);
  out += "| figure | baseline | current | change | rounds | verdict |\n| --- | --- | --- | --- | --- | --- |\n";
  for (const CompareRow& row : r.rows) {
    if (row.verdict.rfind("only-in", 0) == 0) {
      out += fmt::format("| {} | | | | | {} |\n", row.figure, row.verdict);
      continue;
    }
    out += fmt::format("| {} | {:.4g} | {:.4g} | {:+.1f}% | {} | {} |\n", row.figure, row.baseline, row.current,
                       100 * row.change, row.rounds, row.verdict);
  }
  out += "\n";
  for (const std::string& n : r.notes) out += n + "\n";
  return out;
}

void merge_rounds(json& report, const json& more) {
  std::map<std::string, const json*> extra;
  for (const json& f : more["figures"]) extra[f["name"].get<std::string>()] = &f;
  for (json& f : report["figures"]) {
    const auto it = extra.find(f["name"].get<std::string>());
    if (it == extra.end()) continue;
    const json& m = *it->second;
    for (const char* k : {"samples", "best_samples"})
      for (const json& s : m["seconds"][k]) f["seconds"][k].push_back(s);
    json& g = f["gate"];
    const json& mg = m["gate"];
    g["figure_best_s"] = std::min(g["figure_best_s"].get<double>(), mg["figure_best_s"].get<double>());
    g["reference_best_s"] = std::min(g["reference_best_s"].get<double>(), mg["reference_best_s"].get<double>());
    g["ratio"] = g["figure_best_s"].get<double>() / g["reference_best_s"].get<double>();
    g["rounds"] = g["rounds"].get<int>() + mg["rounds"].get<int>();
    g["second_look"] = true;
  }
}

}  // namespace acx::bench
