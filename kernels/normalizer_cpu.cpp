// CPU shells of the running observation statistics (kernels/normalizer.h):
// the twin of the per-feature block reduction adds rows in order, in float64;
// normalize is an OpenMP loop over the same element math.
#include "kernels/normalizer.h"

namespace acx::cpu_kernels {

void normalizer_update(const NormalizerUpdateArgs& a) {
  if (a.n_rows == 0) return;
  const int features = a.n_members * a.obs_dim;
#pragma omp parallel for schedule(static)
  for (int f = 0; f < features; ++f) {
    const int d = f % a.obs_dim;
    const float* x = a.x + static_cast<int64_t>(f / a.obs_dim) * a.n_rows * a.obs_dim;  // the member's rows
    double s = 0;
    for (int64_t r = 0; r < a.n_rows; ++r) s += x[r * a.obs_dim + d];
    const double m = s / static_cast<double>(a.n_rows);
    double q = 0;
    for (int64_t r = 0; r < a.n_rows; ++r) {
      const double c = x[r * a.obs_dim + d] - m;
      q += c * c;
    }
    chan_merge(&a.count[f], &a.mean[f], &a.m2[f], static_cast<double>(a.n_rows), m, q);
  }
}

void normalize_obs(const NormalizeArgs& a) {
  const int64_t n = a.n_rows * a.obs_dim * a.n_members;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) normalize_at(a, i);
}

}  // namespace acx::cpu_kernels
