// safetensors.cpp: see safetensors.h. Loading reads the header, checks the
// whole layout against the file size, and only then reads the data, straight
// into each tensor (no second copy of a large checkpoint in memory).
#include "host/io/safetensors.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <limits>
#include <set>
#include <unordered_set>

#include "host/io/atomic_file.h"
#include "host/io/read_file.h"

namespace acx::safetensors {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors.cpp assumes a little-endian host");

constexpr DType kAllDTypes[] = {DType::kF32, DType::kF64, DType::kI64, DType::kI32, DType::kU8, DType::kU32};

// A piece of the header as a message shows it: escaped and cut.
std::string shown(const nlohmann::json& j) { return printable(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kQuotedMaxBytes); }

// A tensor name from a file, as messages show it.
std::string tensor_text(const std::string& name) { return "tensor " + quote_input(name); }

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw Error("corrupt checkpoint " + path + ": " + what);
}

std::string offsets_string(uint64_t begin, uint64_t end) {
  // fmt rather than "[" + std::string: GCC 12 warns falsely (-Wrestrict,
  // its bug 105329) on operator+ with a literal on the left.
  return fmt::format("[{}, {}]", begin, end);
}

// Product of the extents times the element size, or nullopt past 2^63.
bool checked_nbytes(const std::vector<int64_t>& shape, size_t elem_size, uint64_t* out) {
  uint64_t n = elem_size;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (d > 0 && n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / static_cast<uint64_t>(d)) return false;
    n *= static_cast<uint64_t>(d);
  }
  *out = n;
  return true;
}

// Where each tensor's bytes are, as the header says.
struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

// A JSON parse that refuses duplicate keys (the format forbids them, and
// nlohmann would silently keep one).
nlohmann::json parse_header_json(const std::string& text, const std::string& path) {
  std::vector<std::unordered_set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start) open_objects.emplace_back();
    if (event == E::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == E::key && !open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text, callback);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number past a double (found by fuzz_safetensors).
    corrupt(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!duplicate.empty()) corrupt(path, "header repeats the key \"" + duplicate + "\"");
  return header;
}

bool as_u64(const nlohmann::json& j, uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

Entry parse_entry(const std::string& name, const nlohmann::json& j, const std::string& path) {
  const std::string where = tensor_text(name) + ": ";
  if (!j.is_object()) corrupt(path, where + "header entry is a JSON " + j.type_name() + ", expected an object");
  for (const auto& [key, value] : j.items()) {
    (void)value;
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      corrupt(path, where + "unexpected key " + quote_input(key) + " (expected dtype, shape, data_offsets)");
  }
  if (!j.contains("dtype") || !j.contains("shape") || !j.contains("data_offsets"))
    corrupt(path, where + "header entry lacks dtype, shape or data_offsets: " + shown(j));

  Entry e;
  e.name = name;
  const nlohmann::json& dtype = j["dtype"];
  if (!dtype.is_string()) corrupt(path, where + "dtype is not a string: " + shown(dtype));
  const std::string dtype_text = dtype.get<std::string>();
  bool known = false;
  for (DType d : kAllDTypes) {
    if (dtype_text == dtype_name(d)) {
      e.dtype = d;
      known = true;
    }
  }
  if (!known) corrupt(path, where + "unknown dtype " + quote_input(dtype_text) + " (acx reads F32, F64, I64, I32, U8, U32)");

  const nlohmann::json& shape = j["shape"];
  if (!shape.is_array()) corrupt(path, where + "shape is not a list: " + shown(shape));
  for (const nlohmann::json& d : shape) {
    uint64_t extent = 0;
    if (!as_u64(d, &extent) || extent > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      corrupt(path, where + "shape " + shown(shape) + " is not a list of non-negative integers");
    e.shape.push_back(static_cast<int64_t>(extent));
  }

  const nlohmann::json& offsets = j["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !as_u64(offsets[0], &e.begin) || !as_u64(offsets[1], &e.end))
    corrupt(path, where + "data_offsets " + shown(offsets) + " is not a pair of non-negative integers");
  if (e.end < e.begin) corrupt(path, where + "data_offsets " + offsets_string(e.begin, e.end) + " end before they begin");
  return e;
}

// Everything about the header that can be checked before reading the data:
// the entries, sorted by offset, tile [0, data_size) exactly.
std::vector<Entry> check_layout(const nlohmann::json& header, uint64_t data_size, const std::string& path,
                                std::map<std::string, std::string>* metadata) {
  if (!header.is_object()) corrupt(path, std::string("header is a JSON ") + header.type_name() + ", expected an object");
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) corrupt(path, "__metadata__ is a JSON " + std::string(value.type_name()) + ", expected an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) corrupt(path, "__metadata__[" + quote_input(mk) + "] is not a string: " + shown(mv));
        (*metadata)[mk] = mv.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(key, value, path));
  }

  for (const Entry& e : entries) {
    const std::string where = tensor_text(e.name) + ": ";
    uint64_t need = 0;
    if (!checked_nbytes(e.shape, dtype_size(e.dtype), &need))
      corrupt(path, where + "shape " + shape_string(e.shape) + " is too large");
    if (e.end > data_size)
      corrupt(path, where + "data_offsets " + offsets_string(e.begin, e.end) + " run past the end of the data (" +
                        std::to_string(data_size) + " bytes; truncated file?)");
    if (e.end - e.begin != need)
      corrupt(path, where + dtype_name(e.dtype) + " " + shape_string(e.shape) + " needs " + std::to_string(need) +
                        " bytes, but data_offsets " + offsets_string(e.begin, e.end) + " hold " +
                        std::to_string(e.end - e.begin));
  }

  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < pos)
      corrupt(path, tensor_text(e.name) + " at data_offsets " + offsets_string(e.begin, e.end) + " overlaps " +
                        tensor_text(previous->name) + " at " + offsets_string(previous->begin, previous->end));
    if (e.begin > pos)
      corrupt(path, std::to_string(e.begin - pos) + " bytes of gap in the data before " + tensor_text(e.name) +
                        " (data_offsets " + offsets_string(e.begin, e.end) + ")");
    pos = e.end;
    previous = &e;
  }
  if (pos != data_size)
    corrupt(path, std::to_string(data_size - pos) + " bytes of trailing data after the last tensor (the tensors end at " +
                      std::to_string(pos) + " of " + std::to_string(data_size) + " data bytes)");
  return entries;
}

