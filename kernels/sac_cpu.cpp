// CPU shells of SAC's per-sample kernels (kernels/sac.h): OpenMP loops over
// rows (agents for the temperature), each running the same row math.
#include "kernels/sac.h"

namespace acx::cpu_kernels {

void min_q_grad(const MinQGradArgs& a) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < a.n_rows; ++r) min_q_grad_at(a, r);
}

void squashed_gaussian(const SquashedGaussianArgs& a) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < a.n_rows; ++r) squashed_gaussian_at(a, r);
}

void sac_actor_grad(const SacActorGradArgs& a) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < a.n_rows; ++r) sac_actor_grad_at(a, r);
}

void alpha_grad(const AlphaGradArgs& a) {
  for (int64_t k = 0; k < a.n_agents; ++k) alpha_grad_at(a, k);
}

}  // namespace acx::cpu_kernels
