#include "kernels/vector_ops.h"

#include <vector>

#include "kernels/runtime/buffer.h"
#include "kernels/runtime/dispatch.h"

namespace acx::ops {

void fill(const Device& dev, float* x, int64_t n, float value) {
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::fill(x, n, value, dev.stream()));
  } else {
    cpu_kernels::fill(x, n, value);
  }
}

void axpby(const Device& dev, int64_t n, float a, const float* x, float b, float* y) {
  if (dev.is_cuda()) {
    ACX_ON_CUDA(cuda_kernels::axpby(n, a, x, b, y, dev.stream()));
  } else {
    cpu_kernels::axpby(n, a, x, b, y);
  }
}

double sum(const Device& dev, const float* x, int64_t n, bool squares) {
  const int64_t n_chunks = ceil_div(n, kSumChunk);
  std::vector<double> partial(static_cast<size_t>(n_chunks));
  if (dev.is_cuda()) {
    Buffer<double> d_partial(dev, partial.size());
    ACX_ON_CUDA(cuda_kernels::chunk_sums(x, n, squares, d_partial.data(), dev.stream()));
    d_partial.copy_to_host(partial.data(), partial.size());
  } else {
    cpu_kernels::chunk_sums(x, n, squares, partial.data());
  }
  double s = 0;
  for (double p : partial) s += p;  // in chunk order: the same on every backend
  return s;
}

}  // namespace acx::ops
