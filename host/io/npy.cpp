// npy.cpp: see npy.h. The header is a Python dict literal; only the three
// keys NumPy writes are accepted: 'descr', 'fortran_order', 'shape'.
#include "host/io/npy.h"

#include "host/io/read_file.h"
#include "kernels/runtime/error.h"

#include <bit>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

namespace acx::npy {
namespace {

static_assert(std::endian::native == std::endian::little, "npy.cpp assumes a little-endian host");

constexpr unsigned char kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw_usage_error(name + ": not a supported .npy file: " + what);
}

// A cursor over the header dict text.
struct HeaderParser {
  const std::string& text;
  const std::string& name;
  size_t pos = 0;

  void skip_space() {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  }
  bool consume(char c) {
    skip_space();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!consume(c)) fail(name, std::string("malformed header (expected '") + c + "' at offset " +
                                    std::to_string(pos) + "): " + quote_input(text));
  }
  std::string string_literal() {
    skip_space();
    if (pos >= text.size() || (text[pos] != '\'' && text[pos] != '"'))
      fail(name, "malformed header (expected a string): " + quote_input(text));
    const char quote = text[pos++];
    const size_t end = text.find(quote, pos);
    if (end == std::string::npos) fail(name, "malformed header (unterminated string): " + quote_input(text));
    std::string s = text.substr(pos, end - pos);
    pos = end + 1;
    return s;
  }
  bool boolean() {
    skip_space();
    if (text.compare(pos, 4, "True") == 0) {
      pos += 4;
      return true;
    }
    if (text.compare(pos, 5, "False") == 0) {
      pos += 5;
      return false;
    }
    fail(name, "malformed header (expected True or False): " + quote_input(text));
  }
  std::vector<int64_t> shape_tuple() {
    expect('(');
    std::vector<int64_t> shape;
    while (!consume(')')) {
      skip_space();
      size_t start = pos;
      while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
      if (start == pos || pos - start > 15) fail(name, "malformed header (bad shape): " + quote_input(text));
      shape.push_back(std::stoll(text.substr(start, pos - start)));
      if (!consume(',')) {
        expect(')');
        break;
      }
    }
    return shape;
  }
};

DType parse_descr(const std::string& descr, const std::string& name) {
  if (descr == "<f4") return DType::kFloat32;
  if (descr == "<f8") return DType::kFloat64;
  if (descr == "|u1" || descr == "<u1" || descr == "|b1") return DType::kUInt8;
  if (descr == "<i4") return DType::kInt32;
  if (!descr.empty() && descr[0] == '>')
    fail(name, "dtype " + quote_input(descr) + " is big-endian; save it little-endian (arr.astype('<f4'))");
  fail(name, "dtype " + quote_input(descr) + " is not one of float32 (<f4), float64 (<f8), uint8 (|u1), bool (|b1), int32 (<i4)");
}

const char* descr_of(DType d) {
  switch (d) {
    case DType::kFloat32: return "<f4";
    case DType::kFloat64: return "<f8";
    case DType::kUInt8: return "|u1";
    case DType::kInt32: return "<i4";
  }
  return "?";
}

template <typename Out>
std::vector<Out> convert(const Array& a) {
  const int64_t n = a.size();
  std::vector<Out> out(static_cast<size_t>(n));
  const unsigned char* p = a.data.data();
  for (int64_t i = 0; i < n; ++i) {
    switch (a.dtype) {
      case DType::kFloat32: { float v; std::memcpy(&v, p + 4 * i, 4); out[i] = static_cast<Out>(v); break; }
      case DType::kFloat64: { double v; std::memcpy(&v, p + 8 * i, 8); out[i] = static_cast<Out>(v); break; }
      case DType::kUInt8: out[i] = static_cast<Out>(p[i]); break;
      case DType::kInt32: { int32_t v; std::memcpy(&v, p + 4 * i, 4); out[i] = static_cast<Out>(v); break; }
    }
  }
  return out;
}

}  // namespace

const char* dtype_name(DType d) {
  switch (d) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kUInt8: return "uint8";
    case DType::kInt32: return "int32";
  }
  return "?";
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::kFloat32: return 4;
    case DType::kFloat64: return 8;
    case DType::kUInt8: return 1;
    case DType::kInt32: return 4;
  }
  return 0;
}

