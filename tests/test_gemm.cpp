// GEMM and strided-batched GEMM over a leading member dimension, against a
// naive float64 loop, on every backend.
#include <gtest/gtest.h>
#include <omp.h>

#include <tuple>
#include <utility>

#include "kernels/runtime/blas.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/error.h"
#include "tests/test_util.h"

namespace acx {
namespace {

// C_e = alpha op(A_e) op(B_e) + beta C_e in float64, written from the definition.
std::vector<double> reference_gemm(const GemmShape& s, double alpha, const std::vector<float>& a, int64_t lda,
                                   int64_t sa, const std::vector<float>& b, int64_t ldb, int64_t sb, double beta,
                                   const std::vector<float>& c, int64_t ldc, int64_t sc, int batch) {
  std::vector<double> out(c.begin(), c.end());
  for (int e = 0; e < batch; ++e) {
    for (int i = 0; i < s.m; ++i) {
      for (int j = 0; j < s.n; ++j) {
        double acc = 0;
        for (int p = 0; p < s.k; ++p) {
          const double av = s.trans_a ? a[e * sa + p * lda + i] : a[e * sa + i * lda + p];
          const double bv = s.trans_b ? b[e * sb + j * ldb + p] : b[e * sb + p * ldb + j];
          acc += av * bv;
        }
        double& cij = out[e * sc + i * ldc + j];
        cij = alpha * acc + beta * cij;
      }
    }
  }
  return out;
}

class GemmTest : public ::testing::TestWithParam<Backend> {};

TEST_P(GemmTest, StridedBatchedMatchesFloat64Reference) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  uint32_t tag = 100;
  // Odd shapes, every transpose, members 1 and 3, padded leading dimensions
  // and beta != 0 so that C's old contents matter.
  const std::tuple<int, int, int> shapes[] = {{1, 1, 1}, {3, 5, 7}, {17, 1, 33}, {64, 31, 9}, {5, 129, 65}};
  for (const auto& [m, n, k] : shapes) {
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        for (int batch : {1, 3}) {
          GemmShape s{ta == 1, tb == 1, m, n, k};
          const int64_t a_rows = s.trans_a ? k : m, a_cols = s.trans_a ? m : k;
          const int64_t b_rows = s.trans_b ? n : k, b_cols = s.trans_b ? k : n;
          const int64_t lda = a_cols + 2, ldb = b_cols + 1, ldc = n + 3;
          const int64_t sa = a_rows * lda + 5, sb = b_rows * ldb, sc = m * ldc + 1;
          const auto a = test::random_floats(static_cast<size_t>(sa * batch), tag++);
          const auto b = test::random_floats(static_cast<size_t>(sb * batch), tag++);
          const auto c = test::random_floats(static_cast<size_t>(sc * batch), tag++);
          const float alpha = 0.75f, beta = -0.5f;
          Buffer<float> da = Buffer<float>::from_host(dev, a), db = Buffer<float>::from_host(dev, b),
                        dc = Buffer<float>::from_host(dev, c);
          gemm_strided_batched(dev, s, alpha, da.data(), lda, sa, db.data(), ldb, sb, beta, dc.data(), ldc, sc,
                               batch);
          const auto got = dc.to_host();
          const auto want = reference_gemm(s, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, batch);
          EXPECT_TRUE(test::all_close(got, want, 1e-5 * k, 1e-5))
              << "m=" << m << " n=" << n << " k=" << k << " ta=" << ta << " tb=" << tb << " batch=" << batch;
          ASSERT_GT(test::l2_norm(got), 0.0);
        }
      }
    }
  }
}

TEST_P(GemmTest, PackedGemmAndMembersAreIndependent) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  // Member e of a batched product equals a lone product with member e's data:
  // bit for bit on the CPU for a product too small to cut into blocks (one
  // OpenBLAS call each, alone or in the batch) and under the emulation; within float32 rounding
  // on a GPU, where cuBLAS chooses its kernel by batch count and alignment
  // and promises no more than each product's accuracy.
  const int m = 6, n = 4, k = 5, batch = 3;
  const auto a = test::random_floats(m * k * batch, 1), b = test::random_floats(k * n * batch, 2);
  Buffer<float> da = Buffer<float>::from_host(dev, a), db = Buffer<float>::from_host(dev, b), dc(dev, m * n * batch);
  dc.zero();
  const GemmShape s{false, false, m, n, k};
  gemm_strided_batched(dev, s, 1.0f, da.data(), k, m * k, db.data(), n, k * n, 0.0f, dc.data(), n, m * n, batch);
  const auto all = dc.to_host();
  for (int e = 0; e < batch; ++e) {
    Buffer<float> one(dev, m * n);
    gemm(dev, s, 1.0f, da.data() + e * m * k, db.data() + e * k * n, 0.0f, one.data());
    const auto lone = one.to_host();
    const std::vector<float> member(all.begin() + e * m * n, all.begin() + (e + 1) * m * n);
#if !defined(ACX_EMULATED_CUDA)
    if (dev.is_cuda()) {
      EXPECT_TRUE(test::all_close(lone, member, 1e-5 * k, 1e-6)) << "member " << e;
      ASSERT_GT(test::l2_norm(lone), 0.0);
      continue;
    }
#endif
    EXPECT_EQ(lone, member) << "member " << e;
    ASSERT_GT(test::l2_norm(lone), 0.0);
  }
}

