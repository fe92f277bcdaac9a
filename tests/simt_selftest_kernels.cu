// simt_selftest_kernels.cu: kernels that exercise the SIMT emulator itself
// (kernels/runtime/simt_emu.h), written in the vocabulary of kernels/runtime/device_api.h as
// any acx kernel is. Compiled only under ACX_SIMT_EMULATION: the launchers
// pass host pointers, since under the emulation the "device" is the host.
// The *_buggy kernels carry planted bugs that tests/test_simt_emulator.cpp
// shows are caught. Each kernel is a real __global__, so the kernel-coverage
// check holds these tests to launching all of them.
#include "kernels/runtime/device_api.h"
#include "tests/simt_selftest_kernels.h"

#include <stdexcept>
#include <string>

namespace acx::simt_selftest {

// ---- block reduction --------------------------------------------------------------
// Grid-stride partial sums, then a sequential-addressing tree in shared memory.
template <int kBlock>
__global__ void block_sum_kernel(const float* __restrict__ x, int64_t n, float* __restrict__ block_sums) {
  ACX_SHARED_ARRAY(float, partial, kBlock);
  const unsigned tid = threadIdx.x;
  float v = 0.0f;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kBlock + tid; i < n;
       i += static_cast<int64_t>(gridDim.x) * kBlock) {
    v += x[i];
  }
  partial[tid] = v;
  __syncthreads();
  for (unsigned stride = kBlock / 2; stride > 0; stride /= 2) {
    if (tid < stride) partial[tid] += partial[tid + stride];
    __syncthreads();
  }
  if (tid == 0) block_sums[blockIdx.x] = partial[0];
}

// Planted bug (b): the barrier after the store is missing, so a thread may read
// partial[tid + 128] before its owner wrote it.
__global__ void block_sum_missing_barrier_kernel(const float* __restrict__ x, int n, float* __restrict__ block_sums) {
  constexpr int kBlock = 256;
  ACX_SHARED_ARRAY(float, partial, kBlock);
  const unsigned tid = threadIdx.x;
  const int i = static_cast<int>(blockIdx.x * kBlock + tid);
  partial[tid] = i < n ? x[i] : 0.0f;
  // __syncthreads();  <- planted bug
  for (unsigned stride = kBlock / 2; stride > 0; stride /= 2) {
    if (tid < stride) partial[tid] += partial[tid + stride];
    __syncthreads();
  }
  if (tid == 0) block_sums[blockIdx.x] = partial[0];
}

unsigned block_sum(const float* x, int64_t n, int block, unsigned max_blocks, float* block_sums) {
  const unsigned grid = grid_for(n, block, max_blocks);
  if (n == 0) return 0;
  switch (block) {
    case 64: ACX_LAUNCH(block_sum_kernel<64>, grid, 64, 0, nullptr, x, n, block_sums); break;
    case 256: ACX_LAUNCH(block_sum_kernel<256>, grid, 256, 0, nullptr, x, n, block_sums); break;
    case 1024: ACX_LAUNCH(block_sum_kernel<1024>, grid, 1024, 0, nullptr, x, n, block_sums); break;
    default: throw std::invalid_argument("block_sum: block must be 64, 256 or 1024");
  }
  return grid;
}

void block_sum_missing_barrier_buggy(const float* x, int n, float* block_sums) {
  ACX_LAUNCH(block_sum_missing_barrier_kernel, grid_for(n, 256), 256, 0, nullptr, x, n, block_sums);
}

// ---- warp reductions ------------------------------------------------------------------
__global__ void warp_sum_down_kernel(const float* __restrict__ x, int n, float* __restrict__ warp_sums) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  float v = i < n ? x[i] : 0.0f;
  for (int offset = warpSize / 2; offset > 0; offset /= 2) v += __shfl_down_sync(kFullWarpMask, v, offset);
  if (threadIdx.x % warpSize == 0 && i < n) warp_sums[i / warpSize] = v;
}

__global__ void warp_sum_xor_kernel(const float* __restrict__ x, int n, float* __restrict__ out) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  float v = i < n ? x[i] : 0.0f;
  for (int mask = warpSize / 2; mask > 0; mask /= 2) v += __shfl_xor_sync(kFullWarpMask, v, mask);
  if (i < n) out[i] = v;
}

