// libFuzzer target: safetensors bytes, as a checkpoint file would hold them.
// Every input must either load (and then every tensor must be as large as
// its header says) or throw acx::Error / acx::UsageError; a crash, a hang,
// a sanitizer report or another exception is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "host/io/safetensors.h"
#include "kernels/runtime/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto f = acx::safetensors::parse_safetensors(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    for (const auto& t : f.tensors()) {
      if (t.data.size() != static_cast<size_t>(t.numel()) * acx::safetensors::dtype_size(t.dtype)) __builtin_trap();
    }
  } catch (const acx::Error&) {
  }
  return 0;
}
