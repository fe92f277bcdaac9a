// tensorboard.cpp: see tensorboard.h. The Event messages are protobuf's
// generated classes from host/io/tensorboard_event.proto; the framing and the
// CRC are here (Debian 12 packages no CRC-32C library for C++).
#include "host/io/tensorboard.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "host/io/tensorboard_event.pb.h"
#include "kernels/runtime/error.h"

namespace acx {
namespace {

static_assert(std::endian::native == std::endian::little, "tensorboard.cpp writes little-endian TFRecords");

// Byte-at-a-time table for the reflected Castagnoli polynomial 0x82F63B78.
constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

uint32_t crc32c(const void* data, size_t n_bytes, uint32_t crc) {
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n_bytes; ++i) crc = kCrc32cTable[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t masked_crc32c(const void* data, size_t n_bytes) {
  const uint32_t crc = crc32c(data, n_bytes);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord_frame(std::string_view payload) {
  std::string record(8 + 4 + payload.size() + 4, '\0');
  const uint64_t length = payload.size();
  std::memcpy(record.data(), &length, 8);
  const uint32_t length_crc = masked_crc32c(record.data(), 8);
  std::memcpy(record.data() + 8, &length_crc, 4);
  if (!payload.empty()) std::memcpy(record.data() + 12, payload.data(), payload.size());
  const uint32_t data_crc = masked_crc32c(payload.data(), payload.size());
  std::memcpy(record.data() + 12 + payload.size(), &data_crc, 4);
  return record;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir, std::optional<int64_t> first_step) {
  const double start = now_s();
  const std::string stem = dir + "/events.out.tfevents." + std::to_string(static_cast<int64_t>(start)) + "." + host_name();
  for (int n = 1; fd_ < 0; ++n) {
    // A taken name (two writers within a second) gets ".N" at the end, which
    // sorts after it: TensorBoard reads a directory's files in name order.
    // fmt rather than "." + std::string: GCC 12 warns falsely (-Wrestrict, its bug 105329).
    path_ = n == 1 ? stem + ".acx" : fmt::format("{}.acx.{}", stem, n);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0 && (errno != EEXIST || n >= 1000))
      throw Error(path_ + ": cannot create the TensorBoard event file: " + std::strerror(errno));
  }
  tensorboard::Event version;
  version.set_wall_time(start);
  version.set_file_version("brain.Event:2");
  write_record(version.SerializeAsString());
  if (first_step) {
    tensorboard::Event restart;
    restart.set_wall_time(start);
    restart.set_step(*first_step);
    restart.mutable_session_log()->set_status(tensorboard::SessionLog::START);
    write_record(restart.SerializeAsString());
  }
}

TensorBoardWriter::~TensorBoardWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void TensorBoardWriter::add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& scalars,
                                    double wall_time_s) {
  tensorboard::Event event;
  event.set_wall_time(wall_time_s < 0 ? now_s() : wall_time_s);
  event.set_step(step);
  tensorboard::Summary* summary = event.mutable_summary();
  for (const auto& [tag, value] : scalars) {
    tensorboard::Summary::Value* v = summary->add_value();
    v->set_tag(tag);
    v->set_simple_value(static_cast<float>(value));
  }
  write_record(event.SerializeAsString());
}

void TensorBoardWriter::write_record(const std::string& payload) {
  // One write per record: a crash leaves whole records (TensorBoard ignores
  // a torn last one).
  const std::string record = tfrecord_frame(payload);
  const char* p = record.data();
  size_t left = record.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(path_ + ": write failed: " + std::strerror(n < 0 ? errno : ENOSPC));
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace acx
