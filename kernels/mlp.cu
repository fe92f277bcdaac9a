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
#include "kernels/device_api.h"
#include "kernels/mlp.h"

namespace acx {

namespace {

constexpr int kBlock = 256;

#define ACX_GRID_STRIDE(i, n)                                                                     \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

__global__ void init_uniform_kernel(InitArgs a, int64_t n) {
  ACX_GRID_STRIDE(i, n) init_uniform_at(a, i);
}

__global__ void bias_act_forward_kernel(BiasActArgs a, int64_t n) {
  ACX_GRID_STRIDE(i, n) bias_act_forward_at(a, i);
}

__global__ void bias_act_jvp_kernel(BiasActJvpArgs a, int64_t n) {
  ACX_GRID_STRIDE(i, n) bias_act_jvp_at(a, i);
}

__global__ void act_backward_kernel(ActBackwardArgs a, int64_t n) {
  ACX_GRID_STRIDE(i, n) act_backward_at(a, i);
}

__global__ void bias_grad_kernel(BiasGradArgs a, int64_t n) {
  ACX_GRID_STRIDE(t, n) bias_grad_at(a, t);
}

#undef ACX_GRID_STRIDE

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

}  // namespace cuda_kernels
}  // namespace acx
