// mlp.cu: CUDA shells of the MLP element kernels (kernels/mlp.h).
//
// The matrix products of a layer are cuBLAS strided-batched GEMMs issued by
// kernels/mlp.cpp; what is left for our kernels is element-wise (bias +
// activation, its JVP, the activation backward, the Philox initialization),
// one thread per element with a grid-stride loop, and the bias gradient, one
// thread per (member, output) adding the batch in order. That last one is a
// deliberate trade: a column sum with a fixed order needs no atomics and no
// second pass, and neighbouring threads read neighbouring columns, so the
// loads coalesce; with E * out threads it is latency-bound for small
// networks, but it is a few percent of a layer's GEMM time.
//
// LayerNorm (hidden layers, optional) normalizes each row over its features,
// so its kernels work per row: one warp per row, each lane taking every 32nd
// feature, the row sums combined with an xor-butterfly of shuffles (every
// lane ends with the same, bitwise, sum; no shared memory, no barriers), in
// a grid-stride loop over rows. Hidden widths are 64 to a few thousand, so a
// warp is wide enough and a block would idle. The gain and shift gradients
// are column sums over the batch, shaped like the bias gradient.
#include "kernels/runtime/device_api.h"
#include "kernels/mlp.h"

namespace acx {

namespace {

constexpr int kBlock = 256;

__global__ void init_uniform_kernel(InitArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(i, n) init_uniform_at(a, i);
}

__global__ void bias_act_forward_kernel(BiasActArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(i, n) bias_act_forward_at(a, i);
}

__global__ void bias_act_jvp_kernel(BiasActJvpArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(i, n) bias_act_jvp_at(a, i);
}

__global__ void act_backward_kernel(ActBackwardArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(i, n) act_backward_at(a, i);
}

__global__ void bias_grad_kernel(BiasGradArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(t, n) bias_grad_at(a, t);
}

__global__ void layer_norm_param_grad_kernel(LayerNormParamGradArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(t, n) layer_norm_param_grad_at(a, t);
}


constexpr int kRowsPerBlock = kBlock / kWarpSize;

// The sum of v over the warp, in every lane.
ACX_DEVICE float warp_sum(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullWarpMask, v, offset);
  return v;
}

// Rows r of [E * B] handled by this warp: warp-uniform, so every lane of a
// warp reaches the same shuffles.
#define ACX_WARP_PER_ROW(r, lane, n_rows)                                                                  \
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;                                            \
  for (int64_t r = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kWarpSize; r < (n_rows); \
       r += static_cast<int64_t>(gridDim.x) * blockDim.x / kWarpSize)

__global__ void layer_norm_forward_kernel(LayerNormArgs a, int64_t n_rows) {
  const float inv_n = 1.0f / static_cast<float>(a.n);
  ACX_WARP_PER_ROW(r, lane, n_rows) {
    float sum = 0.0f;
    for (int o = lane; o < a.n; o += kWarpSize) sum += layer_norm_input(a, r, o);
    const float mean = warp_sum(sum) * inv_n;
    float sq = 0.0f;
    for (int o = lane; o < a.n; o += kWarpSize) {
      const float c = layer_norm_input(a, r, o) - mean;
      sq += c * c;
    }
    const float rstd = layer_norm_rstd(warp_sum(sq), a.n);
    for (int o = lane; o < a.n; o += kWarpSize) layer_norm_store(a, r, o, layer_norm_input(a, r, o), mean, rstd);
    if (lane == 0) a.rstd[r] = rstd;
  }
}

__global__ void layer_norm_jvp_kernel(LayerNormJvpArgs a, int64_t n_rows) {
  const LayerNormArgs& f = a.fwd;
  const float inv_n = 1.0f / static_cast<float>(f.n);
  ACX_WARP_PER_ROW(r, lane, n_rows) {
    float sum = 0.0f, dsum = 0.0f;
    for (int o = lane; o < f.n; o += kWarpSize) {
      sum += layer_norm_input(f, r, o);
      dsum += layer_norm_input_tangent(a, r, o);
    }
    const float mean = warp_sum(sum) * inv_n, mean_dz = warp_sum(dsum) * inv_n;
    float sq = 0.0f;
    for (int o = lane; o < f.n; o += kWarpSize) {
      const float c = layer_norm_input(f, r, o) - mean;
      sq += c * c;
    }
    const float rstd = layer_norm_rstd(warp_sum(sq), f.n);
    float xdz = 0.0f;
    for (int o = lane; o < f.n; o += kWarpSize)
      xdz += (layer_norm_input(f, r, o) - mean) * rstd * layer_norm_input_tangent(a, r, o);
    const float mean_xdz = warp_sum(xdz) * inv_n;
    for (int o = lane; o < f.n; o += kWarpSize)
      layer_norm_jvp_store(a, r, o, layer_norm_input(f, r, o), layer_norm_input_tangent(a, r, o), mean, rstd, mean_dz,
                           mean_xdz);
    if (lane == 0) f.rstd[r] = rstd;
  }
}

__global__ void layer_norm_backward_kernel(LayerNormBackwardArgs a, int64_t n_rows) {
  const float inv_n = 1.0f / static_cast<float>(a.n);
  ACX_WARP_PER_ROW(r, lane, n_rows) {
    float s = 0.0f, sx = 0.0f;
    for (int o = lane; o < a.n; o += kWarpSize) {
      const float dn = layer_norm_dn(a, r, o);
      s += dn;
      sx += dn * layer_norm_xhat(a, r, o);
    }
    const float mean_dn = warp_sum(s) * inv_n, mean_xdn = warp_sum(sx) * inv_n;
    for (int o = lane; o < a.n; o += kWarpSize)
      layer_norm_backward_store(a, r, o, layer_norm_dn(a, r, o), mean_dn, mean_xdn);
  }
}

#undef ACX_WARP_PER_ROW


cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

}  // namespace

