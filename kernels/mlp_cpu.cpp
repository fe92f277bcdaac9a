// CPU shells of the MLP element kernels: OpenMP loops over the same element
// math as the CUDA shells (kernels/mlp.h). Every output element is written by
// one iteration that reads only inputs, so the results do not depend on the
// thread count. The element-wise loops run over rows (member, sample) and,
// inside, over features, passing each element its member and feature; the
// column sums (bias, gain and shift gradients) run over blocks of features
// and add the rows in order: the CUDA shells' order, so the same bits as the
// CUDA source run under the emulation (on a GPU, where nvcc contracts
// multiply-adds into FMAs, the same order within float32 rounding).
#include <algorithm>

#include "kernels/mlp.h"

namespace acx::cpu_kernels {

namespace {

// Columns per task of the column sums: 64 floats = 4 cache lines per row.
constexpr int kSumColumns = 64;

// out[e, o] = sum over rows r in order of term(e, r, o), for the members'
// columns in blocks of kSumColumns (E * ceil(n / 64) tasks).
template <typename Term, typename Store>
void column_sums(int64_t rows, int n, int n_members, Term&& term, Store&& store) {
  const int n_blocks = static_cast<int>(ceil_div(n, kSumColumns));
  const int64_t tasks = static_cast<int64_t>(n_members) * n_blocks;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t e = t / n_blocks;
    const int o0 = static_cast<int>(t % n_blocks) * kSumColumns, o1 = std::min(n, o0 + kSumColumns);
    float acc[kSumColumns] = {};
    for (int64_t r = 0; r < rows; ++r)
      for (int o = o0; o < o1; ++o) acc[o - o0] += term(e, r, o);
    for (int o = o0; o < o1; ++o) store(e, o, acc[o - o0]);
  }
}

// sum_{o < n} term(o) as 8 interleaved partial sums combined pairwise: a
// fixed order (deterministic), and independent chains the compiler can put
// in vector lanes, where one running float sum waits on every add.
template <typename Term>
float row_sum(int n, Term&& term) {
  float p[8] = {};
  int o = 0;
  for (; o + 8 <= n; o += 8)
    for (int k = 0; k < 8; ++k) p[k] += term(o + k);
  for (int k = 0; o < n; ++o, ++k) p[k] += term(o);
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}

}  // namespace

void init_uniform(const InitArgs& a, int n_members) {
  const int64_t n = a.count * n_members;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) init_uniform_at(a, i);
}

// Each row works on a private copy of the arguments (a store through an
// output pointer cannot alias it), and the hidden layers' case (ReLU, no
// output affine, a cotangent given) has a loop of its own that calls the
// value-level element math with the activation as a constant: the compiler
// folds its branches and vectorizes (`omp simd`: every element reads and
// writes only its own index, so the in-place dh == dz of the backward is
// fine). Same element math, same bits, in both loops.
void bias_act_forward(const BiasActArgs& args, int n_members) {
  const int64_t n_rows = args.rows * n_members;
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < n_rows; ++row) {
    BiasActArgs a = args;
    const int64_t e = row / a.rows, first = row * a.n;
    if (a.act == Activation::kRelu) {
      a.act = Activation::kRelu;
      a.affine = nullptr;
#pragma omp simd
      for (int o = 0; o < a.n; ++o) bias_act_forward_elem(a, first + o, e, o);
    } else {
      for (int o = 0; o < a.n; ++o) bias_act_forward_elem(a, first + o, e, o);
    }
  }
}

void bias_act_jvp(const BiasActJvpArgs& args, int n_members) {
  const int64_t n_rows = args.fwd.rows * n_members;
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < n_rows; ++row) {
    const BiasActJvpArgs a = args;
    const int64_t e = row / a.fwd.rows, first = row * a.fwd.n;
    if (a.fwd.act == Activation::kRelu) {
      const float *b = a.fwd.bias + e * a.fwd.bias_stride, *db = a.dbias + e * a.fwd.bias_stride;
      float *z = a.fwd.z + first, *h = a.fwd.h + first, *dz = a.dz + first;
#pragma omp simd
      for (int o = 0; o < a.fwd.n; ++o) {
        const ActJvp r = bias_act_jvp_value(Activation::kRelu, z[o], b[o], dz[o], db[o], 0.0f, 1.0f);
        z[o] = r.z;
        h[o] = r.h;
        dz[o] = r.dh;
      }
    } else {
      for (int o = 0; o < a.fwd.n; ++o) bias_act_jvp_elem(a, first + o, e, o);
    }
  }
}

