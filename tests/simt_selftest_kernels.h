// simt_selftest_kernels.h: host launchers for the SIMT emulator's self-test
// kernels (tests/simt_selftest_kernels.cu, compiled only under the
// emulation). All pointers are host memory: under the emulation the "device"
// is the host. Launchers named *_buggy run a kernel with a planted bug.
#pragma once

#include <cstddef>
#include <cstdint>

namespace acx::simt_selftest {

// ---- correct kernels ------------------------------------------------------------
// Per-block partial sums of x (grid-stride loop, shared-memory tree, barriers).
// block is 64, 256 or 1024; returns the number of blocks written to block_sums.
unsigned block_sum(const float* x, int64_t n, int block, unsigned max_blocks, float* block_sums);
// Sum of each warp's 32 elements of x (n a multiple of 32), with __shfl_down_sync.
void warp_sum_down(const float* x, int n, float* warp_sums);  // warp_sums: (n / 32)
// Every lane gets its warp's total through __shfl_xor_sync; out: (n).
void warp_sum_xor(const float* x, int n, float* out);
// One warp-op probe: lane l offers 1000 + l (as int, as double) and records what
// it receives. kind: 0 idx, 1 up, 2 down, 3 xor. param[l]: lane l's srcLane/delta/laneMask.
void shuffle_probe(int kind, const int* param, int width, int* out_int, double* out_double);  // (32) each
// Votes over pred (n a multiple of 32), per warp: ballot, any, all with the full
// mask; and the same votes by the even lanes only with mask 0x55555555.
void votes(const int* pred, int n, unsigned* ballot, int* any, int* all, unsigned* even_ballot, int* even_any,
           int* even_all);  // (n / 32) each
// Histogram of values in [0, n_bins): global atomics, and per-block shared atomics merged.
void histogram_global(const int* values, int n, int n_bins, unsigned* bins);
void histogram_shared(const int* values, int n, int n_bins, unsigned* bins);  // n_bins <= 256
// atomicMax (int, unsigned), atomicCAS (a float max via CAS, and a spin lock
// guarding a non-atomic counter), atomicAdd on int/float/double/unsigned long long.
struct AtomicResults {
  int max_int;
  unsigned max_unsigned;
  float max_float_cas;
  int locked_counter;
  int add_int;
  float add_float;
  double add_double;
  unsigned long long add_ull;
};
AtomicResults atomics(const int* values, int n);
// y = reverse of x within each block, through dynamic shared memory.
void reverse_in_blocks(const float* x, int n, int block, float* y);
// out[t] = a shared-memory element no thread wrote (shows the poison).
void read_unwritten_shared(float* out, int block);
// Records the order in which threads run: order[k] = global linear id of the k-th thread.
void record_order(unsigned grid, unsigned block, int* order);
// out[linear global id] = {threadIdx, blockIdx, blockDim, gridDim, lane 0's linear id in its warp} (15 per thread).
void index_probe(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned* out);
// y[i] = 2 x[i] + 1, one thread per element, no sync points (the cost model).
void affine(const float* x, int64_t n, float* y);
// A launch with an arbitrary configuration; each thread writes 1 to its dynamic shared byte 0.
void configured_launch(unsigned grid, unsigned block_x, unsigned block_y, unsigned block_z, size_t dynamic_bytes);
// Static shared memory of `floats` floats per block, plus `dynamic_bytes`.
void static_shared(int floats, size_t dynamic_bytes);
// Kernel code throws std::out_of_range at thread `bad` (like a bounds checker would).
void throw_in_kernel(int bad, int block);
// A shuffle with an invalid width, or with the calling lane missing from its own mask.
void bad_warp_op(int mode);  // 0: width 12, 1: lane not in mask

// ---- planted bugs -------------------------------------------------------------------------
// (a) `i <= n`: writes y[n].
void affine_off_by_one_buggy(const float* x, int n, float* y);
// (b) no barrier between the shared-memory store and the first tree step.
void block_sum_missing_barrier_buggy(const float* x, int n, float* block_sums);  // block 256, grid ceil(n/256)
// (c) shuffle offsets start at warpSize instead of warpSize / 2.
void warp_sum_wrong_offset_buggy(const float* x, int n, float* warp_sums);
// (d) __syncthreads() inside `if (threadIdx.x < 32)` in a block of 64.
void barrier_in_branch_buggy(float* out);
// (e) lane 5 skips a full-mask __shfl_down_sync.
void warp_op_lane_missing_buggy(const float* x, float* out);  // (32)
// Threads past n return before a barrier the others wait at.
void early_return_before_barrier_buggy(const float* x, int n, float* out);  // block 128
// The two halves of a block wait at different __syncthreads() lines.
void different_barriers_buggy(float* out);  // (64)
// Lanes of one warp disagree: mode 0 on the mask, mode 1 on the op.
void mismatched_warp_op_buggy(int mode, float* out);  // (32)
// A shared array one element too short: the red zone after it is written.
void shared_overflow_buggy(float* out);  // (64)

}  // namespace acx::simt_selftest