namespace cuda_kernels {

void init_uniform(const InitArgs& a, int n_members, void* stream) {
  const int64_t n = a.count * n_members;
  ACX_LAUNCH(init_uniform_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

void bias_act_forward(const BiasActArgs& a, int n_members, void* stream) {
  const int64_t n = a.rows * a.n * n_members;
  ACX_LAUNCH(bias_act_forward_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

void bias_act_jvp(const BiasActJvpArgs& a, int n_members, void* stream) {
  const int64_t n = a.fwd.rows * a.fwd.n * n_members;
  ACX_LAUNCH(bias_act_jvp_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

void act_backward(const ActBackwardArgs& a, int n_members, void* stream) {
  const int64_t n = a.rows * a.n * n_members;
  ACX_LAUNCH(act_backward_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

void bias_grad(const BiasGradArgs& a, int n_members, void* stream) {
  const int64_t n = static_cast<int64_t>(a.n) * n_members;
  ACX_LAUNCH(bias_grad_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

// Rows in whole warps; the grid is capped like the others (grid-stride over rows).
void layer_norm_forward(const LayerNormArgs& a, int n_members, void* stream) {
  const int64_t n_rows = a.rows * n_members;
  ACX_LAUNCH(layer_norm_forward_kernel, grid_for(n_rows, kRowsPerBlock), kBlock, 0, as_stream(stream), a, n_rows);
}

void layer_norm_jvp(const LayerNormJvpArgs& a, int n_members, void* stream) {
  const int64_t n_rows = a.fwd.rows * n_members;
  ACX_LAUNCH(layer_norm_jvp_kernel, grid_for(n_rows, kRowsPerBlock), kBlock, 0, as_stream(stream), a, n_rows);
}

void layer_norm_backward(const LayerNormBackwardArgs& a, int n_members, void* stream) {
  const int64_t n_rows = a.rows * n_members;
  ACX_LAUNCH(layer_norm_backward_kernel, grid_for(n_rows, kRowsPerBlock), kBlock, 0, as_stream(stream), a, n_rows);
}

void layer_norm_param_grad(const LayerNormParamGradArgs& a, int n_members, void* stream) {
  const int64_t n = static_cast<int64_t>(a.n) * n_members;
  ACX_LAUNCH(layer_norm_param_grad_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

}  // namespace cuda_kernels
}  // namespace acx
