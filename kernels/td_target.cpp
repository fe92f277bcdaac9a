#include "kernels/td_target.h"

#include "kernels/runtime/dispatch.h"

namespace acx::ops {

void td_target(const Device& dev, const TdTargetArgs& a) {
  ACX_CHECK(a.n_q >= 1 && a.n_q <= 2, "td_target: n_q must be 1 or 2");
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::td_target(a, dev.stream()));
  } else {
    cpu_kernels::td_target(a);
  }
}

}  // namespace acx::ops
