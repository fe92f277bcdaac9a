#include "kernels/runtime/buffer.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/runtime/cuda_api.h"
#include "kernels/runtime/error.h"

namespace acx {

void buffer_size_mismatch(size_t have, size_t want) {
  throw Error("buffer copy of " + std::to_string(want) + " elements into a buffer of " + std::to_string(have));
}

namespace memory {

namespace {
// The CPU backend's memory: 64-byte aligned host memory.
void* host_allocate(size_t bytes) {
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
  return p;
}
}  // namespace

void* allocate(const Device& dev, size_t bytes) {
  if (bytes == 0) return nullptr;
  if (dev.is_cuda()) return cuda_api::malloc(bytes);
  return host_allocate(bytes);
}

void release(const Device& dev, void* ptr) noexcept {
  if (dev.is_cuda()) {
    cuda_api::free(ptr);
  } else {
    std::free(ptr);
  }
}

void copy_host_to_device(const Device& dev, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (dev.is_cuda()) {
    cuda_api::memcpy_async(dst, src, bytes, cuda_api::CopyKind::kHostToDevice, dev.stream());
    // The host source may go away as soon as we return: make the copy complete.
    cuda_api::stream_synchronize(dev.stream());
  } else {
    std::memcpy(dst, src, bytes);
  }
}

void copy_device_to_host(const Device& dev, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (dev.is_cuda()) {
    cuda_api::memcpy_async(dst, src, bytes, cuda_api::CopyKind::kDeviceToHost, dev.stream());
    cuda_api::stream_synchronize(dev.stream());
  } else {
    std::memcpy(dst, src, bytes);
  }
}

void copy_device_to_device(const Device& dev, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (dev.is_cuda()) {
    cuda_api::memcpy_async(dst, src, bytes, cuda_api::CopyKind::kDeviceToDevice, dev.stream());
  } else {
    std::memmove(dst, src, bytes);
  }
}

void set_zero(const Device& dev, void* dst, size_t bytes) {
  if (bytes == 0) return;
  if (dev.is_cuda()) {
    cuda_api::memset_async(dst, 0, bytes, dev.stream());
  } else {
    std::memset(dst, 0, bytes);
  }
}

void* allocate_pinned(const Device& dev, size_t bytes) {
  if (bytes == 0) return nullptr;
  if (dev.is_cuda()) return cuda_api::malloc_host(bytes);
  return host_allocate(bytes);
}

void release_pinned(const Device& dev, void* ptr) noexcept {
  if (dev.is_cuda()) {
    cuda_api::free_host(ptr);
  } else {
    std::free(ptr);
  }
}

void copy_host_to_device_async(const Device& dev, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (dev.is_cuda()) {
    cuda_api::memcpy_async(dst, src, bytes, cuda_api::CopyKind::kHostToDevice, dev.stream());
  } else {
    std::memcpy(dst, src, bytes);
  }
}

}  // namespace memory
}  // namespace acx
