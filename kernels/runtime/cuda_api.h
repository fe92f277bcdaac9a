// cuda_api.h: everything acx asks of the CUDA runtime and cuBLAS, behind one
// small interface, so that the rest of the host code never includes CUDA
// headers and builds with g++ alone.
//
// Three implementations, one per build configuration:
//   cuda_api.cpp       the real CUDA runtime and cuBLAS (ACX_CUDA=ON)
//   cuda_api_emu.cpp   the SIMT emulation: host memory, OpenBLAS for the GEMMs
//                      (cuBLAS cannot be emulated), synchronous "streams"
//   cuda_api_none.cpp  a CPU-only build: reports that CUDA is not built in
// and one part every build shares: the stream mode of CUDA graphs
// (cuda_api_mode.cpp, with the checks the first two call).
// Every call is checked; failures throw acx::Error with the call and message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace acx::cuda_api {

struct DeviceProps {
  std::string name;
  int major = 0, minor = 0;    // compute capability
  size_t total_memory = 0;     // bytes
  int multiprocessors = 0;
  int clock_khz = 0;           // SM clock
  int memory_clock_khz = 0;
  int memory_bus_bits = 0;
};

enum class CopyKind { kHostToDevice, kDeviceToHost, kDeviceToDevice };

// "cuda" (the real runtime), "emulation", or "none".
const char* implementation();
// Whether this build can run the CUDA backend at all.
bool built();
// Usable devices; when there are none, *why_not says why (driver, no device,
// not built). Never throws.
int device_count(std::string* why_not);
DeviceProps properties(int ordinal);
// "13.0" style versions; empty when unknown.
std::string runtime_version();
std::string driver_version();

void set_device(int ordinal);
void* malloc(size_t bytes);
void free(void* ptr) noexcept;
// Page-locked host memory: what an asynchronous copy to or from the device
// needs to overlap with the host (cudaMallocHost). The emulation returns
// plain host memory.
void* malloc_host(size_t bytes);
void free_host(void* ptr) noexcept;
void memcpy_async(void* dst, const void* src, size_t bytes, CopyKind kind, void* stream);
void memset_async(void* dst, int value, size_t bytes, void* stream);

void* stream_create();
void stream_destroy(void* stream) noexcept;
void stream_synchronize(void* stream);

void* blas_create(void* stream);
void blas_destroy(void* blas) noexcept;
// Column-major, cuBLAS conventions: C = alpha op(A) op(B) + beta C per batch.
void sgemm_strided_batched_colmajor(void* blas, bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                                    const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb,
                                    int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c,
                                    int batch);

// ---- CUDA graphs (kernels/runtime/graph.h) ---------------------------------------------
// What happens to the work the calling thread gives a stream: it runs (the
// default), it is recorded into the graph being captured, or it is dropped
// (the host redoing an iteration's bookkeeping while a graph replays its
// device work). Copies to or from the host, synchronization and allocation
// are errors while recording or dropping: a graph cannot hold them.
enum class StreamMode { kRun, kCapture, kDiscard };
StreamMode stream_mode();
// Whether this build and device can capture graphs; why not, when not.
bool graphs_supported(std::string* why_not);
void graph_begin_capture(void* stream);
// Ends the capture begun on `stream`: an executable graph (free it with
// graph_destroy) and its node count. When `abandon`, the capture is ended
// and thrown away (an error inside it) and null is returned.
void* graph_end_capture(void* stream, size_t* nodes, bool abandon = false);
void graph_launch(void* graph, void* stream);
void graph_destroy(void* graph) noexcept;
void discard_begin();
void discard_end();
// The emulation only: keeps `work` (one kernel launch) in the graph being
// captured, to run at each of its launches. Elsewhere an error.
void emulated_record(std::function<void()> work);

}  // namespace acx::cuda_api
