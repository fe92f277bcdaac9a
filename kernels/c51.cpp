#include "kernels/c51.h"

#include "kernels/runtime/dispatch.h"

namespace acx::ops {

namespace {
void check_support(const C51Support& s, const char* what) {
  ACX_CHECK(s.n_atoms >= 2, std::string(what) + ": a C51 support needs at least 2 atoms");
  ACX_CHECK(s.v_min < s.v_max, std::string(what) + ": v_min must be below v_max");
}
}  // namespace

void c51_project(const Device& dev, const C51ProjectArgs& a) {
  check_support(a.support, "c51_project");
  ACX_CHECK(a.n_q >= 1 && a.n_agents >= 1 && a.batch >= 0, "c51_project: bad sizes");
  ACX_CHECK((a.next_log_prob == nullptr) == (a.log_alpha == nullptr),
            "c51_project: the entropy term needs both log pi and log alpha");
  const int64_t rows = a.n_agents * a.batch;
  if (rows == 0) return;
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::c51_project(a, dev.stream()));
  } else {
    cpu_kernels::c51_project(a);
  }
}

void c51_loss_grad(const Device& dev, const C51LossArgs& a) {
  ACX_CHECK(a.n_atoms >= 2 && a.target_rows >= 1 && a.n_rows % a.target_rows == 0,
            "c51_loss_grad: the rows must be whole blocks of the target's rows");
  if (a.n_rows == 0) return;
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::c51_loss_grad(a, dev.stream()));
  } else {
    cpu_kernels::c51_loss_grad(a);
  }
}

void member_mean(const Device& dev, const MemberMeanArgs& a) {
  ACX_CHECK(a.n_members >= 1 && a.batch >= 1, "member_mean: needs a member and a row");
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::member_mean(a, dev.stream()));
  } else {
    cpu_kernels::member_mean(a);
  }
}

void c51_value(const Device& dev, const C51ValueArgs& a) {
  check_support(a.support, "c51_value");
  if (a.n_rows == 0) return;
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::c51_value(a, dev.stream()));
  } else {
    cpu_kernels::c51_value(a);
  }
}

}  // namespace acx::ops
