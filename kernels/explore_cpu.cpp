// CPU shells of the exploration and smoothing noise (kernels/explore.h):
// OpenMP loops over the same element math.
#include "kernels/explore.h"

namespace acx::cpu_kernels {

void explore_gaussian(const GaussianNoiseArgs& a) {
  const int64_t n = a.n_rows * a.act_dim;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) gaussian_noise_at(a, i);
}

void explore_ou(const OuNoiseArgs& a) {
  const int64_t n = a.n_rows * a.act_dim;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) ou_noise_at(a, i);
}

void explore_uniform(const UniformActionArgs& a) {
  const int64_t n = a.n_rows * a.act_dim;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) uniform_action_at(a, i);
}

void explore_smoothing(const SmoothingArgs& a) {
  const int64_t n = a.n_rows * a.act_dim;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) smoothing_at(a, i);
}

void redraw_sigma(const RedrawSigmaArgs& a) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < a.n_rows; ++r) redraw_sigma_at(a, r);
}

}  // namespace acx::cpu_kernels
