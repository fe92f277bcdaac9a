// npy.h: a small, strict reader and writer of NumPy .npy files (format
// versions 1.0, 2.0, 3.0) for little-endian C-order arrays of float32,
// float64, uint8 (bool reads as uint8) and int32. Anything else (Fortran
// order, big-endian, other dtypes, a truncated file, a malformed header)
// throws acx::UsageError naming the file and the problem: these files come
// from users (`acx rollout --init FILE.npy`) as well as from tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace acx::npy {

enum class DType { kFloat32, kFloat64, kUInt8, kInt32 };

const char* dtype_name(DType dtype);  // "float32", ...
size_t dtype_size(DType dtype);

struct Array {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;       // C order; {} is a scalar
  std::vector<unsigned char> data;  // size() * dtype_size(dtype) bytes, little-endian

  int64_t size() const;  // number of elements
  std::string shape_string() const;  // "(200, 64, 3)"

  // The elements as float32 / float64, converted from any dtype.
  std::vector<float> to_float32() const;
  std::vector<double> to_float64() const;
};

// The largest file read() takes (a regular file; see host/io/read_file.h).
constexpr uint64_t kMaxFileBytes = uint64_t{4} << 30;  // 4 GiB

// Reads and checks a file; errors name the path.
Array read(const std::string& path);

// Parses .npy bytes already in memory; `name` is used in error messages.
Array parse(const unsigned char* bytes, size_t n_bytes, const std::string& name);

// Throws acx::UsageError unless `array` has `dtype` (if given) and exactly
// `shape` (-1 matches any extent), e.g. expect_shape(a, {-1, 2}, "FILE").
void expect_shape(const Array& array, const std::vector<int64_t>& shape, const std::string& name);

// Writes a version-1.0 file. `data` holds product(shape) elements of dtype.
void write(const std::string& path, DType dtype, const std::vector<int64_t>& shape, const void* data);
void write(const std::string& path, const std::vector<int64_t>& shape, const std::vector<float>& data);
void write(const std::string& path, const std::vector<int64_t>& shape, const std::vector<double>& data);

}  // namespace acx::npy
