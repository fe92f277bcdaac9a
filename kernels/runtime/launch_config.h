// launch_config.h: the launch limits launchers share, settable by tests.
// Launchers cap their grids at max_grid_blocks() and cover the rest with
// grid-stride loops; tests lower the cap so that those loops run at sizes
// the SIMT emulation can afford.
#pragma once

#include <cstdint>

namespace acx {

int64_t max_grid_blocks();
void set_max_grid_blocks(int64_t n);  // n >= 1; 65535 by default

// Sets the cap for a scope (tests).
class ScopedMaxGridBlocks {
 public:
  explicit ScopedMaxGridBlocks(int64_t n) : saved_(max_grid_blocks()) { set_max_grid_blocks(n); }
  ~ScopedMaxGridBlocks() { set_max_grid_blocks(saved_); }
  ScopedMaxGridBlocks(const ScopedMaxGridBlocks&) = delete;
  ScopedMaxGridBlocks& operator=(const ScopedMaxGridBlocks&) = delete;

 private:
  int64_t saved_;
};

}  // namespace acx
