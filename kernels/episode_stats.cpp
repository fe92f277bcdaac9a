#include "kernels/episode_stats.h"

#include "kernels/runtime/buffer.h"
#include "kernels/runtime/dispatch.h"

namespace acx::ops {

void accumulate_episode_stats(const Device& dev, const EpisodeStatsArgs& args) {
  EpisodeStatsArgs a = args;
  Buffer<double> local;  // without the caller's scratch: this call's own, waited for before it goes
  if (!a.partial) {
    local = Buffer<double>(dev, static_cast<size_t>(episode_stats_scratch(a.n_agents, a.envs_per_agent)));
    a.partial = local.data();
  }
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::accumulate_episode_stats(a, dev.stream()));
    if (!args.partial) dev.synchronize();
  } else {
    cpu_kernels::accumulate_episode_stats(a);
  }
}

}  // namespace acx::ops
