// td_target.cu: one thread per (agent, sample); see td_target.h.
#include "kernels/runtime/device_api.h"
#include "kernels/td_target.h"

namespace acx {

namespace {

constexpr int kBlock = 256;

__global__ void td_target_kernel(TdTargetArgs a) {
  const int64_t n = a.n_agents * a.batch;
  ACX_GRID_STRIDE_LOOP(i, n) {
    td_target_at(a, i);
  }
}

}  // namespace

namespace cuda_kernels {

void td_target(const TdTargetArgs& a, void* stream) {
  ACX_LAUNCH(td_target_kernel, grid_for(a.n_agents * a.batch, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream),
             a);
}

}  // namespace cuda_kernels
}  // namespace acx
