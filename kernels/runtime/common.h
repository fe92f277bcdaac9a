// common.h: the one host+device annotation and the few definitions that every
// piece of element math needs. Read by nvcc, by g++ for the CPU backend, and
// by g++ compiling kernel sources under the SIMT emulation (simt_emu.h).
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
// Element math compiled for both sides.
#define ACX_HD __host__ __device__ inline
#define ACX_DEVICE __device__ inline
#else
// The CPU backend, and kernel sources under the SIMT emulation (where it
// must expand to the same tokens as in the CPU translation units).
#define ACX_HD inline
#define ACX_DEVICE inline
#endif

namespace acx {

// ceil(a / b) for grid sizes and tiles.
ACX_HD constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace acx
