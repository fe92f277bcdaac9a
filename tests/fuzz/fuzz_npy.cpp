// libFuzzer target: .npy bytes (acx rollout --init / --actions). Every input
// parses to an array whose data matches its shape, or throws acx::UsageError.
#include <cstddef>
#include <cstdint>

#include "host/io/npy.h"
#include "kernels/runtime/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const acx::npy::Array a = acx::npy::parse(data, size, "fuzz");
    if (a.data.size() != static_cast<size_t>(a.size()) * acx::npy::dtype_size(a.dtype)) __builtin_trap();
    (void)a.to_float64();
  } catch (const acx::UsageError&) {
  }
  return 0;
}