void check_tensor(const Tensor& t) {
  ACX_CHECK(!t.name.empty(), "a tensor has an empty name");
  ACX_CHECK(t.name != "__metadata__", "\"__metadata__\" is reserved and cannot name a tensor");
  uint64_t need = 0;
  ACX_CHECK(checked_nbytes(t.shape, dtype_size(t.dtype), &need),
            "tensor '" + t.name + "': bad shape " + shape_string(t.shape));
  ACX_CHECK(t.data.size() == need, "tensor '" + t.name + "': " + dtype_name(t.dtype) + " " + shape_string(t.shape) +
                                       " needs " + std::to_string(need) + " bytes, data has " +
                                       std::to_string(t.data.size()));
}

}  // namespace

const char* dtype_name(DType d) {
  switch (d) {
    case DType::kF32: return "F32";
    case DType::kF64: return "F64";
    case DType::kI64: return "I64";
    case DType::kI32: return "I32";
    case DType::kU8: return "U8";
    case DType::kU32: return "U32";
  }
  return "?";
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::kF32: return 4;
    case DType::kF64: return 8;
    case DType::kI64: return 8;
    case DType::kI32: return 4;
    case DType::kU8: return 1;
    case DType::kU32: return 4;
  }
  return 0;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const Tensor& SafetensorsFile::get(const std::string& name) const {
  const auto it = index_.find(name);
  if (it != index_.end()) return tensors_[it->second];
  if (header_.count(name))
    throw Error("checkpoint " + path_ + ": tensor '" + name + "' was not read (the load's filter left it out)");
  std::string have;
  for (size_t i = 0; i < tensors_.size() && i < 20; ++i) have += (i ? ", " : "") + printable(tensors_[i].name, 80);
  if (tensors_.size() > 20) have += ", ... (" + std::to_string(tensors_.size()) + " in all)";
  throw UsageError("checkpoint " + path_ + " has no tensor '" + name + "' (it has: " +
                   (have.empty() ? std::string("no tensors") : have) + ")");
}