// Planted bug (c): the first offset is warpSize, which shfl.sync reduces modulo
// 32 to 0, so every lane adds its own value and the sum comes out doubled.
__global__ void warp_sum_wrong_offset_kernel(const float* __restrict__ x, int n, float* __restrict__ warp_sums) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  float v = i < n ? x[i] : 0.0f;
  for (int offset = warpSize; offset > 0; offset /= 2) v += __shfl_down_sync(kFullWarpMask, v, offset);
  if (threadIdx.x % warpSize == 0 && i < n) warp_sums[i / warpSize] = v;
}

void warp_sum_down(const float* x, int n, float* warp_sums) {
  ACX_LAUNCH(warp_sum_down_kernel, grid_for(n, 128), 128, 0, nullptr, x, n, warp_sums);
}
void warp_sum_xor(const float* x, int n, float* out) {
  ACX_LAUNCH(warp_sum_xor_kernel, grid_for(n, 96), 96, 0, nullptr, x, n, out);
}
void warp_sum_wrong_offset_buggy(const float* x, int n, float* warp_sums) {
  ACX_LAUNCH(warp_sum_wrong_offset_kernel, grid_for(n, 128), 128, 0, nullptr, x, n, warp_sums);
}

// ---- shuffle semantics ----------------------------------------------------------------
__global__ void shuffle_probe_kernel(int kind, const int* __restrict__ param, int width, int* __restrict__ out_int,
                                     double* __restrict__ out_double) {
  const unsigned lane = threadIdx.x;
  const int vi = 1000 + static_cast<int>(lane);
  const double vd = 1000.0 + lane;
  const int p = param[lane];
  int ri = 0;
  double rd = 0.0;
  switch (kind) {
    case 0:
      ri = __shfl_sync(kFullWarpMask, vi, p, width);
      rd = __shfl_sync(kFullWarpMask, vd, p, width);
      break;
    case 1:
      ri = __shfl_up_sync(kFullWarpMask, vi, static_cast<unsigned>(p), width);
      rd = __shfl_up_sync(kFullWarpMask, vd, static_cast<unsigned>(p), width);
      break;
    case 2:
      ri = __shfl_down_sync(kFullWarpMask, vi, static_cast<unsigned>(p), width);
      rd = __shfl_down_sync(kFullWarpMask, vd, static_cast<unsigned>(p), width);
      break;
    default:
      ri = __shfl_xor_sync(kFullWarpMask, vi, p, width);
      rd = __shfl_xor_sync(kFullWarpMask, vd, p, width);
      break;
  }
  out_int[lane] = ri;
  out_double[lane] = rd;
}

void shuffle_probe(int kind, const int* param, int width, int* out_int, double* out_double) {
  ACX_LAUNCH(shuffle_probe_kernel, 1, 32, 0, nullptr, kind, param, width, out_int, out_double);
}

// ---- votes -----------------------------------------------------------------------------------
__global__ void votes_kernel(const int* __restrict__ pred, int n, unsigned* ballot, int* any, int* all,
                             unsigned* even_ballot, int* even_any, int* even_all) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const int p = i < n ? pred[i] : 0;
  const unsigned b = __ballot_sync(kFullWarpMask, p);
  const int a = __any_sync(kFullWarpMask, p);
  const int l = __all_sync(kFullWarpMask, p);
  const unsigned lane = threadIdx.x % warpSize;
  const int w = i / warpSize;
  if (lane % 2 == 0) {  // a partial mask: only the even lanes take part
    constexpr unsigned kEven = 0x55555555u;
    const unsigned eb = __ballot_sync(kEven, p);
    const int ea = __any_sync(kEven, p);
    const int el = __all_sync(kEven, p);
    if (lane == 0 && i < n) {
      even_ballot[w] = eb;
      even_any[w] = ea;
      even_all[w] = el;
    }
  }
  if (lane == 0 && i < n) {
    ballot[w] = b;
    any[w] = a;
    all[w] = l;
  }
}

void votes(const int* pred, int n, unsigned* ballot, int* any, int* all, unsigned* even_ballot, int* even_any,
           int* even_all) {
  ACX_LAUNCH(votes_kernel, grid_for(n, 64), 64, 0, nullptr, pred, n, ballot, any, all, even_ballot, even_any,
             even_all);
}

