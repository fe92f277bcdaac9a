#include "kernels/runtime/launch_config.h"

#include <atomic>

#include "kernels/runtime/error.h"

namespace acx {

namespace {
std::atomic<int64_t> g_max_grid_blocks{65535};
}

int64_t max_grid_blocks() { return g_max_grid_blocks.load(std::memory_order_relaxed); }

void set_max_grid_blocks(int64_t n) {
  ACX_CHECK(n >= 1 && n <= 0x7fffffff, "grid cap out of range: " + std::to_string(n));
  g_max_grid_blocks.store(n, std::memory_order_relaxed);
}

}  // namespace acx
