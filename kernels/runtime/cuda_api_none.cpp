// The CPU-only build: there is no CUDA backend to run.
#include "kernels/runtime/cuda_api.h"

#include "kernels/runtime/error.h"

namespace acx::cuda_api {

namespace {
[[noreturn]] void not_built() {
  throw Error("acx was built without CUDA (configure with -DACX_CUDA=ON where nvcc is installed)");
}
}  // namespace

const char* implementation() { return "none"; }
bool built() { return false; }
int device_count(std::string* why_not) {
  if (why_not) *why_not = "acx was built without CUDA (ACX_CUDA=OFF or nvcc not found at configure time)";
  return 0;
}
DeviceProps properties(int) { not_built(); }
std::string runtime_version() { return {}; }
std::string driver_version() { return {}; }
void set_device(int) { not_built(); }
void* malloc(size_t) { not_built(); }
void free(void*) noexcept {}
void* malloc_host(size_t) { not_built(); }
void free_host(void*) noexcept {}
void memcpy_async(void*, const void*, size_t, CopyKind, void*) { not_built(); }
void memset_async(void*, int, size_t, void*) { not_built(); }
void* stream_create() { not_built(); }
void stream_destroy(void*) noexcept {}
void stream_synchronize(void*) { not_built(); }
void* blas_create(void*) { not_built(); }
void blas_destroy(void*) noexcept {}
void sgemm_strided_batched_colmajor(void*, bool, bool, int, int, int, float, const float*, int64_t, int64_t,
                                    const float*, int64_t, int64_t, float, float*, int64_t, int64_t, int) {
  not_built();
}

bool graphs_supported(std::string* why_not) {
  if (why_not) *why_not = "acx was built without CUDA";
  return false;
}
void graph_begin_capture(void*) { not_built(); }
void* graph_end_capture(void*, size_t*, bool) { not_built(); }
void graph_launch(void*, void*) { not_built(); }
void graph_destroy(void*) noexcept {}
void emulated_record(std::function<void()>) { not_built(); }

}  // namespace acx::cuda_api
