// CPU shells of the running observation statistics (kernels/normalizer.h):
// the twin of the per-feature block reduction adds rows in order, in float64;
// normalize is an OpenMP loop over the same element math.
#include "kernels/normalizer.h"

namespace acx::cpu_kernels {

void normalizer_update(const NormalizerUpdateArgs& a) {
  if (a.n_rows == 0) return;
#pragma omp parallel for schedule(static)
  for (int d = 0; d < a.obs_dim; ++d) {
    double s = 0;
    for (int64_t r = 0; r < a.n_rows; ++r) s += a.x[r * a.obs_dim + d];
    const double m = s / static_cast<double>(a.n_rows);
    double q = 0;
    for (int64_t r = 0; r < a.n_rows; ++r) {
      const double c = a.x[r * a.obs_dim + d] - m;
      q += c * c;
    }
    chan_merge(&a.count[d], &a.mean[d], &a.m2[d], static_cast<double>(a.n_rows), m, q);
  }
}

void normalize_obs(const NormalizeArgs& a) {
  const int64_t n = a.n_rows * a.obs_dim;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) normalize_at(a, i);
}

}  // namespace acx::cpu_kernels
