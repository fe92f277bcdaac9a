// episode_stats.cu: one thread per agent; see episode_stats.h.
#include "kernels/runtime/device_api.h"
#include "kernels/episode_stats.h"

namespace acx {

namespace {

constexpr int kBlock = 64;

__global__ void episode_stats_kernel(EpisodeStatsArgs a) {
  const int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (k < a.n_agents) episode_stats_at(a, k);
}

}  // namespace

namespace cuda_kernels {

void accumulate_episode_stats(const EpisodeStatsArgs& a, void* stream) {
  ACX_LAUNCH(episode_stats_kernel, static_cast<unsigned>(ceil_div(a.n_agents, kBlock)), kBlock, 0,
             static_cast<cudaStream_t>(stream), a);
}

}  // namespace cuda_kernels
}  // namespace acx
