// replay.cu: CUDA shells of the replay buffer (kernels/replay.h).
//
// store is one thread per word of the step being written (the six arrays
// laid end to end), so consecutive threads write consecutive addresses.
// sample is one thread per sample: the window walk is a short serial loop
// (n_step is small) and the gather copies a few words per row; a warp's
// samples hit random rows anyway, so there is no coalescing to win by
// splitting a row across threads.
#include "kernels/runtime/device_api.h"
#include "kernels/replay.h"

namespace acx {

namespace {

constexpr int kBlock = 256;

__global__ void replay_store_kernel(ReplayStoreArgs a, int64_t n_words) {
  ACX_GRID_STRIDE_LOOP(w, n_words) replay_store_at(a, w);
}

__global__ void replay_sample_kernel(ReplaySampleArgs a, int64_t n_rows) {
  ACX_GRID_STRIDE_LOOP(b, n_rows) replay_sample_at(a, b);
}


cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

}  // namespace

namespace cuda_kernels {

void replay_store(const ReplayStoreArgs& a, void* stream) {
  const int64_t n = replay_store_words(a);
  ACX_LAUNCH(replay_store_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

void replay_sample(const ReplaySampleArgs& a, int64_t n_rows, void* stream) {
  ACX_LAUNCH(replay_sample_kernel, grid_for(n_rows, kBlock), kBlock, 0, as_stream(stream), a, n_rows);
}

}  // namespace cuda_kernels
}  // namespace acx
