// libFuzzer target: the training config with its schema. The input's first
// line is one --set argument, the rest a TOML file. Every input is accepted
// (and then the resolved TOML reads back to the same config) or refused
// with acx::UsageError.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "host/io/config.h"
#include "host/learn/train_config.h"
#include "kernels/runtime/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const acx::ConfigSchema schema = acx::train_schema();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t nl = text.find('\n');
  acx::Config c(schema);
  try {
    c.load_toml_string(nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1), "fuzz.toml");
    c.apply_override(text.substr(0, nl));
  } catch (const acx::UsageError&) {
    return 0;
  }
  // What was accepted writes out and reads back as the same config.
  acx::Config back(schema);
  back.load_toml_string(c.to_toml(), "resolved.toml");
  if (back.to_toml() != c.to_toml()) __builtin_trap();
  return 0;
}
