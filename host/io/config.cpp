// config.cpp: see config.h. TOML parsing is toml++ (Debian's
// libtomlplusplus-dev); this file maps its tree onto the flat schema and
// words the errors.
#include "host/io/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <map>
#include <sstream>

#include "host/io/read_file.h"
#include "kernels/runtime/error.h"

namespace acx {
namespace {

bool valid_key(std::string_view key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') return false;
  char previous = '.';
  for (char c : key) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!word && c != '.') return false;
    if (c == '.' && previous == '.') return false;
    previous = c;
  }
  return true;
}

std::string_view last_word(std::string_view key) {
  const size_t dot = key.rfind('.');
  return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

std::string_view parent_of(std::string_view key) {
  const size_t dot = key.rfind('.');
  return dot == std::string_view::npos ? std::string_view() : key.substr(0, dot);
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// Candidates close to `key`: a small edit distance on the whole key, or the
// same (or nearly the same) last word under another table.
std::vector<std::string> rank_close(std::string_view key, const std::vector<std::string>& candidates, size_t max) {
  std::vector<std::pair<size_t, std::string>> scored;
  const std::string_view key_last = last_word(key);
  for (const std::string& c : candidates) {
    const size_t d_full = edit_distance(key, c);
    const size_t d_last = edit_distance(key_last, last_word(c));
    const bool close_full = d_full <= std::max<size_t>(1, key.size() / 5);
    const bool close_last = d_last <= std::max<size_t>(1, key_last.size() / 4);
    if (close_full || close_last) scored.emplace_back(std::min(d_full, d_last + 1), c);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && i < max; ++i) out.push_back(scored[i].second);
  return out;
}

std::string suggestion(const std::vector<std::string>& matches) {
  if (matches.empty()) return " (docs/training.md lists every setting)";
  if (matches.size() == 1) return " (did you mean " + matches[0] + "?)";
  std::string s = " (did you mean one of ";
  for (size_t i = 0; i < matches.size(); ++i) s += (i ? ", " : "") + matches[i];
  return s + "?)";
}

// Shortest text that reads back as the same double, always with a '.', 'e',
// "inf" or "nan" so TOML sees a float.
std::string float_text(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", x);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string toml_string_literal(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) out += fmt::format("\\u{:04X}", static_cast<unsigned char>(c));
        else out += c;
    }
  }
  return out + "\"";
}

ConfigType type_of(const ConfigValue& v) { return static_cast<ConfigType>(v.index()); }

// A value as an error message shows it: its TOML text (strings escaped),
// cut after kQuotedMaxBytes with a note, so a 50 MB value is not echoed whole.
std::string message_value(const ConfigValue& v) { return printable(config_value_toml(v), kQuotedMaxBytes); }

// Every float setting feeds float32 math: finite, and within float32's range.
std::string float_violation(double x) {
  if (std::isnan(x)) return "must be a number, not nan";
  if (!std::isfinite(x) || std::fabs(x) > FLT_MAX) return "must be a finite number within float32's range";
  return "";
}

bool is_list(ConfigType t) { return t == ConfigType::kIntList || t == ConfigType::kFloatList; }

// "[a, b, c]", each element by text.
template <class T, class Text>
std::string toml_list(const std::vector<T>& list, Text text) {
  std::string s = "[";
  for (size_t i = 0; i < list.size(); ++i) s += (i ? ", " : "") + text(list[i]);
  return s + "]";
}

// "" if `value` is acceptable for `entry`, else what is wrong ("must be ...").
std::string violation(const ConfigEntry& entry, const ConfigValue& value) {
  switch (entry.type) {
    case ConfigType::kFloat: {
      const double x = std::get<double>(value);
      if (const std::string f = float_violation(x); !f.empty()) return f;
      if (!entry.range.contains(x)) return "must be " + entry.range.describe();
      return "";
    }
    case ConfigType::kInt:
      if (!entry.range.contains(static_cast<double>(std::get<int64_t>(value)))) return "must be " + entry.range.describe();
      return "";
    case ConfigType::kIntList:
      for (int64_t x : std::get<std::vector<int64_t>>(value))
        if (!entry.range.contains(static_cast<double>(x))) return "must have every element " + entry.range.describe();
      return "";
    case ConfigType::kFloatList:
      for (double x : std::get<std::vector<double>>(value)) {
        if (const std::string f = float_violation(x); !f.empty()) return "every element " + f;
        if (!entry.range.contains(x)) return "must have every element " + entry.range.describe();
      }
      return "";
    case ConfigType::kString: {
      if (entry.choices.empty()) return "";
      const std::string& s = std::get<std::string>(value);
      if (std::find(entry.choices.begin(), entry.choices.end(), s) != entry.choices.end()) return "";
      std::string list;
      for (size_t i = 0; i < entry.choices.size(); ++i) list += (i ? ", " : "") + entry.choices[i];
      return "must be one of " + list;
    }
    case ConfigType::kBool: return "";
  }
  return "";
}

