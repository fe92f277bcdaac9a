// explore.cu: CUDA shells of the exploration and smoothing noise
// (kernels/explore.h).
//
// One thread per action element: consecutive threads write consecutive
// words of the (rows, act_dim) action array. The up to four elements of a row
// that share a Philox block each compute that block (ten rounds of integer
// multiplies, cheaper than a trip through shared memory and a barrier), and
// each picks its own word, so the kernel is a pure map with no
// synchronization and the CPU loop is the same map.
#include "kernels/runtime/device_api.h"
#include "kernels/explore.h"

namespace acx {

namespace {

constexpr int kBlock = 256;

__global__ void explore_gaussian_kernel(GaussianNoiseArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(i, n) gaussian_noise_at(a, i);
}

__global__ void explore_ou_kernel(OuNoiseArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(i, n) ou_noise_at(a, i);
}

__global__ void explore_uniform_kernel(UniformActionArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(i, n) uniform_action_at(a, i);
}

__global__ void redraw_sigma_kernel(RedrawSigmaArgs a) {
  ACX_GRID_STRIDE_LOOP(r, a.n_rows) redraw_sigma_at(a, r);
}

__global__ void target_smoothing_kernel(SmoothingArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(i, n) smoothing_at(a, i);
}


cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

}  // namespace

namespace cuda_kernels {

void explore_gaussian(const GaussianNoiseArgs& a, void* stream) {
  const int64_t n = a.n_rows * a.act_dim;
  ACX_LAUNCH(explore_gaussian_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

void explore_ou(const OuNoiseArgs& a, void* stream) {
  const int64_t n = a.n_rows * a.act_dim;
  ACX_LAUNCH(explore_ou_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

void explore_uniform(const UniformActionArgs& a, void* stream) {
  const int64_t n = a.n_rows * a.act_dim;
  ACX_LAUNCH(explore_uniform_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

void explore_smoothing(const SmoothingArgs& a, void* stream) {
  const int64_t n = a.n_rows * a.act_dim;
  ACX_LAUNCH(target_smoothing_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

void redraw_sigma(const RedrawSigmaArgs& a, void* stream) {
  ACX_LAUNCH(redraw_sigma_kernel, grid_for(a.n_rows, kBlock), kBlock, 0, as_stream(stream), a);
}

}  // namespace cuda_kernels
}  // namespace acx
