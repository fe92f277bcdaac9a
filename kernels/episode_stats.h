// episode_stats.h: per-agent sums of the returns and lengths of the episodes
// that ended at this step, accumulated on the device so that the training
// loop never copies per-env flags to the host; the host reads the sums (and
// resets them) only when it logs. One thread per agent adds its envs in
// order: deterministic, no atomics. K is small; the work is n_envs adds.
#pragma once

#include <cstdint>

#include "kernels/runtime/common.h"
#include "kernels/runtime/device.h"

namespace acx {

struct EpisodeStatsArgs {
  int n_agents;                 // K
  int64_t envs_per_agent;       // N: env i of agent k is k * N + i
  const uint8_t* terminated;    // (K * N)
  const uint8_t* truncated;     // (K * N)
  const float* done_return;     // (K * N) valid where terminated | truncated
  const int32_t* done_length;   // (K * N)
  double* sums;                 // (K, 3): episodes ended, sum of returns, sum of lengths
};

ACX_HD void episode_stats_at(const EpisodeStatsArgs& a, int64_t k) {
  double n = 0, ret = 0, len = 0;
  for (int64_t i = k * a.envs_per_agent; i < (k + 1) * a.envs_per_agent; ++i) {
    if (a.terminated[i] | a.truncated[i]) {
      n += 1;
      ret += a.done_return[i];
      len += a.done_length[i];
    }
  }
  a.sums[3 * k + 0] += n;
  a.sums[3 * k + 1] += ret;
  a.sums[3 * k + 2] += len;
}

namespace ops {
void accumulate_episode_stats(const Device& dev, const EpisodeStatsArgs& a);
}
namespace cpu_kernels {
void accumulate_episode_stats(const EpisodeStatsArgs& a);
}
namespace cuda_kernels {
void accumulate_episode_stats(const EpisodeStatsArgs& a, void* stream);
}

}  // namespace acx
