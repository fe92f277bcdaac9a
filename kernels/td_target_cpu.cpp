#include "kernels/td_target.h"

namespace acx::cpu_kernels {

void td_target(const TdTargetArgs& a) {
  const int64_t n = a.n_agents * a.batch;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) td_target_at(a, i);
}

}  // namespace acx::cpu_kernels
