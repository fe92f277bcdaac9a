#include "kernels/episode_stats.h"

namespace acx::cpu_kernels {

void accumulate_episode_stats(const EpisodeStatsArgs& a) {
  const int64_t items = a.n_agents * episode_stats_chunks(a.envs_per_agent);
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < items; ++j) episode_chunk_at(a, j);
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < a.n_agents; ++k) episode_finish_at(a, k);
}

}  // namespace acx::cpu_kernels
