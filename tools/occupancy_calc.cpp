// Theoretical occupancy from CUDA's occupancy calculator header (no GPU, no
// CUDA runtime: cuda_occupancy.h is self-contained). Built and run by
// tools/gpu_static_report.py:
//   g++ -std=c++17 -I/usr/local/cuda/include tools/occupancy_calc.cpp -o occ
// stdin, one kernel per line:  ARCH REGS STATIC_SMEM BLOCK DYNAMIC_SMEM   (ARCH: 80 or 90)
// stdout, one line each:       ACTIVE_BLOCKS_PER_SM ACTIVE_WARPS MAX_WARPS LIMITER
#include <cuda_occupancy.h>

#include <cstdio>
#include <iostream>
#include <string>

namespace {

// The published limits of the A100 (sm_80) and H100 SXM (sm_90): the CUDA
// C++ Programming Guide's "Technical Specifications per Compute Capability".
bool device_props(int arch, cudaOccDeviceProp* p) {
  *p = cudaOccDeviceProp{};
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsPerMultiprocessor = 2048;
  p->regsPerBlock = 65536;
  p->regsPerMultiprocessor = 65536;
  p->warpSize = 32;
  p->sharedMemPerBlock = 48 * 1024;
  p->reservedSharedMemPerBlock = 1024;
  if (arch == 80) {
    p->computeMajor = 8, p->computeMinor = 0;
    p->sharedMemPerMultiprocessor = 164 * 1024;
    p->sharedMemPerBlockOptin = 163 * 1024;
    p->numSms = 108;
    return true;
  }
  if (arch == 90) {
    p->computeMajor = 9, p->computeMinor = 0;
    p->sharedMemPerMultiprocessor = 228 * 1024;
    p->sharedMemPerBlockOptin = 227 * 1024;
    p->numSms = 132;
    return true;
  }
  return false;
}

const char* limiter(unsigned f) {
  if (f & OCC_LIMIT_REGISTERS) return "registers";
  if (f & OCC_LIMIT_SHARED_MEMORY) return "shared_memory";
  if (f & OCC_LIMIT_WARPS) return "warps";
  if (f & OCC_LIMIT_BLOCKS) return "blocks";
  if (f & OCC_LIMIT_BARRIERS) return "barriers";
  return "none";
}

}  // namespace

int main() {
  int arch = 0, regs = 0, block = 0;
  size_t smem = 0, dyn = 0;
  while (std::cin >> arch >> regs >> smem >> block >> dyn) {
    cudaOccDeviceProp prop;
    if (!device_props(arch, &prop)) {
      std::fprintf(stderr, "occupancy_calc: unknown arch %d\n", arch);
      return 2;
    }
    cudaOccFuncAttributes attr;
    attr.maxThreadsPerBlock = 1024;
    attr.numRegs = regs;
    attr.sharedSizeBytes = smem;
    cudaOccDeviceState state;
    cudaOccResult result;
    const cudaOccError err = cudaOccMaxActiveBlocksPerMultiprocessor(&result, &prop, &attr, &state, block, dyn);
    if (err != CUDA_OCC_SUCCESS) {
      std::fprintf(stderr, "occupancy_calc: error %d for arch %d regs %d block %d\n", static_cast<int>(err), arch,
                   regs, block);
      return 1;
    }
    const int warps_per_block = (block + prop.warpSize - 1) / prop.warpSize;
    std::printf("%d %d %d %s\n", result.activeBlocksPerMultiprocessor,
                result.activeBlocksPerMultiprocessor * warps_per_block,
                prop.maxThreadsPerMultiprocessor / prop.warpSize, limiter(result.limitingFactors));
  }
  return 0;
}
