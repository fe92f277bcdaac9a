// block_reduce.h: the deterministic block sum kernels share. Each warp adds
// its lanes with a fixed shuffle tree, warp leaders meet in shared memory,
// and thread 0 adds the warp sums in warp order: the same bits every run,
// no atomics. Device code only (include after kernels/runtime/device_api.h).
#pragma once

#include "kernels/runtime/device_api.h"

namespace acx {

// The sum of s over a block of kBlockSize threads, valid in thread 0 (0
// elsewhere). warp_sums: kBlockSize / kWarpSize doubles of shared memory.
template <int kBlockSize>
ACX_DEVICE double block_sum(double s, double* warp_sums) {
  static_assert(kBlockSize % kWarpSize == 0, "block_sum needs whole warps");
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) s += __shfl_down_sync(kFullWarpMask, s, offset);
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  if (lane == 0) warp_sums[warp] = s;
  __syncthreads();
  double total = 0;
  if (threadIdx.x == 0) {
    for (int w = 0; w < kBlockSize / kWarpSize; ++w) total += warp_sums[w];
  }
  return total;
}

}  // namespace acx
