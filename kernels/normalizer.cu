// normalizer.cu: CUDA shells of the running observation statistics
// (kernels/normalizer.h).
//
// The update is one block per feature of each member: each thread adds a fixed strided
// slice of the rows in float64, a warp-shuffle tree and thread 0 finish the
// sum (first the mean, then the squared deviations from it), and thread 0
// merges the batch into the running statistics. The slices depend only on
// n_rows and the block size, so an update is bitwise repeatable; no atomics.
// Observation vectors are short, so a block per feature is enough parallelism
// for the thousands of env rows of a step. normalize is one thread per element.
#include "kernels/block_reduce.h"
#include "kernels/runtime/device_api.h"
#include "kernels/normalizer.h"

namespace acx {

namespace {

constexpr int kBlock = 256;

__global__ void normalizer_update_kernel(NormalizerUpdateArgs a) {
  ACX_SHARED_ARRAY(double, warp_sums, kBlock / kWarpSize);
  ACX_SHARED_ARRAY(double, batch_mean, 1);
  const int f = blockIdx.x;  // feature d of member f / obs_dim
  const int d = f % a.obs_dim;
  const float* x = a.x + static_cast<int64_t>(f / a.obs_dim) * a.n_rows * a.obs_dim;  // the member's rows
  double s = 0;
  for (int64_t r = threadIdx.x; r < a.n_rows; r += blockDim.x) s += x[r * a.obs_dim + d];
  const double sum = block_sum<kBlock>(s, warp_sums);
  if (threadIdx.x == 0) batch_mean[0] = sum / static_cast<double>(a.n_rows);
  // Also orders thread 0's reads of warp_sums before the second round's writes.
  __syncthreads();
  const double m = batch_mean[0];
  double q = 0;
  for (int64_t r = threadIdx.x; r < a.n_rows; r += blockDim.x) {
    const double c = x[r * a.obs_dim + d] - m;
    q += c * c;
  }
  const double m2 = block_sum<kBlock>(q, warp_sums);
  if (threadIdx.x == 0) chan_merge(&a.count[f], &a.mean[f], &a.m2[f], static_cast<double>(a.n_rows), m, m2);
}

__global__ void normalize_obs_kernel(NormalizeArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(i, n) {
    normalize_at(a, i);
  }
}

cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

}  // namespace

namespace cuda_kernels {

void normalizer_update(const NormalizerUpdateArgs& a, void* stream) {
  if (a.n_rows == 0) return;
  ACX_LAUNCH(normalizer_update_kernel, static_cast<unsigned>(a.n_members * a.obs_dim), kBlock, 0, as_stream(stream), a);
}

void normalize_obs(const NormalizeArgs& a, void* stream) {
  const int64_t n = a.n_rows * a.obs_dim * a.n_members;
  ACX_LAUNCH(normalize_obs_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

}  // namespace cuda_kernels
}  // namespace acx