// An integral double as int64, if it is one.
bool integral(double x, int64_t* out) {
  if (!std::isfinite(x) || x != std::floor(x) || std::fabs(x) >= 9.2e18) return false;
  *out = static_cast<int64_t>(x);
  return true;
}

// ---- TOML nodes to values --------------------------------------------------------------

std::string describe_node(const toml::node& node) {
  std::ostringstream text;
  const char* what = "a value";
  switch (node.type()) {
    case toml::node_type::string: what = "a string"; break;
    case toml::node_type::integer: what = "an integer"; break;
    case toml::node_type::floating_point: what = "a float"; break;
    case toml::node_type::boolean: what = "a bool"; break;
    case toml::node_type::array: what = "a list"; break;
    case toml::node_type::table: return "a table";
    default: what = "a date/time"; break;
  }
  node.visit([&](auto&& n) { text << n; });
  return std::string(what) + " (" + printable(text.str(), 40) + ")";
}

std::string expected_text(ConfigType type) {
  switch (type) {
    case ConfigType::kFloat: return "a float";
    case ConfigType::kInt: return "an integer";
    case ConfigType::kBool: return "true or false";
    case ConfigType::kString: return "a string";
    case ConfigType::kIntList: return "a list of integers";
    case ConfigType::kFloatList: return "a list of numbers";
  }
  return "?";
}

// The node as a value of `type`; false if the node is of another type.
bool node_value(const toml::node& node, ConfigType type, ConfigValue* out) {
  switch (type) {
    case ConfigType::kFloat:
      if (auto v = node.value_exact<double>()) return *out = *v, true;
      if (auto v = node.value_exact<int64_t>()) return *out = static_cast<double>(*v), true;
      return false;
    case ConfigType::kInt: {
      if (auto v = node.value_exact<int64_t>()) return *out = *v, true;
      int64_t i = 0;
      if (auto v = node.value_exact<double>(); v && integral(*v, &i)) return *out = i, true;
      return false;
    }
    case ConfigType::kBool:
      if (auto v = node.value_exact<bool>()) return *out = *v, true;
      return false;
    case ConfigType::kString:
      if (auto v = node.value_exact<std::string>()) return *out = *v, true;
      return false;
    case ConfigType::kIntList: {
      const toml::array* array = node.as_array();
      if (!array) return false;
      std::vector<int64_t> list;
      for (const toml::node& element : *array) {
        int64_t i = 0;
        if (auto v = element.value_exact<int64_t>()) list.push_back(*v);
        else if (auto d = element.value_exact<double>(); d && integral(*d, &i)) list.push_back(i);
        else return false;
      }
      return *out = std::move(list), true;
    }
    case ConfigType::kFloatList: {
      const toml::array* array = node.as_array();
      if (!array) return false;
      std::vector<double> list;
      for (const toml::node& element : *array) {
        if (auto d = element.value_exact<double>()) list.push_back(*d);
        else if (auto v = element.value_exact<int64_t>()) list.push_back(static_cast<double>(*v));
        else return false;
      }
      return *out = std::move(list), true;
    }
  }
  return false;
}

std::string place(const std::string& file, const toml::source_region& where) {
  return fmt::format("{}:{}:{}", file, where.begin.line, where.begin.column);
}

// ---- --set text to values ----------------------------------------------------------------

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool parse_double(std::string_view s, double* out) {
  std::string clean;
  for (char c : s) if (c != '_') clean += c;  // 1_000_000, as TOML allows
  if (!clean.empty() && clean.front() == '+') clean.erase(0, 1);
  if (clean.empty()) return false;
  const auto [end, ec] = std::from_chars(clean.data(), clean.data() + clean.size(), *out);
  return ec == std::errc() && end == clean.data() + clean.size();
}

