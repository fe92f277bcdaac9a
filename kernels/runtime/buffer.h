// buffer.h: a move-only block of device memory holding n elements of T.
// On the CPU backend it is 64-byte-aligned host memory; on the CUDA backend a
// plain cudaMalloc allocation (no managed memory). Copies to and from the
// host are explicit and ordered on the device's stream.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/runtime/device.h"

namespace acx {

namespace memory {
void* allocate(const Device& dev, size_t bytes);
void release(const Device& dev, void* ptr) noexcept;
void copy_host_to_device(const Device& dev, void* dst, const void* src, size_t bytes);
void copy_device_to_host(const Device& dev, void* dst, const void* src, size_t bytes);  // waits
void copy_device_to_device(const Device& dev, void* dst, const void* src, size_t bytes);
void set_zero(const Device& dev, void* dst, size_t bytes);
// Host memory a device can copy from and to asynchronously: page-locked on a
// CUDA device, plain (64-byte aligned) on the CPU.
void* allocate_pinned(const Device& dev, size_t bytes);
void release_pinned(const Device& dev, void* ptr) noexcept;
// Starts a copy on the device's stream and returns at once: `src` (pinned)
// must stay unchanged until the stream reaches the copy. A plain memcpy on the CPU.
void copy_host_to_device_async(const Device& dev, void* dst, const void* src, size_t bytes);
}  // namespace memory

template <typename T>
class Buffer {
  static_assert(std::is_trivially_copyable_v<T>, "device buffers hold plain data");

 public:
  Buffer() = default;
  Buffer(const Device& dev, size_t n) : dev_(dev), n_(n), ptr_(static_cast<T*>(memory::allocate(dev, n * sizeof(T)))) {}
  static Buffer from_host(const Device& dev, const std::vector<T>& host) {
    Buffer b(dev, host.size());
    b.copy_from_host(host.data(), host.size());
    return b;
  }
  ~Buffer() { reset(); }

  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : dev_(std::move(o.dev_)), n_(std::exchange(o.n_, 0)), ptr_(std::exchange(o.ptr_, nullptr)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      reset();
      dev_ = std::move(o.dev_);
      n_ = std::exchange(o.n_, 0);
      ptr_ = std::exchange(o.ptr_, nullptr);
    }
    return *this;
  }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return n_; }
  size_t bytes() const { return n_ * sizeof(T); }
  bool empty() const { return n_ == 0; }
  const Device& device() const { return dev_; }

  void copy_from_host(const T* src, size_t n) {
    check_size(n);
    memory::copy_host_to_device(dev_, ptr_, src, n * sizeof(T));
  }
  void copy_to_host(T* dst, size_t n) const {
    check_size(n);
    memory::copy_device_to_host(dev_, dst, ptr_, n * sizeof(T));
  }
  void copy_from(const Buffer& src) {
    check_size(src.size());
    memory::copy_device_to_device(dev_, ptr_, src.data(), src.bytes());
  }
  std::vector<T> to_host() const {
    std::vector<T> out(n_);
    copy_to_host(out.data(), n_);
    return out;
  }
  void zero() { memory::set_zero(dev_, ptr_, bytes()); }

 private:
  void check_size(size_t n) const;
  void reset() noexcept {
    if (ptr_) memory::release(dev_, ptr_);
    ptr_ = nullptr;
    n_ = 0;
  }

  Device dev_;
  size_t n_ = 0;
  T* ptr_ = nullptr;
};

void buffer_size_mismatch(size_t have, size_t want);

template <typename T>
void Buffer<T>::check_size(size_t n) const {
  if (n > n_) buffer_size_mismatch(n_, n);
}

}  // namespace acx
