// vector_ops.h: element-wise ops over flat float buffers and a deterministic
// sum. Polyak averaging of target networks is axpby (y = a x + b y) over the
// flat parameter buffer; the sum serves metrics and global norms.
#pragma once

#include <cstdint>

#include "kernels/runtime/common.h"
#include "kernels/runtime/device.h"

namespace acx {

// ---- element math (host + device) --------------------------------------------
ACX_HD float axpby_element(float a, float x, float b, float y) { return a * x + b * y; }

// Number of fixed-size chunks the deterministic sum splits n into. Depends on
// n only (never on thread or block counts), so the result is bitwise stable.
constexpr int64_t kSumChunk = 4096;

// ---- ops (dispatch on the device) ------------------------------------------------
namespace ops {
void fill(const Device& dev, float* x, int64_t n, float value);
// y = a x + b y
void axpby(const Device& dev, int64_t n, float a, const float* x, float b, float* y);
// sum of x (or of x^2) accumulated per chunk in float64, chunks added in order.
double sum(const Device& dev, const float* x, int64_t n, bool squares = false);
}  // namespace ops

// ---- shells -----------------------------------------------------------------------
namespace cpu_kernels {
void fill(float* x, int64_t n, float value);
void axpby(int64_t n, float a, const float* x, float b, float* y);
void chunk_sums(const float* x, int64_t n, bool squares, double* partial);  // (ceil(n / kSumChunk))
}  // namespace cpu_kernels

namespace cuda_kernels {
void fill(float* x, int64_t n, float value, void* stream);
void axpby(int64_t n, float a, const float* x, float b, float* y, void* stream);
// partial: device buffer of ceil(n / kSumChunk) doubles.
void chunk_sums(const float* x, int64_t n, bool squares, double* partial, void* stream);
}  // namespace cuda_kernels

}  // namespace acx
