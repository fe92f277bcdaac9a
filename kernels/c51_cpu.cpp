// CPU shells of the C51 critic's per-row kernels (kernels/c51.h): OpenMP
// loops over rows (members for the loss's mean), each the same row math.
#include "kernels/c51.h"

namespace acx::cpu_kernels {

void c51_project(const C51ProjectArgs& a) {
  const int64_t rows = a.n_agents * a.batch;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) c51_project_at(a, r);
}

void c51_loss_grad(const C51LossArgs& a) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < a.n_rows; ++r) c51_loss_grad_at(a, r);
}

void member_mean(const MemberMeanArgs& a) {
  for (int64_t e = 0; e < a.n_members; ++e) member_mean_at(a, e);
}

void c51_value(const C51ValueArgs& a) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < a.n_rows; ++r) c51_value_at(a, r);
}

}  // namespace acx::cpu_kernels