void SafetensorsFile::expect_header(const std::string& name, DType dtype, const std::vector<int64_t>& shape) const {
  const auto it = header_.find(name);
  if (it == header_.end()) (void)get(name);  // throws, listing what the file has
  const TensorInfo& t = it->second;
  if (t.dtype != dtype || t.shape != shape)
    throw UsageError("checkpoint " + path_ + ": tensor '" + name + "' is " + dtype_name(t.dtype) + " " +
                     shape_string(t.shape) + ", expected " + dtype_name(dtype) + " " + shape_string(shape) +
                     " (a checkpoint of another env, network size or algorithm?)");
}

const Tensor& SafetensorsFile::expect(const std::string& name, DType dtype, const std::vector<int64_t>& shape) const {
  expect_header(name, dtype, shape);
  return get(name);
}

const std::string& SafetensorsFile::meta(const std::string& key) const {
  const auto it = metadata_.find(key);
  if (it == metadata_.end()) throw UsageError("checkpoint " + path_ + " has no metadata entry '" + key + "'");
  return it->second;
}

std::string header_json(const std::vector<Tensor>& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const Tensor& t : tensors) {
    check_tensor(t);
    ACX_CHECK(names.insert(t.name).second, "two tensors are named '" + t.name + "'");
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  return text;
}

namespace {

std::string crc_text(uint32_t crc) { return fmt::format("{:08x}", crc); }

// The metadata's checksum: each entry but the checksums' own, key NUL value NUL, in key order.
uint32_t metadata_crc(const std::map<std::string, std::string>& metadata) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  for (const auto& [k, v] : metadata) {
    if (k == kChecksumKey) continue;
    for (const std::string* s : {&k, &v}) {
      crc = ::crc32_z(crc, reinterpret_cast<const Bytef*>(s->data()), s->size());
      crc = ::crc32_z(crc, reinterpret_cast<const Bytef*>(""), 1);
    }
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

uint32_t crc32_of(const void* data, size_t n) {
  return static_cast<uint32_t>(::crc32_z(::crc32(0L, Z_NULL, 0), static_cast<const Bytef*>(data), n));
}

void save_safetensors(const std::string& path, const std::vector<Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  ACX_CHECK(!metadata.count(kChecksumKey), std::string("the metadata key \"") + kChecksumKey + "\" is the checksums'");
  std::map<std::string, std::string> meta = metadata;
  nlohmann::ordered_json crcs = nlohmann::ordered_json::object();
  crcs["__metadata__"] = crc_text(metadata_crc(meta));
  for (const Tensor& t : tensors) crcs[t.name] = crc_text(crc32_of(t.data.data(), t.data.size()));
  meta[kChecksumKey] = crcs.dump();
  const std::string header = header_json(tensors, meta);
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));
  AtomicFileWriter out(path);
  out.write(length, sizeof length);
  out.write(header);
  for (const Tensor& t : tensors) out.write(t.data.data(), t.data.size());
  out.commit();
}

namespace {

// Where the bytes come from: a file (pread at offsets) or memory.
struct FileSource {
  int fd;
  const std::string& path;
  void read(uint64_t offset, void* dst, size_t n, const char* what) const {
    auto* p = static_cast<char*>(dst);
    while (n > 0) {
      const ssize_t got = ::pread(fd, p, n, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) throw Error(path + ": read error in " + what + (got < 0 ? std::string(": ") + std::strerror(errno) : std::string(" (the file shrank)")));
      p += got;
      offset += static_cast<uint64_t>(got);
      n -= static_cast<size_t>(got);
    }
  }
};

struct MemorySource {
  std::string_view bytes;
  void read(uint64_t offset, void* dst, size_t n, const char* /*what*/) const {
    if (n > 0) std::memcpy(dst, bytes.data() + offset, n);
  }
};

// The "crc32" entry: tensor name (or "__metadata__") to checksum, one per
// tensor and one for the metadata, nothing else.
std::unordered_map<std::string, uint32_t> parse_checksums(const std::map<std::string, std::string>& metadata,
                                                          const std::vector<Entry>& entries, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(metadata.at(kChecksumKey));
  } catch (const nlohmann::json::exception&) {
    corrupt(path, std::string("metadata \"") + kChecksumKey + "\" is not JSON");
  }
  if (!j.is_object()) corrupt(path, std::string("metadata \"") + kChecksumKey + "\" is not a JSON object");
  std::unordered_map<std::string, uint32_t> out;
  for (const auto& [name, value] : j.items()) {
    const std::string text = value.is_string() ? value.get<std::string>() : std::string();
    uint32_t crc = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), crc, 16);
    if (text.size() != 8 || ec != std::errc() || end != text.data() + text.size())
      corrupt(path, "the checksum of " + quote_input(name) + " is not 8 hex digits");
    out[name] = crc;
  }
  const bool has_meta = out.count("__metadata__") != 0;
  if (!has_meta || out.size() != entries.size() + 1)
    corrupt(path, std::string("metadata \"") + kChecksumKey + "\" does not hold one checksum per tensor and one for the metadata");
  for (const Entry& e : entries)
    if (!out.count(e.name)) corrupt(path, tensor_text(e.name) + " has no checksum");
  return out;
}

}  // namespace

