// episode_stats.h: per-agent sums of the returns and lengths of the episodes
// that ended at this step, accumulated on the device so that the training
// loop never copies per-env flags to the host; the host reads the sums (and
// resets them) only when it logs.
//
// A deterministic two-pass reduction, no atomics: each agent's envs are cut
// into chunks of kEpisodeStatsChunk, one thread per (agent, chunk) sums its
// chunk in env order into `partial`, then one thread per agent adds its
// chunks in order to `sums`. The work is spread over K x chunks threads, so
// a step of a million envs costs what a chunk costs, not a million adds in
// one thread. With N <= kEpisodeStatsChunk the order of the additions is
// the single loop's.
#pragma once

#include <cstdint>

#include "kernels/runtime/common.h"
#include "kernels/runtime/device.h"

namespace acx {

constexpr int64_t kEpisodeStatsChunk = 1024;

// Chunks per agent, and the scratch the reduction needs: (K, chunks, 3) doubles.
ACX_HD int64_t episode_stats_chunks(int64_t envs_per_agent) { return ceil_div(envs_per_agent, kEpisodeStatsChunk); }
inline int64_t episode_stats_scratch(int n_agents, int64_t envs_per_agent) {
  return 3 * n_agents * episode_stats_chunks(envs_per_agent);
}

struct EpisodeStatsArgs {
  int n_agents;                 // K
  int64_t envs_per_agent;       // N: env i of agent k is k * N + i
  const uint8_t* terminated;    // (K * N)
  const uint8_t* truncated;     // (K * N)
  const float* done_return;     // (K * N) valid where terminated | truncated
  const int32_t* done_length;   // (K * N)
  double* sums;                 // (K, 3): episodes ended, sum of returns, sum of lengths
  double* partial = nullptr;    // (K, chunks, 3) scratch; null: ops::accumulate_episode_stats makes one
};

// Pass 1, item j = k * chunks + c: agent k's chunk c, in env order.
ACX_HD void episode_chunk_at(const EpisodeStatsArgs& a, int64_t j) {
  const int64_t chunks = episode_stats_chunks(a.envs_per_agent);
  const int64_t k = j / chunks, c = j % chunks;
  const int64_t begin = k * a.envs_per_agent + c * kEpisodeStatsChunk;
  const int64_t stop = (c + 1) * kEpisodeStatsChunk < a.envs_per_agent ? (c + 1) * kEpisodeStatsChunk : a.envs_per_agent;
  const int64_t end = k * a.envs_per_agent + stop;
  double n = 0, ret = 0, len = 0;
  for (int64_t i = begin; i < end; ++i) {
    if (a.terminated[i] | a.truncated[i]) {
      n += 1;
      ret += a.done_return[i];
      len += a.done_length[i];
    }
  }
  a.partial[3 * j + 0] = n;
  a.partial[3 * j + 1] = ret;
  a.partial[3 * j + 2] = len;
}

// Pass 2: agent k's chunks, in order, into its sums.
ACX_HD void episode_finish_at(const EpisodeStatsArgs& a, int64_t k) {
  const int64_t chunks = episode_stats_chunks(a.envs_per_agent);
  for (int64_t c = 0; c < chunks; ++c) {
    const double* p = a.partial + 3 * (k * chunks + c);
    a.sums[3 * k + 0] += p[0];
    a.sums[3 * k + 1] += p[1];
    a.sums[3 * k + 2] += p[2];
  }
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
