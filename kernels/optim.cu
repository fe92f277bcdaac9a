// optim.cu: CUDA shells of the optimizer kernels (kernels/optim.h).
//
// Adam, the per-member scaling and the TD gradient are one thread per
// element. The two reductions (a member's squared gradients, a member's
// batch of losses) give one block a fixed slice: each thread adds a strided
// part in float64, a warp-shuffle tree reduces each warp and thread 0 adds
// the warp sums in order. The slices depend only on the sizes, so the result
// is bitwise reproducible from run to run; it matches the CPU shell, which
// adds in index order, to float64 rounding.
#include "kernels/block_reduce.h"
#include "kernels/runtime/device_api.h"
#include "kernels/optim.h"

namespace acx {

namespace {

constexpr int kBlock = 256;
constexpr int kScalarBlock = 32;  // the one-thread step kernels

__global__ void adam_advance_kernel(AdamAdvanceArgs a) {
  if (blockIdx.x == 0 && threadIdx.x == 0) adam_advance_at(a);
}

__global__ void adam_update_kernel(AdamArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(i, n) adam_update_at(a, i);
}

// One block per (member, chunk).
__global__ void norm_partials_kernel(NormPartialArgs a) {
  ACX_SHARED_ARRAY(double, warp_sums, kBlock / kWarpSize);
  const int64_t e = blockIdx.x / a.n_chunks, c = blockIdx.x % a.n_chunks;
  const int64_t begin = c * kNormChunk;
  const int64_t end = begin + kNormChunk < a.n_params ? begin + kNormChunk : a.n_params;
  const float* x = a.x + e * a.n_params;
  double s = 0;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) s += static_cast<double>(x[j]) * x[j];
  const double total = block_sum<kBlock>(s, warp_sums);
  if (threadIdx.x == 0) a.partial[blockIdx.x] = total;
}

__global__ void clip_finalize_kernel(ClipArgs a, int64_t n_members) {
  ACX_GRID_STRIDE_LOOP(e, n_members) clip_finalize_at(a, e);
}

__global__ void scale_members_kernel(ScaleMembersArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(i, n) scale_members_at(a, i);
}

__global__ void td_grad_kernel(TdLossArgs a, int64_t n) {
  ACX_GRID_STRIDE_LOOP(i, n) td_grad_at(a, i);
}

// One block per member: the mean loss over its batch.
__global__ void td_loss_kernel(TdLossArgs a) {
  ACX_SHARED_ARRAY(double, warp_sums, kBlock / kWarpSize);
  const int64_t e = blockIdx.x;
  double s = 0;
  for (int64_t b = threadIdx.x; b < a.batch; b += blockDim.x) s += td_loss_value(a.kind, a.delta, td_residual(a, e * a.batch + b));
  const double total = block_sum<kBlock>(s, warp_sums);
  if (threadIdx.x == 0) a.loss[e] = static_cast<float>(total / static_cast<double>(a.batch));
}


cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

}  // namespace

namespace cuda_kernels {

void adam_advance(const AdamAdvanceArgs& a, void* stream) {
  ACX_LAUNCH(adam_advance_kernel, 1, kScalarBlock, 0, as_stream(stream), a);
}

void adam_update(const AdamArgs& a, int64_t n, void* stream) {
  ACX_LAUNCH(adam_update_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

void norm_partials(const NormPartialArgs& a, int n_members, void* stream) {
  const int64_t n_blocks = a.n_chunks * n_members;
  ACX_CHECK(n_blocks <= 0x7fffffff, "gradient norm over more than 2^31 chunks");
  ACX_LAUNCH(norm_partials_kernel, static_cast<unsigned>(n_blocks), kBlock, 0, as_stream(stream), a);
}

void clip_finalize(const ClipArgs& a, int n_members, void* stream) {
  ACX_LAUNCH(clip_finalize_kernel, grid_for(n_members, kBlock), kBlock, 0, as_stream(stream), a,
             static_cast<int64_t>(n_members));
}

void scale_members(const ScaleMembersArgs& a, int n_members, void* stream) {
  const int64_t n = a.n_params * n_members;
  ACX_LAUNCH(scale_members_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
}

void td_grad(const TdLossArgs& a, int n_members, void* stream) {
  const int64_t n = a.batch * n_members;
  ACX_LAUNCH(td_grad_kernel, grid_for(n, kBlock), kBlock, 0, as_stream(stream), a, n);
  if (a.loss && a.batch > 0) {
    ACX_LAUNCH(td_loss_kernel, static_cast<unsigned>(n_members), kBlock, 0, as_stream(stream), a);
  }
}

}  // namespace cuda_kernels
}  // namespace acx