bool parse_int(std::string_view s, int64_t* out) {
  std::string clean;
  for (char c : s) if (c != '_') clean += c;
  if (!clean.empty() && clean.front() == '+') clean.erase(0, 1);
  if (clean.empty()) return false;
  const auto [end, ec] = std::from_chars(clean.data(), clean.data() + clean.size(), *out);
  if (ec == std::errc() && end == clean.data() + clean.size()) return true;
  double d = 0;  // 2e6 for two million steps
  return parse_double(s, &d) && integral(d, out);
}

// "1,2,3" or "[1, 2, 3]" ("[]": empty), each element by parse.
template <class T>
bool parse_list(std::string_view text, bool (*parse)(std::string_view, T*), std::vector<T>* list) {
  if (!text.empty() && text.front() == '[') {
    if (text.back() != ']') return false;
    text = trim(text.substr(1, text.size() - 2));
  }
  while (!text.empty()) {
    const size_t comma = text.find(',');
    T x{};
    if (!parse(trim(text.substr(0, comma)), &x)) return false;
    list->push_back(x);
    if (comma == std::string_view::npos) break;
    text = trim(text.substr(comma + 1));
    if (text.empty()) return false;  // "1,"
  }
  return true;
}

bool text_value(std::string_view text, ConfigType type, ConfigValue* out) {
  switch (type) {
    case ConfigType::kFloat: {
      double d = 0;
      return parse_double(text, &d) ? (*out = d, true) : false;
    }
    case ConfigType::kInt: {
      int64_t i = 0;
      return parse_int(text, &i) ? (*out = i, true) : false;
    }
    case ConfigType::kBool:
      if (text == "true") return *out = true, true;
      if (text == "false") return *out = false, true;
      return false;
    case ConfigType::kString:
      if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') && text.back() == text.front())
        text = text.substr(1, text.size() - 2);
      return *out = std::string(text), true;
    case ConfigType::kIntList: {
      std::vector<int64_t> list;
      return parse_list(text, parse_int, &list) ? (*out = std::move(list), true) : false;
    }
    case ConfigType::kFloatList: {
      std::vector<double> list;
      return parse_list(text, parse_double, &list) ? (*out = std::move(list), true) : false;
    }
  }
  return false;
}

}  // namespace

// ---- Range ----------------------------------------------------------------------------------

bool Range::unbounded() const { return std::isinf(lo) && lo < 0 && std::isinf(hi) && hi > 0; }

bool Range::contains(double x) const {
  if (lo_open ? !(x > lo) : !(x >= lo)) return false;
  if (hi_open ? !(x < hi) : !(x <= hi)) return false;
  return true;
}

