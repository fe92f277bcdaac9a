// device_api.h: the small vocabulary that every CUDA kernel file (.cu) in
// acx is written in. Include it first in each .cu file.
//
// Under nvcc it maps onto CUDA. Under the SIMT emulation (ACX_SIMT_EMULATION,
// g++ compiling the .cu file as C++) kernels/runtime/simt_emu.h supplies the same
// names, so the kernel's exact source runs on a CPU in tests. Kernels may use
// only: threadIdx/blockIdx/blockDim/gridDim, the shared-memory macros below,
// __syncthreads, the *_sync warp shuffles and votes, atomicAdd/atomicMax/
// atomicCAS, __ldg, and the float math of <cmath> (plus __expf, __logf,
// __fdividef). Every launch goes through acx_launch / ACX_LAUNCH.
#pragma once

#include <cstdlib>

#include "kernels/runtime/common.h"
#include "kernels/runtime/cuda_api.h"

#if defined(ACX_SIMT_EMULATION)
#include "kernels/runtime/simt_emu.h"
#elif defined(__CUDACC__)
#include <cuda_runtime.h>
#else
#error "device_api.h is for kernel sources compiled by nvcc or under ACX_SIMT_EMULATION"
#endif

#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/runtime/error.h"
#include "kernels/runtime/launch_config.h"

// Shared memory, per block. Under the emulation these are fresh per block and
// poisoned (NaN / 0xFF bytes), so that reading what no thread wrote shows up.
#if defined(ACX_SIMT_EMULATION)
#define ACX_SHARED_ARRAY(T, name, n) T* name = ::acx::simt::shared_array<T>(__FILE__, __LINE__, (n))
#define ACX_DYNAMIC_SHARED(T, name) T* name = ::acx::simt::dynamic_shared<T>()
#else
#define ACX_SHARED_ARRAY(T, name, n) __shared__ T name[(n)]
#define ACX_DYNAMIC_SHARED(T, name) \
  extern __shared__ unsigned char acx_dynamic_smem_[]; \
  T* name = reinterpret_cast<T*>(acx_dynamic_smem_)
#endif

namespace acx {

constexpr unsigned kFullWarpMask = 0xffffffffu;
constexpr int kWarpSize = 32;

// Whether ACX_SYNC_LAUNCHES=1 is set (read once).
inline bool sync_launches() {
  static const bool on = [] {
    const char* v = std::getenv("ACX_SYNC_LAUNCHES");
    return v != nullptr && v[0] == '1';
  }();
  return on;
}

// The one place a kernel is launched. Returns at once for an empty grid, and
// checks the launch (configuration errors surface here, with the kernel name).
template <typename... KernelArgs, typename... Args>
void launch_kernel(const char* name, const char* file, int line, void (*kernel)(KernelArgs...), dim3 grid,
                   dim3 block, size_t shared_bytes, cudaStream_t stream, Args&&... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  // While the host redoes a replayed graph's iteration, its launches are
  // dropped (kernels/runtime/graph.h).
  const cuda_api::StreamMode mode = cuda_api::stream_mode();
  if (mode == cuda_api::StreamMode::kDiscard) return;
#if defined(ACX_SIMT_EMULATION)
  if (mode == cuda_api::StreamMode::kCapture) {
    // Arguments converted and copied now, as a captured launch keeps them.
    std::tuple<std::decay_t<KernelArgs>...> params(std::forward<Args>(args)...);
    cuda_api::emulated_record([=] {
      std::apply([&](const auto&... p) { ::acx::simt::launch(name, file, line, kernel, grid, block, shared_bytes, p...); },
                 params);
    });
    return;
  }
  ::acx::simt::launch(name, file, line, kernel, grid, block, shared_bytes, std::forward<Args>(args)...);
  (void)stream;
#else
  kernel<<<grid, block, shared_bytes, stream>>>(std::forward<Args>(args)...);
  ::acx::check_cuda(cudaGetLastError(), name, file, line);
  // ACX_SYNC_LAUNCHES=1 (docs/testing.md): wait for every kernel and check
  // it, so that a fault is reported at the launch that made it, by name,
  // not at some later call. Not while capturing a graph: nothing runs then.
  if (sync_launches() && mode == cuda_api::StreamMode::kRun)
    ::acx::check_cuda(cudaStreamSynchronize(stream), name, file, line);
#endif
}

// Blocks for n items at a fixed block size, capped (kernels/runtime/launch_config.h)
// so that grid-stride loops cover the rest: the cap keeps launches legal for
// millions of envs, and tests lower it to exercise those loops.
inline unsigned grid_for(int64_t n, int block, int64_t max_blocks = max_grid_blocks()) {
  int64_t g = ceil_div(n, block);
  if (g > max_blocks) g = max_blocks;
  return static_cast<unsigned>(g);
}

}  // namespace acx

// for (i = this thread's first element; i < n; i += all threads of the grid):
// the loop every one-thread-per-element kernel runs, so that a capped grid
// (grid_for) still covers n.
#define ACX_GRID_STRIDE_LOOP(i, n)                                                        \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

#define ACX_LAUNCH(kernel, grid, block, shared_bytes, stream, ...) \
  ::acx::launch_kernel(#kernel, __FILE__, __LINE__, kernel, grid, block, shared_bytes, stream __VA_OPT__(, ) __VA_ARGS__)
