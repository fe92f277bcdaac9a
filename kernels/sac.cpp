#include "kernels/sac.h"

#include "kernels/runtime/dispatch.h"

namespace acx::ops {

namespace {
void check_rows(int64_t n_rows, int act_dim, const char* what) {
  ACX_CHECK(n_rows >= 0 && act_dim >= 1, std::string(what) + ": negative rows or no action dimension");
}
}  // namespace

void min_q_grad(const Device& dev, const MinQGradArgs& a) {
  check_rows(a.n_rows, a.act_dim, "min_q_grad");
  ACX_CHECK(a.n_q >= 1, "min_q_grad: needs at least one critic");
  if (a.n_rows == 0) return;
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::min_q_grad(a, dev.stream()));
  } else {
    cpu_kernels::min_q_grad(a);
  }
}

void squashed_gaussian(const Device& dev, const SquashedGaussianArgs& a) {
  check_rows(a.n_rows, a.act_dim, "squashed_gaussian");
  ACX_CHECK(a.log_std_min < a.log_std_max, "squashed_gaussian: log_std_min must be below log_std_max");
  if (a.n_rows == 0) return;
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::squashed_gaussian(a, dev.stream()));
  } else {
    cpu_kernels::squashed_gaussian(a);
  }
}

void sac_actor_grad(const Device& dev, const SacActorGradArgs& a) {
  check_rows(a.n_rows, a.act_dim, "sac_actor_grad");
  ACX_CHECK(a.rows_per_agent >= 1 && a.n_rows % a.rows_per_agent == 0,
            "sac_actor_grad: the rows must be whole batches of rows_per_agent");
  if (a.n_rows == 0) return;
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::sac_actor_grad(a, dev.stream()));
  } else {
    cpu_kernels::sac_actor_grad(a);
  }
}

void alpha_grad(const Device& dev, const AlphaGradArgs& a) {
  ACX_CHECK(a.n_agents >= 1 && a.batch >= 1, "alpha_grad: needs at least one agent and one sample");
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::alpha_grad(a, dev.stream()));
  } else {
    cpu_kernels::alpha_grad(a);
  }
}

}  // namespace acx::ops
