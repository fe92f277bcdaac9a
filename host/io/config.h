// config.h: the trainer's settings as one flat, schema-driven table.
//
// The trainer declares every setting once, in a ConfigSchema: a dotted key
// ("algo.gamma"), a type, a default, a one-line doc and optionally a range or
// a list of choices. Everything else follows from that declaration:
//   - a Config starts from the defaults;
//   - load_toml(FILE) merges a TOML file whose tables spell the keys
//     ([algo] gamma = 0.99, or algo.gamma = 0.99 at the top);
//   - apply_override("algo.gamma=0.98") is one `--set`;
//   - to_toml() writes every key with its doc as a comment, so the run's
//     DIR/config.toml given back as --config reproduces it;
//   - markdown_table() is the option reference in docs/training.md.
//
// Errors: what the user wrote wrong (an unknown key, with the close matches;
// a wrong type; a value out of range; TOML syntax) is acx::UsageError naming
// the file, line and column (or the --set argument) and the key. Float
// settings are finite and within float32's range: the engine computes in
// float32, and no setting gives infinity a meaning. Echoed values are escaped
// and cut (acx::quote_input). Asking the
// Config for a key the schema does not have, or with the wrong type, is a
// programming error: acx::Error.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace acx {

enum class ConfigType { kFloat, kInt, kBool, kString, kIntList, kFloatList };
const char* config_type_name(ConfigType type);  // "float", "int", "bool", "string", "int list", "float list"

// In the order of ConfigType.
using ConfigValue = std::variant<double, int64_t, bool, std::string, std::vector<int64_t>, std::vector<double>>;

// A numeric interval for float and int settings (for lists: each element).
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;

  static Range closed(double lo, double hi) { return {lo, hi, false, false}; }     // [lo, hi]
  static Range at_least(double lo) { return {lo, std::numeric_limits<double>::infinity(), false, false}; }
  static Range above(double lo) { return {lo, std::numeric_limits<double>::infinity(), true, false}; }  // (lo, inf)
  static Range left_open(double lo, double hi) { return {lo, hi, true, false}; }   // (lo, hi]

  bool unbounded() const;
  bool contains(double x) const;
  std::string describe() const;  // "in [0, 1]", ">= 1", "> 0", "in (0, 1]"
};

struct ConfigEntry {
  std::string key;  // "algo.gamma": lowercase words of [a-z0-9_], joined by '.'
  ConfigType type = ConfigType::kFloat;
  ConfigValue default_value;
  std::string doc;                   // one line, for the TOML comment and the docs table
  Range range;                       // float, int, int list
  std::vector<std::string> choices;  // string; empty: any string
};

class ConfigSchema {
 public:
  // Each add_* checks the key (well-formed, not yet declared, not a table of
  // another key) and that the default passes its own validator: acx::Error.
  ConfigSchema& add_float(std::string key, double default_value, std::string doc, Range range = {});
  ConfigSchema& add_int(std::string key, int64_t default_value, std::string doc, Range range = {});
  ConfigSchema& add_bool(std::string key, bool default_value, std::string doc);
  ConfigSchema& add_string(std::string key, std::string default_value, std::string doc,
                           std::vector<std::string> choices = {});
  ConfigSchema& add_int_list(std::string key, std::vector<int64_t> default_value, std::string doc,
                             Range element_range = {});
  ConfigSchema& add_float_list(std::string key, std::vector<double> default_value, std::string doc,
                               Range element_range = {});

  const std::vector<ConfigEntry>& entries() const { return entries_; }
  const ConfigEntry* find(std::string_view key) const;  // nullptr if absent
  // Declared keys close to `key` (edit distance, or the same last word under
  // another table), best first, at most `max`.
  std::vector<std::string> close_matches(std::string_view key, size_t max = 3) const;

  // | key | type | default | doc |, with the range or choices after the doc.
  std::string markdown_table() const;

 private:
  ConfigSchema& add(ConfigEntry entry);
  std::vector<ConfigEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

// The value of a setting as TOML writes it: 0.99, 256, true, "td3", [256, 256].
std::string config_value_toml(const ConfigValue& value);

class Config {
 public:
  explicit Config(ConfigSchema schema);  // every key at its default

  const ConfigSchema& schema() const { return schema_; }

  // Getters: acx::Error for an undeclared key or another type.
  double get_float(std::string_view key) const;
  int64_t get_int(std::string_view key) const;
  // An int setting read into an int: acx::Error if it does not fit (the
  // schema's range should have kept it within; this catches a key whose
  // range does not).
  int get_int32(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  const std::vector<int64_t>& get_int_list(std::string_view key) const;
  const std::vector<double>& get_float_list(std::string_view key) const;
  const ConfigValue& get(std::string_view key) const;

  // Sets a value from code (a CLI flag that is also a setting, like --seed):
  // validated like a file's value; `origin` names it in errors ("--seed").
  void set(std::string_view key, ConfigValue value, const std::string& origin);

  // Merges a TOML file over the current values. Keys not in the file keep
  // theirs. The file is at most kMaxFileBytes (host/io/read_file.h).
  static constexpr uint64_t kMaxFileBytes = uint64_t{16} << 20;  // 16 MiB
  void load_toml(const std::string& path);
  // The same for TOML text; `source_name` stands for the file in errors.
  void load_toml_string(std::string_view text, const std::string& source_name);
  // One --set: "key=value", the value parsed by the key's type: 0.98, 1e-3,
  // 42, true/false, a word (quotes optional), 256,256 or [256, 256].
  void apply_override(std::string_view assignment);

  // Where the value came from: "default", "FILE:LINE", "--set", or an origin.
  const std::string& origin(std::string_view key) const;

  // The resolved config: a header comment (each line prefixed with "# "),
  // then every key in schema order grouped by table, its doc as a comment.
  std::string to_toml(std::string_view header_comment = {}) const;
  // {"algo": {"gamma": 0.99, ...}, ...}: for summary.json.
  nlohmann::json to_json() const;

 private:
  size_t index_of(std::string_view key) const;  // acx::Error with close matches
  const ConfigValue& get_typed(std::string_view key, ConfigType type) const;

  ConfigSchema schema_;
  std::vector<ConfigValue> values_;  // parallel to schema_.entries()
  std::vector<std::string> origins_;
};

}  // namespace acx
