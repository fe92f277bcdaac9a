// The real CUDA runtime and cuBLAS. Plain C++ against the runtime API, so
// g++ compiles it; only kernel files go through nvcc.
#include "kernels/runtime/cuda_api.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kernels/runtime/error.h"

#define ACX_CUBLAS_CHECK(call) check_cublas((call), #call, __FILE__, __LINE__)

namespace acx::cuda_api {

namespace {

void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw_error(file, line,
                std::string(call) + " failed: " + cublasGetStatusName(status) + ": " + cublasGetStatusString(status));
  }
}

std::string version_string(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

cudaMemcpyKind to_cuda(CopyKind kind) {
  switch (kind) {
    case CopyKind::kHostToDevice: return cudaMemcpyHostToDevice;
    case CopyKind::kDeviceToHost: return cudaMemcpyDeviceToHost;
    case CopyKind::kDeviceToDevice: return cudaMemcpyDeviceToDevice;
  }
  return cudaMemcpyDefault;
}

}  // namespace

const char* implementation() { return "cuda"; }
bool built() { return true; }

int device_count(std::string* why_not) {
  int n = 0;
  const cudaError_t status = cudaGetDeviceCount(&n);
  if (status != cudaSuccess) {
    if (why_not) *why_not = std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
    (void)cudaGetLastError();  // clear the sticky-free error so later calls are not confused
    return 0;
  }
  if (n == 0 && why_not) *why_not = "the CUDA runtime reports no device";
  return n;
}

DeviceProps properties(int ordinal) {
  cudaDeviceProp p{};
  ACX_CUDA_CHECK(cudaGetDeviceProperties(&p, ordinal));
  DeviceProps out;
  out.name = p.name;
  out.major = p.major;
  out.minor = p.minor;
  out.total_memory = p.totalGlobalMem;
  out.multiprocessors = p.multiProcessorCount;
  ACX_CUDA_CHECK(cudaDeviceGetAttribute(&out.clock_khz, cudaDevAttrClockRate, ordinal));
  ACX_CUDA_CHECK(cudaDeviceGetAttribute(&out.memory_clock_khz, cudaDevAttrMemoryClockRate, ordinal));
  ACX_CUDA_CHECK(cudaDeviceGetAttribute(&out.memory_bus_bits, cudaDevAttrGlobalMemoryBusWidth, ordinal));
  return out;
}

std::string runtime_version() {
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) return {};
  return version_string(v);
}

std::string driver_version() {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess || v == 0) return {};
  return version_string(v);
}

void set_device(int ordinal) { ACX_CUDA_CHECK(cudaSetDevice(ordinal)); }

void* malloc(size_t bytes) {
  void* p = nullptr;
  if (bytes == 0) return nullptr;
  ACX_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}

void free(void* ptr) noexcept {
  if (ptr) (void)cudaFree(ptr);  // destructors must not throw; a failed free is reported by the next checked call
}

void* malloc_host(size_t bytes) {
  void* p = nullptr;
  if (bytes == 0) return nullptr;
  ACX_CUDA_CHECK(cudaMallocHost(&p, bytes));
  return p;
}

void free_host(void* ptr) noexcept {
  if (ptr) (void)cudaFreeHost(ptr);
}

void memcpy_async(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream) {
  if (bytes == 0) return;
  ACX_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, to_cuda(kind), static_cast<cudaStream_t>(stream)));
}

void memset_async(void* dst, int value, size_t bytes, void* stream) {
  if (bytes == 0) return;
  ACX_CUDA_CHECK(cudaMemsetAsync(dst, value, bytes, static_cast<cudaStream_t>(stream)));
}

void* stream_create() {
  cudaStream_t s = nullptr;
  ACX_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return s;
}

void stream_destroy(void* stream) noexcept {
  if (stream) (void)cudaStreamDestroy(static_cast<cudaStream_t>(stream));
}

void stream_synchronize(void* stream) { ACX_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream))); }

void* blas_create(void* stream) {
  cublasHandle_t h = nullptr;
  ACX_CUBLAS_CHECK(cublasCreate(&h));
  ACX_CUBLAS_CHECK(cublasSetStream(h, static_cast<cudaStream_t>(stream)));
  // Bitwise-reproducible GEMMs: no split-K atomics, no TF32 unless asked.
  ACX_CUBLAS_CHECK(cublasSetAtomicsMode(h, CUBLAS_ATOMICS_NOT_ALLOWED));
  ACX_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH));
  return h;
}

void blas_destroy(void* blas) noexcept {
  if (blas) (void)cublasDestroy(static_cast<cublasHandle_t>(blas));
}

void sgemm_strided_batched_colmajor(void* blas, bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                                    const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb,
                                    int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c,
                                    int batch) {
  ACX_CUBLAS_CHECK(cublasSgemmStridedBatched(static_cast<cublasHandle_t>(blas), trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                             trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, a,
                                             static_cast<int>(lda), stride_a, b, static_cast<int>(ldb), stride_b,
                                             &beta, c, static_cast<int>(ldc), stride_c, batch));
}

}  // namespace acx::cuda_api
