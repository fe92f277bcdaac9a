#include "kernels/runtime/blas.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
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
  // Each member's C is cut into blocks of rows (or of columns, whichever
  // side is longer), and every block is one single-threaded OpenBLAS call.
  // OpenBLAS's bits for an element depend on how its own threads split a
  // product (its Zen kernels) and on the size of the call, so the blocks are
  // a function of the shape and the member count only, never of the thread
  // count: 1, 2 or 16 threads compute the same calls and give the same bits.
  // On two cores this is also faster than OpenBLAS's own split (about 200
  // against 270 us for a 256-cube product on a Zen 3 EPYC).
  const int blocks = gemm_blocks(s, batch);
  const bool by_rows = s.m >= s.n;
  const int split = by_rows ? s.m : s.n;
  const auto edge = [&](int i) {
    return i == blocks ? split : static_cast<int>(int64_t{split} * i / blocks) / kGemmBlockAlign * kGemmBlockAlign;
  };
  const auto task = [&](int t) {
    const int e = t / blocks, i = t % blocks, lo = edge(i), len = edge(i + 1) - lo;
    const float* ae = a + e * stride_a;
    const float* be = b + e * stride_b;
    float* ce = c + e * stride_c;
    if (by_rows) {
      ae += s.trans_a ? lo : lo * lda;
      ce += lo * ldc;
    } else {
      be += s.trans_b ? lo * ldb : lo;
      ce += lo;
    }
    cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans, s.trans_b ? CblasTrans : CblasNoTrans,
                by_rows ? len : s.m, by_rows ? s.n : len, s.k, alpha, ae, static_cast<int>(lda), be,
                static_cast<int>(ldb), beta, ce, static_cast<int>(ldc));
  };
  const int tasks = batch * blocks;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads >= 2 && tasks >= 2) {
    // Inside a parallel region of two or more threads OpenBLAS runs each call on its caller's thread.
#pragma omp parallel for schedule(static) num_threads(std::min(threads, tasks))
    for (int t = 0; t < tasks; ++t) task(t);
    return;
  }
  // One thread, or one call: OpenBLAS follows OpenMP's thread count, so hold it at 1 for these calls.
  const int outer = omp_get_max_threads();
  if (outer != 1) omp_set_num_threads(1);
  for (int t = 0; t < tasks; ++t) task(t);
  if (outer != 1) omp_set_num_threads(outer);
}

int gemm_blocks(const GemmShape& s, int batch) {
  const int split = std::max(s.m, s.n);
  const int64_t macs = int64_t{s.m} * s.n * s.k;
  if (batch >= kGemmTasks || macs < 2 * kGemmBlockMacs || split < 2 * kGemmBlockAlign) return 1;
  const int64_t want = (kGemmTasks + batch - 1) / batch;
  return static_cast<int>(std::min({want, int64_t{split / kGemmBlockAlign}, macs / kGemmBlockMacs}));
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