// ---- atomics -------------------------------------------------------------------------------------
__global__ void histogram_global_kernel(const int* __restrict__ values, int n, unsigned* bins) {
  for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n;
       i += static_cast<int>(gridDim.x * blockDim.x)) {
    atomicAdd(&bins[values[i]], 1u);
  }
}

__global__ void histogram_shared_kernel(const int* __restrict__ values, int n, int n_bins, unsigned* bins) {
  ACX_SHARED_ARRAY(unsigned, local, 256);
  for (int b = static_cast<int>(threadIdx.x); b < n_bins; b += static_cast<int>(blockDim.x)) local[b] = 0;
  __syncthreads();
  for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n;
       i += static_cast<int>(gridDim.x * blockDim.x)) {
    atomicAdd(&local[values[i]], 1u);
  }
  __syncthreads();
  for (int b = static_cast<int>(threadIdx.x); b < n_bins; b += static_cast<int>(blockDim.x)) {
    if (local[b] != 0) atomicAdd(&bins[b], local[b]);
  }
}

void histogram_global(const int* values, int n, int n_bins, unsigned* bins) {
  (void)n_bins;
  ACX_LAUNCH(histogram_global_kernel, grid_for(n, 128, 8), 128, 0, nullptr, values, n, bins);
}
void histogram_shared(const int* values, int n, int n_bins, unsigned* bins) {
  if (n_bins > 256) throw std::invalid_argument("histogram_shared: n_bins > 256");
  ACX_LAUNCH(histogram_shared_kernel, grid_for(n, 128, 8), 128, 0, nullptr, values, n, n_bins, bins);
}

// atomicCAS loop for a float maximum (CUDA has no float atomicMax).
__device__ inline float atomic_max_float(float* address, float v) {
  unsigned* bits = reinterpret_cast<unsigned*>(address);
  unsigned old = *bits, assumed;
  do {
    assumed = old;
    const float current = __uint_as_float(assumed);
    if (current >= v) break;
    old = atomicCAS(bits, assumed, __float_as_uint(v));
  } while (old != assumed);
  return __uint_as_float(old);
}

__global__ void atomics_kernel(const int* __restrict__ values, int n, AtomicResults* r, int* lock) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;
  const int v = values[i];
  atomicMax(&r->max_int, v);
  atomicMax(&r->max_unsigned, static_cast<unsigned>(v) * 3u);
  atomic_max_float(&r->max_float_cas, 0.5f * static_cast<float>(v));
  atomicAdd(&r->add_int, v);
  atomicAdd(&r->add_float, 1.0f);
  atomicAdd(&r->add_double, 0.25);
  atomicAdd(&r->add_ull, 1ull << 33);
  // A spin lock around a plain read-modify-write. Between reading and writing
  // the counter the holder passes a (single-lane) warp op, where the other
  // threads run and spin: without the lock counts would be lost, and without
  // the emulator yielding on a failed CAS the spinners would never let go.
  bool done = false;
  while (!done) {
    if (atomicCAS(lock, 0, 1) == 0) {
      const int c = r->locked_counter;
      __syncwarp(1u << (threadIdx.x % warpSize));
      r->locked_counter = c + 1;
      atomicCAS(lock, 1, 0);
      done = true;
    }
  }
}

AtomicResults atomics(const int* values, int n) {
  AtomicResults r{-2147483647 - 1, 0u, -1e30f, 0, 0, 0.0f, 0.0, 0ull};
  int lock = 0;
  ACX_LAUNCH(atomics_kernel, grid_for(n, 64), 64, 0, nullptr, values, n, &r, &lock);
  return r;
}

// ---- shared memory -------------------------------------------------------------------------------
__global__ void reverse_in_blocks_kernel(const float* __restrict__ x, int n, float* __restrict__ y) {
  ACX_DYNAMIC_SHARED(float, tile);
  const unsigned tid = threadIdx.x;
  const int base = static_cast<int>(blockIdx.x * blockDim.x);
  const int count = n - base < static_cast<int>(blockDim.x) ? n - base : static_cast<int>(blockDim.x);
  if (static_cast<int>(tid) < count) tile[tid] = x[base + static_cast<int>(tid)];
  __syncthreads();
  if (static_cast<int>(tid) < count) y[base + static_cast<int>(tid)] = tile[count - 1 - static_cast<int>(tid)];
}

void reverse_in_blocks(const float* x, int n, int block, float* y) {
  ACX_LAUNCH(reverse_in_blocks_kernel, grid_for(n, block), block, block * sizeof(float), nullptr, x, n, y);
}

