// CPU shells of vector_ops: OpenMP loops over the same element math.
#include "kernels/vector_ops.h"

namespace acx::cpu_kernels {

void fill(float* x, int64_t n, float value) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] = value;
}

void axpby(int64_t n, float a, const float* x, float b, float* y) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] = axpby_element(a, x[i], b, y[i]);
}

void chunk_sums(const float* x, int64_t n, bool squares, double* partial) {
  const int64_t n_chunks = ceil_div(n, kSumChunk);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int64_t end = (c + 1) * kSumChunk < n ? (c + 1) * kSumChunk : n;
    double s = 0;
    for (int64_t i = c * kSumChunk; i < end; ++i) s += squares ? static_cast<double>(x[i]) * x[i] : x[i];
    partial[c] = s;
  }
}

}  // namespace acx::cpu_kernels
