// safetensors.h: checkpoints as safetensors files, the format Python users
// open with `safetensors.numpy.load_file` (or torch) without acx.
//
// The format: 8 bytes little-endian u64 N, then N bytes of JSON (padded with
// spaces so the data starts 8-byte aligned), then the raw little-endian data.
//   {"__metadata__": {"key": "value", ...},
//    "actor.params": {"dtype": "F32", "shape": [2, 70000], "data_offsets": [0, 560000]}, ...}
// Offsets are relative to the start of the data section; the tensors tile it
// exactly (no gaps, no overlaps, nothing after the last one).
//
// Checksums. save_safetensors adds the metadata entry "crc32": a JSON object
// of the CRC-32 (zlib's, as Python's zlib.crc32 computes it; 8 hex digits)
// of each tensor's bytes, and under "__metadata__" of the other metadata
// entries (each key, NUL, value, NUL, in key order). Loading verifies every
// checksum of what it reads, so a flipped bit anywhere in a file is reported
// as corruption, by tensor name. Files of other writers have no "crc32" and
// load unverified (checksummed() says which).
//
// Errors. Saving: acx::Error. Loading:
//  - a file that breaks the format: acx::Error "corrupt checkpoint PATH: ..."
//    naming what is wrong (too short, absurd header length, header not a JSON
//    object, unknown dtype, offsets out of range / overlapping / not matching
//    dtype x shape, trailing bytes, a checksum that does not match);
//  - a well-formed file that is not the checkpoint the caller expects (a
//    missing tensor, another dtype or shape) or a path that cannot be opened:
//    acx::UsageError naming the file, the tensor, what was wanted and found.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "kernels/runtime/error.h"

namespace acx::safetensors {

enum class DType { kF32, kF64, kI64, kI32, kU8, kU32 };

const char* dtype_name(DType dtype);  // "F32", as in the file
size_t dtype_size(DType dtype);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::kF32; }
template <> constexpr DType dtype_of<double>() { return DType::kF64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::kI64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::kI32; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::kU8; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::kU32; }

std::string shape_string(const std::vector<int64_t>& shape);  // "[2, 3]"; "[]" for a scalar

struct Tensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // row-major; {} is a scalar (one element)
  std::vector<uint8_t> data;   // numel() * dtype_size(dtype) bytes, little-endian

  int64_t numel() const;

  // A tensor holding a copy of `values` (values.size() must equal the shape's product).
  template <typename T>
  static Tensor from(std::string name, std::vector<int64_t> shape, const std::vector<T>& values);

  // The elements as T; throws acx::UsageError if T is not the tensor's dtype.
  template <typename T>
  std::vector<T> values() const;
};

// A tensor as the header describes it.
struct TensorInfo {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
};

// Which tensors a load reads into memory (the header is always read and
// checked whole). Empty: all of them.
using TensorFilter = std::function<bool(const std::string& name)>;

// A loaded file: the tensors asked for in memory, in data-offset order.
class SafetensorsFile {
 public:
  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<Tensor>& tensors() const { return tensors_; }
  // Whether the file carries the "crc32" entry (verified when it does).
  bool checksummed() const { return checksummed_; }

  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // Every tensor of the file, read or not, as its header describes it.
  const std::map<std::string, TensorInfo>& header() const { return header_; }
  // Checks the header's dtype and shape of `name` (read or not): UsageError
  // naming the file, the tensor, what was wanted and what it is.
  void expect_header(const std::string& name, DType dtype, const std::vector<int64_t>& shape) const;
  // Throws acx::UsageError naming the file, the tensor and the tensors it has.
  const Tensor& get(const std::string& name) const;
  // get(), then checks dtype and shape; throws naming file, tensor, wanted and found.
  const Tensor& expect(const std::string& name, DType dtype, const std::vector<int64_t>& shape) const;
  // The metadata value; throws acx::UsageError when the key is absent.
  const std::string& meta(const std::string& key) const;

 private:
  template <class Source>
  friend SafetensorsFile load_from(Source& source, uint64_t size, const std::string& path, const TensorFilter& want);
  std::string path_;
  std::map<std::string, std::string> metadata_;
  std::vector<Tensor> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, TensorInfo> header_;
  bool checksummed_ = false;
};

// Writes the file atomically (host/io/atomic_file.h): PATH is either the old
// file or the complete new one. Tensors are laid out in the given order.
// Throws acx::Error on a duplicate or reserved name, or data whose size does
// not match dtype x shape.
void save_safetensors(const std::string& path, const std::vector<Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// The JSON header text save_safetensors writes (padded), for tests and tools.
std::string header_json(const std::vector<Tensor>& tensors, const std::map<std::string, std::string>& metadata);

// Reads PATH (a regular file): the header, then the tensors `want` names.
SafetensorsFile load_safetensors(const std::string& path, const TensorFilter& want = {});
// The same from bytes in memory (fuzzing, tests); `name` stands for the path.
SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name, const TensorFilter& want = {});

// The metadata key of the checksums, and the CRC-32 save and load compute.
inline constexpr const char* kChecksumKey = "crc32";
uint32_t crc32_of(const void* data, size_t n);

// The header limit (the reference implementation's, too): a larger length
// field is corruption, not a header.
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// ---- templates ----------------------------------------------------------------------

template <typename T>
Tensor Tensor::from(std::string name, std::vector<int64_t> shape, const std::vector<T>& values) {
  static_assert(std::is_trivially_copyable_v<T>);
  Tensor t;
  t.name = std::move(name);
  t.dtype = dtype_of<T>();
  t.shape = std::move(shape);
  ACX_CHECK(t.numel() == static_cast<int64_t>(values.size()),
            "tensor '" + t.name + "': " + std::to_string(values.size()) + " values for shape " + shape_string(t.shape));
  t.data.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

template <typename T>
std::vector<T> Tensor::values() const {
  if (dtype != dtype_of<T>())
    throw UsageError("tensor '" + name + "' is " + dtype_name(dtype) + ", read as " + dtype_name(dtype_of<T>()));
  std::vector<T> out(data.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), data.data(), out.size() * sizeof(T));
  return out;
}

}  // namespace acx::safetensors