__global__ void read_unwritten_shared_kernel(float* out) {
  ACX_SHARED_ARRAY(float, scratch, 128);
  if (threadIdx.x % 2 == 0) scratch[threadIdx.x] = 1.0f;  // the odd elements are never written
  __syncthreads();
  out[threadIdx.x] = scratch[threadIdx.x ^ 1u];
}

void read_unwritten_shared(float* out, int block) {
  ACX_LAUNCH(read_unwritten_shared_kernel, 1, block, 0, nullptr, out);
}

// Planted: the shared array holds 63 floats but 64 threads write one each.
__global__ void shared_overflow_kernel(float* out) {
  ACX_SHARED_ARRAY(float, tile, 63);
  tile[threadIdx.x] = static_cast<float>(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = tile[threadIdx.x];
}

void shared_overflow_buggy(float* out) { ACX_LAUNCH(shared_overflow_kernel, 1, 64, 0, nullptr, out); }

__global__ void static_shared_kernel(int floats) {
  // Two sizes, so the launcher can ask for either (a __shared__ size is a constant).
  if (floats <= 1024) {
    ACX_SHARED_ARRAY(float, small, 1024);
    small[threadIdx.x] = 0.0f;
  } else {
    ACX_SHARED_ARRAY(float, big, 13000);  // 52,000 bytes: over the 48 KiB static limit
    big[threadIdx.x] = 0.0f;
  }
  ACX_DYNAMIC_SHARED(unsigned char, dyn);
  (void)dyn;
}

void static_shared(int floats, size_t dynamic_bytes) {
  ACX_LAUNCH(static_shared_kernel, 1, 32, dynamic_bytes, nullptr, floats);
}

// ---- scheduling and indexing ------------------------------------------------------------------------
__global__ void record_order_kernel(int* order, unsigned* ticket) {
  const unsigned t = atomicAdd(ticket, 1u);
  order[t] = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
}

void record_order(unsigned grid, unsigned block, int* order) {
  unsigned ticket = 0;
  ACX_LAUNCH(record_order_kernel, grid, block, 0, nullptr, order, &ticket);
}

__global__ void index_probe_kernel(unsigned* out) {
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  unsigned* o = out + 15u * (b * threads + t);
  o[0] = threadIdx.x, o[1] = threadIdx.y, o[2] = threadIdx.z;
  o[3] = blockIdx.x, o[4] = blockIdx.y, o[5] = blockIdx.z;
  o[6] = blockDim.x, o[7] = blockDim.y, o[8] = blockDim.z;
  o[9] = gridDim.x, o[10] = gridDim.y, o[11] = gridDim.z;
  const unsigned n_lanes = threads - t / 32u * 32u < 32u ? threads - t / 32u * 32u : 32u;
  const unsigned mask = n_lanes == 32u ? kFullWarpMask : (1u << n_lanes) - 1u;
  o[13] = __activemask();  // before the shuffle, which no lane can pass before all arrive: all lanes live
  o[12] = __shfl_sync(mask, t, 0);  // lane 0 of this warp: warps are consecutive linear ids
  o[14] = 0;
}

void index_probe(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned* out) {
  ACX_LAUNCH(index_probe_kernel, dim3(gx, gy, gz), dim3(bx, by, bz), 0, nullptr, out);
}

__global__ void affine_kernel(const float* __restrict__ x, int64_t n, float* __restrict__ y) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = 2.0f * x[i] + 1.0f;
}

void affine(const float* x, int64_t n, float* y) {
  ACX_LAUNCH(affine_kernel, grid_for(n, 256), 256, 0, nullptr, x, n, y);
}

// Planted bug (a): `i <= n` writes one element past the end of y.
__global__ void affine_off_by_one_kernel(const float* __restrict__ x, int n, float* __restrict__ y) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i <= n) y[i] = 2.0f * x[i < n ? i : n - 1] + 1.0f;
}

void affine_off_by_one_buggy(const float* x, int n, float* y) {
  ACX_LAUNCH(affine_off_by_one_kernel, grid_for(n + 1, 256), 256, 0, nullptr, x, n, y);
}

// ---- launch configuration and kernel exceptions ------------------------------------------------------
__global__ void configured_kernel(unsigned char value) {
  ACX_DYNAMIC_SHARED(unsigned char, bytes);
  if (threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) bytes[0] = value;
}