TEST_P(GemmTest, EmptyAndInvalidShapes) {
  ACX_DEVICE_OR_SKIP(dev, GetParam());
  Buffer<float> c = Buffer<float>::from_host(dev, {1, 2, 3});
  // k = 0: C = beta C (alpha times an empty sum).
  gemm_strided_batched(dev, GemmShape{false, false, 1, 3, 0}, 1.0f, nullptr, 1, 0, nullptr, 3, 0, 2.0f, c.data(), 3,
                       0, 1);
  EXPECT_EQ(c.to_host(), (std::vector<float>{2, 4, 6}));
  EXPECT_THROW(gemm_strided_batched(dev, GemmShape{false, false, 2, 2, 2}, 1.0f, c.data(), 1, 0, c.data(), 2, 0,
                                    0.0f, c.data(), 2, 0, 1),
               Error);
}

// The CPU cuts each member's product into gemm_blocks() single-threaded
// OpenBLAS calls that depend on the shape and member count only
// (kernels/runtime/blas.cpp), so a product is the same bits on any number of
// threads, on every CPU: OpenBLAS's own split over threads changes bits on its
// Zen kernels, and this test failed there when acx let OpenBLAS split a lone
// product. Shapes the layers use (NT forward, TN weight gradient, NN input
// gradient), products too small to cut, one member alone and members side by
// side, on 1 to 4 threads.
TEST(GemmCpu, ProductsAreTheSameBitsOnAnyThreadCount) {
  const Device dev = Device::cpu(2);
  struct Case {
    int m, n, k, batch;
  };
  int cut = 0;
  for (const auto& [m, n, k, batch] : {Case{256, 256, 256, 1}, Case{256, 23, 256, 1}, Case{128, 96, 160, 3},
                                       Case{256, 256, 23, 2}, Case{40, 200, 30, 1}, Case{8, 8, 8, 1}}) {
    for (const auto& [ta, tb] : {std::pair{false, true}, std::pair{true, false}, std::pair{false, false}}) {
      const GemmShape s{ta, tb, m, n, k};
      cut += gemm_blocks(s, batch) > 1;
      const int64_t lda = ta ? m : k, ldb = tb ? k : n, sa = int64_t{m} * k, sb = int64_t{k} * n, sc = int64_t{m} * n;
      const auto a = test::random_floats(sa * batch, 5), b = test::random_floats(sb * batch, 6);
      Buffer<float> da = Buffer<float>::from_host(dev, a), db = Buffer<float>::from_host(dev, b);
      const auto on = [&](int threads) {
        Buffer<float> c(dev, sc * batch);
        dev.set_cpu_threads(threads);
        gemm_strided_batched(dev, s, 1.0f, da.data(), lda, sa, db.data(), ldb, sb, 0.0f, c.data(), n, sc, batch);
        EXPECT_EQ(omp_get_max_threads(), threads) << "the product left OpenMP's thread count changed";
        dev.set_cpu_threads(2);
        return c.to_host();
      };
      const auto one = on(1);
      const auto want = reference_gemm(s, 1.0, a, lda, sa, b, ldb, sb, 0.0, std::vector<float>(sc * batch), n, sc,
                                       batch);
      ASSERT_TRUE(test::all_close(one, want, 1e-5 * k, 1e-5)) << m << "x" << n << "x" << k << " ta " << ta << tb;
      ASSERT_GT(test::l2_norm(one), 0.0);
      for (const int threads : {2, 3, 4}) {
        EXPECT_EQ(on(threads), one) << m << "x" << n << "x" << k << " batch " << batch << " trans " << ta << tb
                                    << " on " << threads << " threads against 1 (" << blas_name(dev) << ")";
      }
    }
  }
  EXPECT_GE(cut, 9) << "the lone products should be cut into blocks, or the test checks little";
}

INSTANTIATE_TEST_SUITE_P(Backends, GemmTest, test::all_backends(), test::backend_param_name);

}  // namespace
}  // namespace acx
