// blas.h: the matrix products, row-major like every buffer in acx, with a
// leading member dimension: C_e = alpha op(A_e) op(B_e) + beta C_e for
// e in [0, batch), where X_e = X + e * stride_x. cuBLAS (column-major) is
// called with the transpose trick C^T = op(B)^T op(A)^T; the CPU backend
// calls OpenBLAS's row-major sgemm on fixed blocks of each member (below).
#pragma once

#include <cstdint>

#include "kernels/runtime/device.h"

namespace acx {

struct GemmShape {
  bool trans_a = false, trans_b = false;
  int m = 0, n = 0, k = 0;  // op(A) is [m, k], op(B) is [k, n], C is [m, n]
};

// lda, ldb, ldc are row strides (elements between consecutive rows).
void gemm_strided_batched(const Device& dev, const GemmShape& s, float alpha, const float* a, int64_t lda,
                          int64_t stride_a, const float* b, int64_t ldb, int64_t stride_b, float beta, float* c,
                          int64_t ldc, int64_t stride_c, int batch);

// The CPU backend cuts each member's C into gemm_blocks() blocks of rows (or
// columns, the longer side), each a single-threaded OpenBLAS call, and spreads
// batch * blocks calls over the threads. The count depends on the shape and the
// member count only, so a product has the same bits on any number of threads.
// Members alone get up to kGemmTasks calls between them; a block is at least
// kGemmBlockAlign rows long (edges on multiples of it) and kGemmBlockMacs work.
inline constexpr int kGemmTasks = 2;
inline constexpr int kGemmBlockAlign = 16;
inline constexpr int64_t kGemmBlockMacs = 16384;
int gemm_blocks(const GemmShape& s, int batch);

// One product with packed rows (lda = cols of A as stored, and so on).
void gemm(const Device& dev, const GemmShape& s, float alpha, const float* a, const float* b, float beta, float* c);

// The BLAS in use on this device, for reports: "OpenBLAS 0.3.21 ..." or "cuBLAS 13.0".
std::string blas_name(const Device& dev);

}  // namespace acx