std::string Range::describe() const {
  const bool has_lo = !(std::isinf(lo) && lo < 0), has_hi = !(std::isinf(hi) && hi > 0);
  if (has_lo && has_hi)
    return fmt::format("in {}{}, {}{}", lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
  if (has_lo) return fmt::format("{} {}", lo_open ? ">" : ">=", lo);
  if (has_hi) return fmt::format("{} {}", hi_open ? "<" : "<=", hi);
  return "any number";
}

const char* config_type_name(ConfigType type) {
  switch (type) {
    case ConfigType::kFloat: return "float";
    case ConfigType::kInt: return "int";
    case ConfigType::kBool: return "bool";
    case ConfigType::kString: return "string";
    case ConfigType::kIntList: return "int list";
    case ConfigType::kFloatList: return "float list";
  }
  return "?";
}

std::string config_value_toml(const ConfigValue& value) {
  switch (type_of(value)) {
    case ConfigType::kFloat: return float_text(std::get<double>(value));
    case ConfigType::kInt: return std::to_string(std::get<int64_t>(value));
    case ConfigType::kBool: return std::get<bool>(value) ? "true" : "false";
    case ConfigType::kString: return toml_string_literal(std::get<std::string>(value));
    case ConfigType::kIntList:
      return toml_list(std::get<std::vector<int64_t>>(value), [](int64_t x) { return std::to_string(x); });
    case ConfigType::kFloatList: return toml_list(std::get<std::vector<double>>(value), float_text);
  }
  return "?";
}

// ---- ConfigSchema ---------------------------------------------------------------------------

ConfigSchema& ConfigSchema::add(ConfigEntry entry) {
  ACX_CHECK(valid_key(entry.key), "config key '" + entry.key + "' is not lowercase words of [a-z0-9_] joined by '.'");
  ACX_CHECK(!index_.count(entry.key), "config key '" + entry.key + "' is declared twice");
  for (const ConfigEntry& other : entries_) {
    const auto is_table_of = [](const std::string& table, const std::string& key) {
      return key.size() > table.size() && key.compare(0, table.size(), table) == 0 && key[table.size()] == '.';
    };
    ACX_CHECK(!is_table_of(other.key, entry.key) && !is_table_of(entry.key, other.key),
              "config keys '" + other.key + "' and '" + entry.key + "' cannot both exist (one would be a table)");
  }
  ACX_CHECK(type_of(entry.default_value) == entry.type, "config key '" + entry.key + "': default of the wrong type");
  const std::string why = violation(entry, entry.default_value);
  ACX_CHECK(why.empty(), "config key '" + entry.key + "': the default " + config_value_toml(entry.default_value) + " " + why);
  ACX_CHECK(entry.doc.find('\n') == std::string::npos, "config key '" + entry.key + "': the doc must be one line");
  index_[entry.key] = entries_.size();
  entries_.push_back(std::move(entry));
  return *this;
}

ConfigSchema& ConfigSchema::add_float(std::string key, double default_value, std::string doc, Range range) {
  return add({std::move(key), ConfigType::kFloat, default_value, std::move(doc), range, {}});
}
ConfigSchema& ConfigSchema::add_int(std::string key, int64_t default_value, std::string doc, Range range) {
  return add({std::move(key), ConfigType::kInt, default_value, std::move(doc), range, {}});
}
ConfigSchema& ConfigSchema::add_bool(std::string key, bool default_value, std::string doc) {
  return add({std::move(key), ConfigType::kBool, default_value, std::move(doc), {}, {}});
}
ConfigSchema& ConfigSchema::add_string(std::string key, std::string default_value, std::string doc,
                                       std::vector<std::string> choices) {
  return add({std::move(key), ConfigType::kString, std::move(default_value), std::move(doc), {}, std::move(choices)});
}
ConfigSchema& ConfigSchema::add_int_list(std::string key, std::vector<int64_t> default_value, std::string doc,
                                         Range element_range) {
  return add({std::move(key), ConfigType::kIntList, std::move(default_value), std::move(doc), element_range, {}});
}
ConfigSchema& ConfigSchema::add_float_list(std::string key, std::vector<double> default_value, std::string doc,
                                           Range element_range) {
  return add({std::move(key), ConfigType::kFloatList, std::move(default_value), std::move(doc), element_range, {}});
}

const ConfigEntry* ConfigSchema::find(std::string_view key) const {
  const auto it = index_.find(std::string(key));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

std::vector<std::string> ConfigSchema::close_matches(std::string_view key, size_t max) const {
  std::vector<std::string> keys;
  for (const ConfigEntry& e : entries_) keys.push_back(e.key);
  return rank_close(key, keys, max);
}

namespace {
std::string validator_text(const ConfigEntry& e) {
  if (!e.choices.empty()) {
    std::string s = "one of ";
    for (size_t i = 0; i < e.choices.size(); ++i) s += (i ? ", " : "") + e.choices[i];
    return s;
  }
  if ((e.type == ConfigType::kFloat || e.type == ConfigType::kInt) && !e.range.unbounded()) return e.range.describe();
  if (is_list(e.type) && !e.range.unbounded()) return "each " + e.range.describe();
  return "";
}

std::string markdown_escape(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else out += c;
  }
  return out;
}
}  // namespace

std::string ConfigSchema::markdown_table() const {
  std::string out = "| key | type | default | doc |\n| --- | --- | --- | --- |\n";
  for (const ConfigEntry& e : entries_) {
    std::string doc = markdown_escape(e.doc);
    // Docs are one-line phrases; end them so the constraint reads as its own sentence.
    if (!doc.empty() && doc.back() != '.') doc += '.';
    const std::string v = validator_text(e);
    if (!e.choices.empty()) {
      doc += " One of:";
      for (size_t i = 0; i < e.choices.size(); ++i) doc += (i ? ", `" : " `") + markdown_escape(e.choices[i]) + "`";
      doc += ".";
    } else if (is_list(e.type) && !e.range.unbounded()) {
      doc += " Each element must be " + markdown_escape(e.range.describe()) + ".";
    } else if (!v.empty()) {
      doc += " Must be " + markdown_escape(v) + ".";
    }
    out += fmt::format("| `{}` | {} | `{}` | {} |\n", e.key, config_type_name(e.type),
                       markdown_escape(config_value_toml(e.default_value)), doc);
  }
  return out;
}

// ---- Config ---------------------------------------------------------------------------------

Config::Config(ConfigSchema schema) : schema_(std::move(schema)) {
  for (const ConfigEntry& e : schema_.entries()) {
    values_.push_back(e.default_value);
    origins_.push_back("default");
  }
}

size_t Config::index_of(std::string_view key) const {
  const ConfigEntry* e = schema_.find(key);
  if (!e)
    throw_error(__FILE__, __LINE__,
                "config key '" + std::string(key) + "' is not declared in the schema" +
                    suggestion(schema_.close_matches(key)));
  return static_cast<size_t>(e - schema_.entries().data());
}

const ConfigValue& Config::get_typed(std::string_view key, ConfigType type) const {
  const size_t i = index_of(key);
  const ConfigType declared = schema_.entries()[i].type;
  if (declared != type)
    throw_error(__FILE__, __LINE__,
                "config key '" + std::string(key) + "' is a " + config_type_name(declared) + ", read as a " +
                    config_type_name(type));
  return values_[i];
}

double Config::get_float(std::string_view key) const { return std::get<double>(get_typed(key, ConfigType::kFloat)); }
int64_t Config::get_int(std::string_view key) const { return std::get<int64_t>(get_typed(key, ConfigType::kInt)); }
int Config::get_int32(std::string_view key) const {
  const int64_t v = get_int(key);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    throw_error(__FILE__, __LINE__,
                "config key '" + std::string(key) + "' = " + std::to_string(v) + " does not fit in an int");
  return static_cast<int>(v);
}
bool Config::get_bool(std::string_view key) const { return std::get<bool>(get_typed(key, ConfigType::kBool)); }
const std::string& Config::get_string(std::string_view key) const {
  return std::get<std::string>(get_typed(key, ConfigType::kString));
}
const std::vector<int64_t>& Config::get_int_list(std::string_view key) const {
  return std::get<std::vector<int64_t>>(get_typed(key, ConfigType::kIntList));
}
const std::vector<double>& Config::get_float_list(std::string_view key) const {
  return std::get<std::vector<double>>(get_typed(key, ConfigType::kFloatList));
}
const ConfigValue& Config::get(std::string_view key) const { return values_[index_of(key)]; }
const std::string& Config::origin(std::string_view key) const { return origins_[index_of(key)]; }

void Config::set(std::string_view key, ConfigValue value, const std::string& origin) {
  const size_t i = index_of(key);
  const ConfigEntry& e = schema_.entries()[i];
  if (e.type == ConfigType::kFloat && type_of(value) == ConfigType::kInt)
    value = static_cast<double>(std::get<int64_t>(value));
  if (type_of(value) != e.type)
    throw_error(__FILE__, __LINE__,
                "config key '" + e.key + "' is a " + config_type_name(e.type) + ", set from code as a " +
                    config_type_name(type_of(value)));
  const std::string why = violation(e, value);
  if (!why.empty()) throw UsageError(origin + ": " + e.key + " = " + message_value(value) + " " + why);
  values_[i] = std::move(value);
  origins_[i] = origin;
}

void Config::load_toml(const std::string& path) { load_toml_string(read_file(path, kMaxFileBytes, "config file"), path); }

void Config::load_toml_string(std::string_view text, const std::string& source_name) {
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(source_name));
  } catch (const toml::parse_error& e) {
    throw UsageError(place(source_name, e.source()) + ": TOML syntax error: " + std::string(e.description()));
  }

  std::vector<std::string> tables;  // every table some key lives in, for suggestions
  for (const ConfigEntry& e : schema_.entries()) {
    for (std::string_view p = parent_of(e.key); !p.empty(); p = parent_of(p)) tables.emplace_back(p);
  }
  std::sort(tables.begin(), tables.end());
  tables.erase(std::unique(tables.begin(), tables.end()), tables.end());

  // Apply to copies: a file with an error changes nothing.
  std::vector<ConfigValue> values = values_;
  std::vector<std::string> origins = origins_;

  auto walk = [&](auto&& self, const toml::table& table, const std::string& prefix) -> void {
    for (const auto& [toml_key, node] : table) {
      const std::string key = prefix.empty() ? std::string(toml_key.str()) : prefix + "." + std::string(toml_key.str());
      const ConfigEntry* entry = schema_.find(key);
      if (const toml::table* sub = node.as_table()) {
        if (entry)
          throw UsageError(place(source_name, toml_key.source()) + ": " + key + " is a " + config_type_name(entry->type) +
                           " setting, not a table");
        if (!std::binary_search(tables.begin(), tables.end(), key))
          throw UsageError(place(source_name, toml_key.source()) + ": unknown table [" + key + "]" +
                           suggestion(rank_close(key, tables, 3)));
        self(self, *sub, key);
        continue;
      }
      if (!entry)
        throw UsageError(place(source_name, toml_key.source()) + ": unknown key " + quote_input(key) +
                         suggestion(schema_.close_matches(key)));
      ConfigValue value;
      if (!node_value(node, entry->type, &value))
        throw UsageError(place(source_name, node.source()) + ": " + key + " must be " + expected_text(entry->type) +
                         ", got " + describe_node(node));
      const std::string why = violation(*entry, value);
      if (!why.empty())
        throw UsageError(place(source_name, node.source()) + ": " + key + " = " + message_value(value) + " " + why);
      const size_t i = static_cast<size_t>(entry - schema_.entries().data());
      values[i] = std::move(value);
      origins[i] = fmt::format("{}:{}", source_name, node.source().begin.line);
    }
  };
  walk(walk, root, "");
  values_ = std::move(values);
  origins_ = std::move(origins);
}

