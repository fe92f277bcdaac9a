// The SIMT emulation build: the "CUDA device" is host memory, kernels run
// their own CUDA source under kernels/runtime/simt_emu.h, and what cannot be emulated
// stands in with its CPU counterpart: cuBLAS is OpenBLAS, streams are
// synchronous (every call completes before it returns).
#include <cblas.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/runtime/cuda_api.h"
#include "kernels/runtime/cuda_api_mode.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/simt_emu.h"

namespace acx::cuda_api {

namespace {
int g_stream_tag = 0;
int g_blas_tag = 0;

// Emulated graphs: a capture records each launch, copy, fill and GEMM as a
// closure over its arguments (as CUDA copies a launch's arguments into the
// graph), and a launch of the graph runs them in order. A value the host
// would pass as an argument is frozen at capture exactly as on a GPU, so a
// training run with graphs matches the launched one only if every changing
// value is read from device memory: what tests/emu_train.sh checks.
struct EmuGraph {
  std::vector<std::function<void()>> work;
};
thread_local std::unique_ptr<EmuGraph> g_capturing;
using mode::refuse_in_graph;

// Runs `work` now, keeps it in the graph being captured, or drops it.
void run_or_record(std::function<void()> work) {
  switch (stream_mode()) {
    case StreamMode::kRun: work(); return;
    case StreamMode::kCapture: g_capturing->work.push_back(std::move(work)); return;
    case StreamMode::kDiscard: return;
  }
}
}  // namespace

bool graphs_supported(std::string*) { return true; }

void graph_begin_capture(void*) {
  mode::begin_capture();
  g_capturing = std::make_unique<EmuGraph>();
}

void* graph_end_capture(void*, size_t* nodes, bool abandon) {
  const bool freed = mode::end_capture();
  std::unique_ptr<EmuGraph> g = std::move(g_capturing);
  if (abandon) return nullptr;
  if (freed) mode::throw_freed_in_capture();
  if (nodes) *nodes = g->work.size();
  return g.release();
}

void graph_launch(void* graph, void*) {
  ACX_CHECK(stream_mode() == StreamMode::kRun, "a graph launched inside a capture or a dropped iteration");
  for (const std::function<void()>& w : static_cast<EmuGraph*>(graph)->work) w();
}

void graph_destroy(void* graph) noexcept { delete static_cast<EmuGraph*>(graph); }

void emulated_record(std::function<void()> work) {
  ACX_CHECK(stream_mode() == StreamMode::kCapture, "emulated_record outside a capture");
  run_or_record(std::move(work));
}

const char* implementation() { return "emulation"; }
bool built() { return true; }

int device_count(std::string*) { return 1; }

DeviceProps properties(int ordinal) {
  ACX_CHECK(ordinal == 0, "the SIMT emulation has one device");
  DeviceProps p;
  p.name = "SIMT emulation on the CPU (correctness only, not speed)";
  p.major = 9;
  p.minor = 0;
  // The emulated device's memory is the host's.
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  p.total_memory = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
  return p;
}

std::string runtime_version() { return "emulated"; }
std::string driver_version() { return {}; }
void set_device(int ordinal) { ACX_CHECK(ordinal == 0, "the SIMT emulation has one device"); }

void* malloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  refuse_in_graph("a device allocation");
  void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);  // cudaMalloc's alignment
  ACX_CHECK(p != nullptr, "out of host memory for an emulated device allocation");
  // Device memory nothing has written reads as NaN / 0xFF bytes, so a kernel
  // that reads what it never wrote shows up in the tests.
  simt::poison(p, bytes);
  return p;
}

void free(void* ptr) noexcept {
  mode::note_free(ptr);
  std::free(ptr);
}

void* malloc_host(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  ACX_CHECK(p != nullptr, "out of host memory for an emulated pinned allocation");
  simt::poison(p, bytes);
  return p;
}

void free_host(void* ptr) noexcept { std::free(ptr); }

void memcpy_async(void* dst, const void* src, size_t bytes, CopyKind kind, void*) {
  if (bytes == 0) return;
  if (kind != CopyKind::kDeviceToDevice) refuse_in_graph("a copy between host and device");
  run_or_record([=] { std::memmove(dst, src, bytes); });
}

void memset_async(void* dst, int value, size_t bytes, void*) {
  if (bytes) run_or_record([=] { std::memset(dst, value, bytes); });
}

void* stream_create() { return &g_stream_tag; }
void stream_destroy(void*) noexcept {}
void stream_synchronize(void*) { refuse_in_graph("a wait for the device"); }
void* blas_create(void*) { return &g_blas_tag; }
void blas_destroy(void*) noexcept {}

void sgemm_strided_batched_colmajor(void*, bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                                    const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb,
                                    int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c,
                                    int batch) {
  run_or_record([=] {
    for (int i = 0; i < batch; ++i) {
      cblas_sgemm(CblasColMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                  alpha, a + i * stride_a, static_cast<int>(lda), b + i * stride_b, static_cast<int>(ldb), beta,
                  c + i * stride_c, static_cast<int>(ldc));
    }
  });
}

}  // namespace acx::cuda_api
