// episode_stats.cu: the two passes of episode_stats.h, one thread per
// (agent, chunk), then one per agent.
#include "kernels/runtime/device_api.h"
#include "kernels/episode_stats.h"

namespace acx {

namespace {

constexpr int kBlock = 64;

__global__ void episode_chunks_kernel(EpisodeStatsArgs a, int64_t n_items) {
  ACX_GRID_STRIDE_LOOP(j, n_items) episode_chunk_at(a, j);
}

__global__ void episode_finish_kernel(EpisodeStatsArgs a) {
  const int64_t k = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (k < a.n_agents) episode_finish_at(a, k);
}

}  // namespace

namespace cuda_kernels {

void accumulate_episode_stats(const EpisodeStatsArgs& a, void* stream) {
  const int64_t items = a.n_agents * episode_stats_chunks(a.envs_per_agent);
  ACX_LAUNCH(episode_chunks_kernel, grid_for(items, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream), a, items);
  ACX_LAUNCH(episode_finish_kernel, static_cast<unsigned>(ceil_div(a.n_agents, kBlock)), kBlock, 0,
             static_cast<cudaStream_t>(stream), a);
}

}  // namespace cuda_kernels
}  // namespace acx
