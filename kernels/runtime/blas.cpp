#include "kernels/runtime/blas.h"

#include <cblas.h>
#include <omp.h>

#include <string>

#include "kernels/runtime/cuda_api.h"
#include "kernels/runtime/error.h"

extern "C" char* openblas_get_config(void);

namespace acx {

void gemm_strided_batched(const Device& dev, const GemmShape& s, float alpha, const float* a, int64_t lda,
                          int64_t stride_a, const float* b, int64_t ldb, int64_t stride_b, float beta, float* c,
                          int64_t ldc, int64_t stride_c, int batch) {
  ACX_CHECK(s.m >= 0 && s.n >= 0 && s.k >= 0 && batch >= 0, "negative GEMM size");
  if (s.m == 0 || s.n == 0 || batch == 0) return;
  // Stored shapes: A is [m, k] (or [k, m] when transposed), likewise B.
  const int64_t a_cols = s.trans_a ? s.m : s.k;
  const int64_t b_cols = s.trans_b ? s.k : s.n;
  ACX_CHECK(lda >= (a_cols > 0 ? a_cols : 1) && ldb >= (b_cols > 0 ? b_cols : 1) && ldc >= s.n,
            "GEMM leading dimension smaller than the row length");
  if (dev.is_cuda()) {
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
    cuda_api::sgemm_strided_batched_colmajor(dev.blas(), s.trans_b, s.trans_a, s.n, s.m, s.k, alpha, b, ldb,
                                             stride_b, a, lda, stride_a, beta, c, ldc, stride_c, batch);
    return;
  }
  const auto one = [&](int e) {
    cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans, s.trans_b ? CblasTrans : CblasNoTrans, s.m,
                s.n, s.k, alpha, a + e * stride_a, static_cast<int>(lda), b + e * stride_b, static_cast<int>(ldb),
                beta, c + e * stride_c, static_cast<int>(ldc));
  };
  // With at least as many members as threads (the twin critics on two
  // cores), each thread takes whole members: OpenBLAS, built on OpenMP, runs
  // a product single-threaded inside a parallel region, so no product is
  // split and no thread waits on another's packed panels. Fewer members than
  // threads: one member at a time with every thread. OpenBLAS splits a
  // product by rows and columns of C, never along k, so each element is the
  // same sum either way and the result does not depend on the choice.
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads >= 2 && batch >= threads) {
#pragma omp parallel for schedule(static)
    for (int e = 0; e < batch; ++e) one(e);
    return;
  }
  for (int e = 0; e < batch; ++e) one(e);
}

void gemm(const Device& dev, const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c) {
  const int64_t lda = s.trans_a ? s.m : s.k;
  const int64_t ldb = s.trans_b ? s.k : s.n;
  gemm_strided_batched(dev, s, alpha, a, lda > 0 ? lda : 1, 0, b, ldb > 0 ? ldb : 1, 0, beta, c, s.n > 0 ? s.n : 1,
                       0, 1);
}

std::string blas_name(const Device& dev) {
  if (dev.is_cuda()) {
    if (std::string(cuda_api::implementation()) == "emulation") return std::string("OpenBLAS standing in for cuBLAS (SIMT emulation): ") + openblas_get_config();
    return "cuBLAS (CUDA " + cuda_api::runtime_version() + ")";
  }
  return std::string(openblas_get_config());
}

}  // namespace acx
