// counter.cu: CUDA shells of the counter ops: one thread each, in stream
// order, so that the kernels after them read the advanced value.
#include "kernels/runtime/device_api.h"
#include "kernels/counter.h"

namespace acx {

namespace {

constexpr int kBlock = 32;

__global__ void advance_counter_kernel(AdvanceCounterArgs a) {
  if (blockIdx.x == 0 && threadIdx.x == 0) advance_counter_at(a);
}

__global__ void advance_ring_kernel(AdvanceRingArgs a) {
  if (blockIdx.x == 0 && threadIdx.x == 0) advance_ring_at(a);
}

}  // namespace

namespace cuda_kernels {

void advance_counter(const AdvanceCounterArgs& a, void* stream) {
  ACX_LAUNCH(advance_counter_kernel, 1, kBlock, 0, static_cast<cudaStream_t>(stream), a);
}

void advance_ring(const AdvanceRingArgs& a, void* stream) {
  ACX_LAUNCH(advance_ring_kernel, 1, kBlock, 0, static_cast<cudaStream_t>(stream), a);
}

}  // namespace cuda_kernels
}  // namespace acx