void act_backward(const ActBackwardArgs& args, int n_members) {
  const int64_t n_rows = args.rows * n_members;
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < n_rows; ++row) {
    const ActBackwardArgs a = args;
    const int64_t e = row / a.rows, first = row * a.n;
    if (a.act == Activation::kRelu && a.dh != nullptr) {
      const float* dh = a.dh + e * a.dh_stride + (row - e * a.rows) * a.n;  // may be dz itself
      const float* z = a.z + first;
      float* dz = a.dz + first;
#pragma omp simd
      for (int o = 0; o < a.n; ++o) {  // act_backward_value for the ReLU, in a form GCC 12 vectorizes
        const float d = relu_derivative(z[o]);
        dz[o] = a.scale * dh[o] * d;
      }
    } else {
      for (int o = 0; o < a.n; ++o) act_backward_elem(a, first + o, e, o);
    }
  }
}

// bias_grad_at's sums, a block of outputs at a time.
void bias_grad(const BiasGradArgs& a, int n_members) {
  column_sums(
      a.rows, a.n, n_members, [&](int64_t e, int64_t r, int o) { return a.dz[(e * a.rows + r) * a.n + o]; },
      [&](int64_t e, int o, float s) { a.db[e * a.db_stride + o] = s; });
}

}  // namespace acx::cpu_kernels

// LayerNorm: one iteration per row (member, sample) on a private copy of the
// arguments, the row's sums by row_sum; then the per-element math of
// kernels/mlp.h.
namespace acx::cpu_kernels {

void layer_norm_forward(const LayerNormArgs& args, int n_members) {
  const int64_t n_rows = args.rows * n_members;
  const float inv_n = 1.0f / static_cast<float>(args.n);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n_rows; ++r) {
    const LayerNormArgs a = args;
    const float mean = row_sum(a.n, [&](int o) { return layer_norm_input(a, r, o); }) * inv_n;
    const float rstd = layer_norm_rstd(row_sum(a.n,
                                               [&](int o) {
                                                 const float c = layer_norm_input(a, r, o) - mean;
                                                 return c * c;
                                               }),
                                       a.n);
#pragma omp simd
    for (int o = 0; o < a.n; ++o) layer_norm_store(a, r, o, layer_norm_input(a, r, o), mean, rstd);
    a.rstd[r] = rstd;
  }
}

void layer_norm_jvp(const LayerNormJvpArgs& args, int n_members) {
  const int64_t n_rows = args.fwd.rows * n_members;
  const float inv_n = 1.0f / static_cast<float>(args.fwd.n);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n_rows; ++r) {
    const LayerNormJvpArgs a = args;
    const LayerNormArgs& f = a.fwd;
    const float mean = row_sum(f.n, [&](int o) { return layer_norm_input(f, r, o); }) * inv_n;
    const float mean_dz = row_sum(f.n, [&](int o) { return layer_norm_input_tangent(a, r, o); }) * inv_n;
    const float rstd = layer_norm_rstd(row_sum(f.n,
                                               [&](int o) {
                                                 const float c = layer_norm_input(f, r, o) - mean;
                                                 return c * c;
                                               }),
                                       f.n);
    const float mean_xdz = row_sum(f.n,
                                   [&](int o) {
                                     return (layer_norm_input(f, r, o) - mean) * rstd *
                                            layer_norm_input_tangent(a, r, o);
                                   }) *
                           inv_n;
#pragma omp simd
    for (int o = 0; o < f.n; ++o)
      layer_norm_jvp_store(a, r, o, layer_norm_input(f, r, o), layer_norm_input_tangent(a, r, o), mean, rstd, mean_dz,
                           mean_xdz);
    f.rstd[r] = rstd;
  }
}

void layer_norm_backward(const LayerNormBackwardArgs& args, int n_members) {
  const int64_t n_rows = args.rows * n_members;
  const float inv_n = 1.0f / static_cast<float>(args.n);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n_rows; ++r) {
    const LayerNormBackwardArgs a = args;
    const float mean_dn = row_sum(a.n, [&](int o) { return layer_norm_dn(a, r, o); }) * inv_n;
    const float mean_xdn =
        row_sum(a.n, [&](int o) { return layer_norm_dn(a, r, o) * layer_norm_xhat(a, r, o); }) * inv_n;
#pragma omp simd
    for (int o = 0; o < a.n; ++o) layer_norm_backward_store(a, r, o, layer_norm_dn(a, r, o), mean_dn, mean_xdn);
  }
}

// layer_norm_param_grad_at's sums, a block of features at a time.
void layer_norm_param_grad(const LayerNormParamGradArgs& a, int n_members) {
  column_sums(
      a.rows, a.n, n_members,
      [&](int64_t e, int64_t r, int o) {
        const int64_t i = (e * a.rows + r) * a.n + o;
        return a.dy[i] * a.xhat[i];
      },
      [&](int64_t e, int o, float s) { a.dgain[e * a.param_stride + o] = s; });
  column_sums(
      a.rows, a.n, n_members, [&](int64_t e, int64_t r, int o) { return a.dy[(e * a.rows + r) * a.n + o]; },
      [&](int64_t e, int o, float s) { a.dshift[e * a.param_stride + o] = s; });
}

}  // namespace acx::cpu_kernels
