// sac.cu: SAC's per-sample kernels, one thread per row (one per agent for the
// temperature's gradient); see sac.h.
#include "kernels/runtime/device_api.h"
#include "kernels/sac.h"

namespace acx {

namespace {

constexpr int kBlock = 256;

__global__ void min_q_grad_kernel(MinQGradArgs a) {
  ACX_GRID_STRIDE_LOOP(r, a.n_rows) min_q_grad_at(a, r);
}

__global__ void squashed_gaussian_kernel(SquashedGaussianArgs a) {
  ACX_GRID_STRIDE_LOOP(r, a.n_rows) squashed_gaussian_at(a, r);
}

__global__ void sac_actor_grad_kernel(SacActorGradArgs a) {
  ACX_GRID_STRIDE_LOOP(r, a.n_rows) sac_actor_grad_at(a, r);
}

__global__ void alpha_grad_kernel(AlphaGradArgs a) {
  ACX_GRID_STRIDE_LOOP(k, static_cast<int64_t>(a.n_agents)) alpha_grad_at(a, k);
}

}  // namespace

namespace cuda_kernels {

void min_q_grad(const MinQGradArgs& a, void* stream) {
  ACX_LAUNCH(min_q_grad_kernel, grid_for(a.n_rows, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream), a);
}

void squashed_gaussian(const SquashedGaussianArgs& a, void* stream) {
  ACX_LAUNCH(squashed_gaussian_kernel, grid_for(a.n_rows, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream), a);
}

void sac_actor_grad(const SacActorGradArgs& a, void* stream) {
  ACX_LAUNCH(sac_actor_grad_kernel, grid_for(a.n_rows, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream), a);
}

void alpha_grad(const AlphaGradArgs& a, void* stream) {
  ACX_LAUNCH(alpha_grad_kernel, grid_for(a.n_agents, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream), a);
}

}  // namespace cuda_kernels
}  // namespace acx
