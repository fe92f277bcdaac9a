// CPU shells of the MLP element kernels: OpenMP loops over the same element
// math as the CUDA shells (kernels/mlp.h). Every output element is written by
// one iteration that reads only inputs, so the results do not depend on the
// thread count.
#include "kernels/mlp.h"

namespace acx::cpu_kernels {

void init_uniform(const InitArgs& a, int n_members) {
  const int64_t n = a.count * n_members;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) init_uniform_at(a, i);
}

void bias_act_forward(const BiasActArgs& a, int n_members) {
  const int64_t n = a.rows * a.n * n_members;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) bias_act_forward_at(a, i);
}

void bias_act_jvp(const BiasActJvpArgs& a, int n_members) {
  const int64_t n = a.fwd.rows * a.fwd.n * n_members;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) bias_act_jvp_at(a, i);
}

void act_backward(const ActBackwardArgs& a, int n_members) {
  const int64_t n = a.rows * a.n * n_members;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) act_backward_at(a, i);
}

void bias_grad(const BiasGradArgs& a, int n_members) {
  const int64_t n = static_cast<int64_t>(a.n) * n_members;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < n; ++t) bias_grad_at(a, t);
}

}  // namespace acx::cpu_kernels
