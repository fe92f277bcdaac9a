#include "kernels/episode_stats.h"

namespace acx::cpu_kernels {

void accumulate_episode_stats(const EpisodeStatsArgs& a) {
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < a.n_agents; ++k) episode_stats_at(a, k);
}

}  // namespace acx::cpu_kernels
