#include "kernels/episode_stats.h"

#include "kernels/runtime/dispatch.h"

namespace acx::ops {

void accumulate_episode_stats(const Device& dev, const EpisodeStatsArgs& a) {
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::accumulate_episode_stats(a, dev.stream()));
  } else {
    cpu_kernels::accumulate_episode_stats(a);
  }
}

}  // namespace acx::ops
