// vector_ops.cu: CUDA shells of vector_ops.
//
// fill and axpby are one thread per element with a grid-stride loop. The sum
// gives each block one fixed chunk of kSumChunk elements: threads accumulate
// a strided slice in double, a warp-shuffle tree reduces each warp, and warp
// leaders meet in shared memory. Chunk boundaries depend only on n, and the
// host adds the chunk sums in order, so the result is bitwise reproducible
// and equal to the CPU shell up to float64 rounding within a chunk.
#include "kernels/block_reduce.h"
#include "kernels/runtime/device_api.h"
#include "kernels/vector_ops.h"

namespace acx {

namespace {

constexpr int kBlock = 256;

__global__ void fill_kernel(float* x, int64_t n, float value) {
  ACX_GRID_STRIDE_LOOP(i, n) {
    x[i] = value;
  }
}

__global__ void axpby_kernel(int64_t n, float a, const float* x, float b, float* y) {
  ACX_GRID_STRIDE_LOOP(i, n) {
    y[i] = axpby_element(a, x[i], b, y[i]);
  }
}

__global__ void chunk_sums_kernel(const float* x, int64_t n, bool squares, double* partial) {
  ACX_SHARED_ARRAY(double, warp_sums, kBlock / kWarpSize);
  const int64_t begin = blockIdx.x * kSumChunk;
  const int64_t end = begin + kSumChunk < n ? begin + kSumChunk : n;
  double s = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const double v = x[i];
    s += squares ? v * v : v;
  }
  const double total = block_sum<kBlock>(s, warp_sums);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

}  // namespace

namespace cuda_kernels {

void fill(float* x, int64_t n, float value, void* stream) {
  ACX_LAUNCH(fill_kernel, grid_for(n, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream), x, n, value);
}

void axpby(int64_t n, float a, const float* x, float b, float* y, void* stream) {
  ACX_LAUNCH(axpby_kernel, grid_for(n, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream), n, a, x, b, y);
}

void chunk_sums(const float* x, int64_t n, bool squares, double* partial, void* stream) {
  const int64_t n_chunks = ceil_div(n, kSumChunk);
  ACX_CHECK(n_chunks <= 0x7fffffff, "sum over more than 2^31 chunks");
  ACX_LAUNCH(chunk_sums_kernel, static_cast<unsigned>(n_chunks), kBlock, 0, static_cast<cudaStream_t>(stream), x, n,
             squares, partial);
}

}  // namespace cuda_kernels
}  // namespace acx