void configured_launch(unsigned grid, unsigned block_x, unsigned block_y, unsigned block_z, size_t dynamic_bytes) {
  ACX_LAUNCH(configured_kernel, grid, dim3(block_x, block_y, block_z), dynamic_bytes, nullptr, 1);
}

__global__ void throw_in_kernel_kernel(int bad) {
  ACX_SHARED_ARRAY(float, s, 64);
  s[threadIdx.x] = 0.0f;
  __syncthreads();  // the other threads wait here while `bad` throws
  if (static_cast<int>(threadIdx.x) == bad) throw std::out_of_range("index " + std::to_string(bad) + " out of range");
  __syncthreads();
}

void throw_in_kernel(int bad, int block) { ACX_LAUNCH(throw_in_kernel_kernel, 1, block, 0, nullptr, bad); }

__global__ void bad_warp_op_kernel(int mode, int* out) {
  int v = static_cast<int>(threadIdx.x);
  if (mode == 0) v = __shfl_sync(kFullWarpMask, v, 0, 12);
  else v = __shfl_sync(0xfffffffeu, v, 1);  // lane 0 calls with a mask that leaves it out
  out[threadIdx.x] = v;
}

void bad_warp_op(int mode) {
  int out[32];
  ACX_LAUNCH(bad_warp_op_kernel, 1, 32, 0, nullptr, mode, out);
}

// ---- planted synchronization bugs ------------------------------------------------------------------
// Planted bug (d): only the first warp reaches the barrier.
__global__ void barrier_in_branch_kernel(float* out) {
  ACX_SHARED_ARRAY(float, s, 64);
  s[threadIdx.x] = static_cast<float>(threadIdx.x);
  if (threadIdx.x < 32) {
    __syncthreads();
  }
  out[threadIdx.x] = s[63 - threadIdx.x];
}

void barrier_in_branch_buggy(float* out) { ACX_LAUNCH(barrier_in_branch_kernel, 1, 64, 0, nullptr, out); }

// Planted bug (e): lane 5 does not take part in a full-mask shuffle.
__global__ void warp_op_lane_missing_kernel(const float* __restrict__ x, float* __restrict__ out) {
  float v = x[threadIdx.x];
  if (threadIdx.x != 5) v += __shfl_down_sync(kFullWarpMask, v, 1);
  out[threadIdx.x] = v;
}

void warp_op_lane_missing_buggy(const float* x, float* out) {
  ACX_LAUNCH(warp_op_lane_missing_kernel, 1, 32, 0, nullptr, x, out);
}

__global__ void early_return_kernel(const float* __restrict__ x, int n, float* __restrict__ out) {
  ACX_SHARED_ARRAY(float, s, 128);
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i >= n) return;  // the bug: the threads past n never reach the barrier
  s[threadIdx.x] = x[i];
  __syncthreads();
  out[i] = s[threadIdx.x] + s[threadIdx.x ^ 1u];
}

void early_return_before_barrier_buggy(const float* x, int n, float* out) {
  ACX_LAUNCH(early_return_kernel, grid_for(n, 128), 128, 0, nullptr, x, n, out);
}

__global__ void different_barriers_kernel(float* out) {
  ACX_SHARED_ARRAY(float, s, 64);
  s[threadIdx.x] = 1.0f;
  if (threadIdx.x < 32) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = s[63 - threadIdx.x];
}

void different_barriers_buggy(float* out) { ACX_LAUNCH(different_barriers_kernel, 1, 64, 0, nullptr, out); }

__global__ void mismatched_warp_op_kernel(int mode, float* out) {
  const unsigned lane = threadIdx.x;
  float v = static_cast<float>(lane);
  if (mode == 0) {
    v = lane < 16 ? __shfl_xor_sync(kFullWarpMask, v, 1) : __shfl_xor_sync(0xfffffffeu, v, 1);
  } else {
    v = lane < 16 ? __shfl_xor_sync(kFullWarpMask, v, 1) : __shfl_down_sync(kFullWarpMask, v, 1);
  }
  out[lane] = v;
}

void mismatched_warp_op_buggy(int mode, float* out) {
  ACX_LAUNCH(mismatched_warp_op_kernel, 1, 32, 0, nullptr, mode, out);
}

}  // namespace acx::simt_selftest
