// counter.cpp: the counter ops, dispatched to the CPU or CUDA shell.
#include "kernels/counter.h"

#include "kernels/runtime/dispatch.h"
#include "kernels/runtime/error.h"

namespace acx::ops {

void advance_counter(const Device& dev, uint64_t* counter, uint64_t delta) {
  const AdvanceCounterArgs a{counter, delta};
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::advance_counter(a, dev.stream()));
  } else {
    cpu_kernels::advance_counter(a);
  }
}

void advance_ring(const Device& dev, RingPosition* ring, int64_t capacity) {
  ACX_CHECK(capacity >= 1, "a ring needs a capacity of at least 1");
  const AdvanceRingArgs a{ring, capacity};
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::advance_ring(a, dev.stream()));
  } else {
    cpu_kernels::advance_ring(a);
  }
}

}  // namespace acx::ops