int64_t Array::size() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string Array::shape_string() const {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

std::vector<float> Array::to_float32() const { return convert<float>(*this); }
std::vector<double> Array::to_float64() const { return convert<double>(*this); }

Array parse(const unsigned char* bytes, size_t n_bytes, const std::string& name) {
  if (n_bytes < 10 || std::memcmp(bytes, kMagic, 6) != 0) fail(name, "bad magic (not a .npy file)");
  const int major = bytes[6];
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = bytes[8] | (size_t{bytes[9]} << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (n_bytes < 12) fail(name, "truncated header");
    header_len = bytes[8] | (size_t{bytes[9]} << 8) | (size_t{bytes[10]} << 16) | (size_t{bytes[11]} << 24);
    header_start = 12;
  } else {
    fail(name, "format version " + std::to_string(major) + "." + std::to_string(bytes[7]) + " (expected 1, 2 or 3)");
  }
  if (header_start + header_len > n_bytes) fail(name, "truncated header");
  const std::string header(reinterpret_cast<const char*>(bytes) + header_start, header_len);

  HeaderParser hp{header, name};
  hp.expect('{');
  bool has_descr = false, has_order = false, has_shape = false, fortran = false;
  std::string descr;
  Array a;
  while (!hp.consume('}')) {
    const std::string key = hp.string_literal();
    hp.expect(':');
    if (key == "descr" && !has_descr) {
      descr = hp.string_literal();
      has_descr = true;
    } else if (key == "fortran_order" && !has_order) {
      fortran = hp.boolean();
      has_order = true;
    } else if (key == "shape" && !has_shape) {
      a.shape = hp.shape_tuple();
      has_shape = true;
    } else {
      fail(name, "unexpected or repeated header key " + quote_input(key));
    }
    if (!hp.consume(',')) {
      hp.expect('}');
      break;
    }
  }
  if (!has_descr || !has_order || !has_shape) fail(name, "header lacks descr, fortran_order or shape: " + quote_input(header));
  if (fortran) fail(name, "Fortran order is not supported; save a C-order array (np.ascontiguousarray)");
  a.dtype = parse_descr(descr, name);

  const size_t data_start = header_start + header_len;
  // Sizes: guard the product against overflow before trusting it.
  uint64_t count = 1;
  for (int64_t d : a.shape) {
    if (d < 0 || (d > 0 && count > std::numeric_limits<uint64_t>::max() / 16 / static_cast<uint64_t>(d)))
      fail(name, "shape " + a.shape_string() + " is too large");
    count *= static_cast<uint64_t>(d);
  }
  const uint64_t n_data = count * dtype_size(a.dtype);
  if (n_bytes - data_start != n_data)
    fail(name, "shape " + a.shape_string() + " of " + dtype_name(a.dtype) + " needs " + std::to_string(n_data) +
                   " data bytes, the file has " + std::to_string(n_bytes - data_start));
  a.data.assign(bytes + data_start, bytes + n_bytes);
  return a;
}

Array read(const std::string& path) {
  const std::string bytes = read_file(path, kMaxFileBytes, ".npy file");
  return parse(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), quote_input(path));
}

void expect_shape(const Array& a, const std::vector<int64_t>& shape, const std::string& name) {
  bool ok = a.shape.size() == shape.size();
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || shape[i] == a.shape[i];
  if (!ok) {
    std::string want = "(";
    for (size_t i = 0; i < shape.size(); ++i)
      want += (i ? ", " : "") + (shape[i] < 0 ? std::string("any") : std::to_string(shape[i]));
    want += shape.size() == 1 ? ",)" : ")";
    throw_usage_error(name + ": expected an array of shape " + want + ", got " + a.shape_string());
  }
}

void write(const std::string& path, DType dtype, const std::vector<int64_t>& shape, const void* data) {
  std::string shape_text = "(";
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    ACX_USAGE_CHECK(shape[i] >= 0, path + ": negative extent in shape");
    shape_text += (i ? ", " : "") + std::to_string(shape[i]);
    count *= shape[i];
  }
  shape_text += shape.size() == 1 ? ",)" : ")";
  std::string header =
      std::string("{'descr': '") + descr_of(dtype) + "', 'fortran_order': False, 'shape': " + shape_text + ", }";
  // Pad with spaces so that magic + length + header + '\n' is a multiple of 64.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  ACX_USAGE_CHECK(header.size() <= 65535, path + ": shape too long for a version-1.0 header");

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw_usage_error(path + ": cannot open for writing");
  out.write(reinterpret_cast<const char*>(kMagic), 6);
  const unsigned char version_and_len[4] = {1, 0, static_cast<unsigned char>(header.size() & 0xff),
                                            static_cast<unsigned char>(header.size() >> 8)};
  out.write(reinterpret_cast<const char*>(version_and_len), 4);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(count * dtype_size(dtype)));
  if (!out) throw_error(__FILE__, __LINE__, path + ": write failed");
}

void write(const std::string& path, const std::vector<int64_t>& shape, const std::vector<float>& data) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  ACX_USAGE_CHECK(static_cast<int64_t>(data.size()) == count, path + ": data size does not match the shape");
  write(path, DType::kFloat32, shape, data.data());
}

void write(const std::string& path, const std::vector<int64_t>& shape, const std::vector<double>& data) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  ACX_USAGE_CHECK(static_cast<int64_t>(data.size()) == count, path + ": data size does not match the shape");
  write(path, DType::kFloat64, shape, data.data());
}

}  // namespace acx::npy
