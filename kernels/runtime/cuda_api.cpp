// The real CUDA runtime and cuBLAS. Plain C++ against the runtime API, so
// g++ compiles it; only kernel files go through nvcc.
#include "kernels/runtime/cuda_api.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "kernels/runtime/cuda_api_mode.h"
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

namespace {
using mode::refuse_in_graph;
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
  refuse_in_graph("a device allocation");
  ACX_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}

void free(void* ptr) noexcept {
  mode::note_free(ptr);
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
  if (kind != CopyKind::kDeviceToDevice) refuse_in_graph("a copy between host and device");
  if (stream_mode() == StreamMode::kDiscard) return;
  ACX_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, to_cuda(kind), static_cast<cudaStream_t>(stream)));
}

void memset_async(void* dst, int value, size_t bytes, void* stream) {
  if (bytes == 0 || stream_mode() == StreamMode::kDiscard) return;
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

void stream_synchronize(void* stream) {
  refuse_in_graph("a wait for the device");
  ACX_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
}

namespace {
// A cuBLAS handle with a workspace of its own, so that a GEMM captured into
// a graph allocates nothing (cuBLAS's advice for graphs; 32 MiB suits Hopper).
struct Blas {
  cublasHandle_t handle = nullptr;
  void* workspace = nullptr;
};
constexpr size_t kBlasWorkspace = size_t{32} << 20;
}  // namespace

void* blas_create(void* stream) {
  auto* b = new Blas;
  try {
    ACX_CUBLAS_CHECK(cublasCreate(&b->handle));
    ACX_CUBLAS_CHECK(cublasSetStream(b->handle, static_cast<cudaStream_t>(stream)));
    // Bitwise-reproducible GEMMs: no split-K atomics, no TF32 unless asked.
    ACX_CUBLAS_CHECK(cublasSetAtomicsMode(b->handle, CUBLAS_ATOMICS_NOT_ALLOWED));
    ACX_CUBLAS_CHECK(cublasSetMathMode(b->handle, CUBLAS_PEDANTIC_MATH));
    ACX_CUDA_CHECK(cudaMalloc(&b->workspace, kBlasWorkspace));
    ACX_CUBLAS_CHECK(cublasSetWorkspace(b->handle, b->workspace, kBlasWorkspace));
  } catch (...) {
    blas_destroy(b);
    throw;
  }
  return b;
}

void blas_destroy(void* blas) noexcept {
  auto* b = static_cast<Blas*>(blas);
  if (!b) return;
  if (b->handle) (void)cublasDestroy(b->handle);
  if (b->workspace) (void)cudaFree(b->workspace);
  delete b;
}

void sgemm_strided_batched_colmajor(void* blas, bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                                    const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb,
                                    int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c,
                                    int batch) {
  if (stream_mode() == StreamMode::kDiscard) return;
  ACX_CUBLAS_CHECK(cublasSgemmStridedBatched(static_cast<Blas*>(blas)->handle, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                             trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, a,
                                             static_cast<int>(lda), stride_a, b, static_cast<int>(ldb), stride_b,
                                             &beta, c, static_cast<int>(ldc), stride_c, batch));
}

bool graphs_supported(std::string* why_not) {
  int runtime = 0;
  ACX_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  if (runtime < 11000) {  // stream capture with cuBLAS and instantiate flags as used here
    if (why_not) *why_not = "the CUDA runtime is older than 11.0";
    return false;
  }
  return true;
}

void graph_begin_capture(void* stream) {
  ACX_CHECK(stream_mode() == StreamMode::kRun, "graph capture begun inside another capture or a dropped iteration");
  // Thread-local: only this thread's unsafe calls (a cudaMalloc, a sync)
  // break the capture, and refuse_in_graph names them before CUDA would.
  ACX_CUDA_CHECK(cudaStreamBeginCapture(static_cast<cudaStream_t>(stream), cudaStreamCaptureModeThreadLocal));
  mode::begin_capture();
}

void* graph_end_capture(void* stream, size_t* nodes, bool abandon) {
  const bool freed = mode::end_capture();
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(static_cast<cudaStream_t>(stream), &graph);
  if (abandon || freed) {
    if (graph) (void)cudaGraphDestroy(graph);
    (void)cudaGetLastError();  // an invalidated capture's error is not the next launch's
    if (freed && !abandon) mode::throw_freed_in_capture();
    return nullptr;
  }
  ACX_CUDA_CHECK(end);
  size_t n = 0;
  const cudaError_t counted = cudaGraphGetNodes(graph, nullptr, &n);
  if (counted != cudaSuccess) {
    (void)cudaGraphDestroy(graph);
    ACX_CUDA_CHECK(counted);
  }
  if (nodes) *nodes = n;
  cudaGraphExec_t exec = nullptr;
  const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
  (void)cudaGraphDestroy(graph);
  ACX_CUDA_CHECK(inst);
  return exec;
}

void graph_launch(void* graph, void* stream) {
  ACX_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph), static_cast<cudaStream_t>(stream)));
}

void graph_destroy(void* graph) noexcept {
  if (graph) (void)cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph));
}

void emulated_record(std::function<void()>) { throw Error("emulated_record outside the SIMT emulation"); }

}  // namespace acx::cuda_api
