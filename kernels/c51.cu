// c51.cu: the C51 critic's per-row kernels, one thread per row (one per
// member for the loss's mean); see c51.h.
#include "kernels/c51.h"
#include "kernels/runtime/device_api.h"

namespace acx {

namespace {

constexpr int kBlock = 128;

__global__ void c51_project_kernel(C51ProjectArgs a) {
  ACX_GRID_STRIDE_LOOP(r, a.n_agents * a.batch) c51_project_at(a, r);
}

__global__ void c51_loss_grad_kernel(C51LossArgs a) {
  ACX_GRID_STRIDE_LOOP(r, a.n_rows) c51_loss_grad_at(a, r);
}

__global__ void member_mean_kernel(MemberMeanArgs a) {
  ACX_GRID_STRIDE_LOOP(e, static_cast<int64_t>(a.n_members)) member_mean_at(a, e);
}

__global__ void c51_value_kernel(C51ValueArgs a) {
  ACX_GRID_STRIDE_LOOP(r, a.n_rows) c51_value_at(a, r);
}

}  // namespace

namespace cuda_kernels {

void c51_project(const C51ProjectArgs& a, void* stream) {
  ACX_LAUNCH(c51_project_kernel, grid_for(a.n_agents * a.batch, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream),
             a);
}

void c51_loss_grad(const C51LossArgs& a, void* stream) {
  ACX_LAUNCH(c51_loss_grad_kernel, grid_for(a.n_rows, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream), a);
}

void member_mean(const MemberMeanArgs& a, void* stream) {
  ACX_LAUNCH(member_mean_kernel, grid_for(a.n_members, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream), a);
}

void c51_value(const C51ValueArgs& a, void* stream) {
  ACX_LAUNCH(c51_value_kernel, grid_for(a.n_rows, kBlock), kBlock, 0, static_cast<cudaStream_t>(stream), a);
}

}  // namespace cuda_kernels
}  // namespace acx
