// host_array.h: a named, typed copy of device data on the host, the unit in
// which the replay buffer, the normalizer, the envs and the agent hand their
// state to checkpoints (host/learn/trainer.cpp maps it onto safetensors tensors).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/runtime/buffer.h"

namespace acx {

struct HostArray {
  std::string name;
  std::string dtype;            // "F32", "F64", "I64", "I32", "U8", "U32" (safetensors names)
  std::vector<int64_t> shape;   // row-major
  std::vector<uint8_t> bytes;   // little-endian
};

template <typename T> constexpr const char* host_dtype_name();
template <> constexpr const char* host_dtype_name<float>() { return "F32"; }
template <> constexpr const char* host_dtype_name<double>() { return "F64"; }
template <> constexpr const char* host_dtype_name<int64_t>() { return "I64"; }
template <> constexpr const char* host_dtype_name<int32_t>() { return "I32"; }
template <> constexpr const char* host_dtype_name<uint8_t>() { return "U8"; }
template <> constexpr const char* host_dtype_name<uint32_t>() { return "U32"; }

// A host copy of n elements of device memory.
template <typename T>
HostArray device_to_host_array(const Device& dev, std::string name, std::vector<int64_t> shape, const T* data,
                               size_t n) {
  HostArray a{std::move(name), host_dtype_name<T>(), std::move(shape), std::vector<uint8_t>(n * sizeof(T))};
  memory::copy_device_to_host(dev, a.bytes.data(), data, a.bytes.size());
  return a;
}

// Finds `name` in `arrays`, checks dtype and element count, and copies it to
// device memory; throws acx::Error naming what disagrees.
void host_array_to_device(const Device& dev, const std::vector<HostArray>& arrays, const std::string& name,
                          const char* dtype, size_t n, void* data);

}  // namespace acx
