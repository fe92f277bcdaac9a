// CPU shells of the replay buffer (kernels/replay.h): OpenMP loops over the
// same element math.
#include "kernels/replay.h"

namespace acx::cpu_kernels {

void replay_store(const ReplayStoreArgs& a) {
  const int64_t n = replay_store_words(a);
#pragma omp parallel for schedule(static)
  for (int64_t w = 0; w < n; ++w) replay_store_at(a, w);
}

void replay_sample(const ReplaySampleArgs& a, int64_t n_rows) {
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n_rows; ++b) replay_sample_at(a, b);
}

}  // namespace acx::cpu_kernels