void Config::apply_override(std::string_view assignment) {
  const std::string arg = "--set " + quote_input(assignment);
  const size_t eq = assignment.find('=');
  if (eq == std::string_view::npos)
    throw UsageError(arg + ": expected key=value, e.g. --set algo.gamma=0.98");
  const std::string key(trim(assignment.substr(0, eq)));
  const std::string_view text = trim(assignment.substr(eq + 1));
  const ConfigEntry* entry = schema_.find(key);
  if (!entry) throw UsageError(arg + ": unknown key " + quote_input(key) + suggestion(schema_.close_matches(key)));
  ConfigValue value;
  if (!text_value(text, entry->type, &value))
    throw UsageError(arg + ": " + key + " must be " + expected_text(entry->type) +
                     (entry->type == ConfigType::kIntList ? " (like 256,256)" : "") +
                     (entry->type == ConfigType::kFloatList ? " (like [3e-4, 1e-3])" : "") + ", got " +
                     quote_input(text));
  const std::string why = violation(*entry, value);
  if (!why.empty()) throw UsageError(arg + ": " + key + " = " + message_value(value) + " " + why);
  const size_t i = static_cast<size_t>(entry - schema_.entries().data());
  values_[i] = std::move(value);
  origins_[i] = "--set";
}

std::string Config::to_toml(std::string_view header_comment) const {
  std::string out;
  for (std::string_view rest = header_comment; !rest.empty();) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    out += line.empty() ? "#\n" : "# " + std::string(line) + "\n";
    if (nl == std::string_view::npos) break;
    rest = rest.substr(nl + 1);
  }
  // Group by table in order of first appearance; top-level keys first (TOML
  // puts every key after a [table] header into that table).
  std::vector<std::string> order;
  std::map<std::string, std::vector<size_t>> groups;
  for (size_t i = 0; i < schema_.entries().size(); ++i) {
    const std::string table(parent_of(schema_.entries()[i].key));
    if (!groups.count(table)) order.push_back(table);
    groups[table].push_back(i);
  }
  std::stable_partition(order.begin(), order.end(), [](const std::string& t) { return t.empty(); });
  for (const std::string& table : order) {
    if (!out.empty()) out += "\n";
    if (!table.empty()) out += "[" + table + "]\n";
    for (size_t i : groups[table]) {
      const ConfigEntry& e = schema_.entries()[i];
      std::string about = config_type_name(e.type);
      const std::string v = validator_text(e);
      if (!v.empty()) about += ", " + v;
      about += "; default " + config_value_toml(e.default_value);
      out += "# " + e.doc + " (" + about + ")\n";
      out += std::string(last_word(e.key)) + " = " + config_value_toml(values_[i]) + "\n";
    }
  }
  return out;
}

nlohmann::json Config::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  for (size_t i = 0; i < schema_.entries().size(); ++i) {
    const std::string& key = schema_.entries()[i].key;
    nlohmann::json* node = &out;
    size_t start = 0;
    for (size_t dot = key.find('.'); dot != std::string::npos; start = dot + 1, dot = key.find('.', start))
      node = &(*node)[key.substr(start, dot - start)];
    nlohmann::json& leaf = (*node)[key.substr(start)];
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, double>) {
            if (std::isfinite(v)) leaf = v;
            else leaf = float_text(v);  // JSON has no inf or nan
          } else {
            leaf = v;
          }
        },
        values_[i]);
  }
  return out;
}

}  // namespace acx