template <class Source>
SafetensorsFile load_from(Source& source, uint64_t file_size, const std::string& path, const TensorFilter& want) {
  if (file_size < 8)
    corrupt(path, "the file is " + std::to_string(file_size) + " bytes, too short for the 8-byte header length");
  uint8_t length[8];
  source.read(0, length, 8, "the header length");
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= uint64_t{length[i]} << (8 * i);
  if (header_size > kMaxHeaderBytes)
    corrupt(path, "header length " + std::to_string(header_size) + " is over the " + std::to_string(kMaxHeaderBytes) +
                      "-byte limit (not a safetensors file?)");
  if (header_size > file_size - 8)
    corrupt(path, "header length " + std::to_string(header_size) + " runs past the end of the file (" +
                      std::to_string(file_size) + " bytes; truncated file?)");
  if (header_size == 0) corrupt(path, "header length is 0 (expected a JSON object)");

  std::string text(header_size, '\0');
  source.read(8, text.data(), header_size, "the header");
  if (text[0] != '{') corrupt(path, "header does not start with '{' (not a safetensors file?)");
  const nlohmann::json header = parse_header_json(text, path);

  SafetensorsFile file;
  file.path_ = path;
  const uint64_t data_start = 8 + header_size;
  const uint64_t data_size = file_size - data_start;
  const std::vector<Entry> entries = check_layout(header, data_size, path, &file.metadata_);

  std::unordered_map<std::string, uint32_t> crcs;
  file.checksummed_ = file.metadata_.count(kChecksumKey) != 0;
  if (file.checksummed_) {
    crcs = parse_checksums(file.metadata_, entries, path);
    const uint32_t got = metadata_crc(file.metadata_);
    if (got != crcs.at("__metadata__"))
      corrupt(path, fmt::format("the metadata fails its CRC-32 check (stored {:08x}, computed {:08x}): the header is corrupt",
                                crcs.at("__metadata__"), got));
  }

  file.tensors_.reserve(entries.size());
  for (const Entry& e : entries) {  // in offset order: one sequential pass
    file.header_[e.name] = TensorInfo{e.dtype, e.shape};
    if (want && !want(e.name)) continue;
    Tensor t;
    t.name = e.name;
    t.dtype = e.dtype;
    t.shape = e.shape;
    t.data.resize(e.end - e.begin);
    source.read(data_start + e.begin, t.data.data(), t.data.size(), "the data");
    if (file.checksummed_) {
      const uint32_t got = crc32_of(t.data.data(), t.data.size());
      if (got != crcs.at(e.name))
        corrupt(path, fmt::format("{} fails its CRC-32 check (stored {:08x}, computed {:08x}): its data is corrupt",
                                  tensor_text(e.name), crcs.at(e.name), got));
    }
    file.index_[t.name] = file.tensors_.size();
    file.tensors_.push_back(std::move(t));
  }
  return file;
}

SafetensorsFile load_safetensors(const std::string& path, const TensorFilter& want) {
  // A regular file only: a directory "opens" and reads as garbage, a FIFO or
  // device never ends. No size limit beyond that: checkpoints with a replay
  // buffer are as large as the user's replay.
  checked_file_size(path, std::numeric_limits<uint64_t>::max(), "checkpoint");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw UsageError(path + ": cannot open for reading: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  const off_t end = ::lseek(fd, 0, SEEK_END);
  if (end < 0) throw Error(path + ": cannot determine the file size");
  FileSource source{fd, path};
  return load_from(source, static_cast<uint64_t>(end), path, want);
}

SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name, const TensorFilter& want) {
  MemorySource source{bytes};
  return load_from(source, bytes.size(), name, want);
}

}  // namespace acx::safetensors
