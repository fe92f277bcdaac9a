// tensorboard.h: scalars in a TensorBoard event file, so that
// `tensorboard --logdir DIR` draws a run's curves.
//
// An event file is a sequence of TFRecords, each
//   uint64 length | uint32 masked_crc32c(length) | length bytes | uint32 masked_crc32c(bytes)
// (little-endian; masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8), each
// holding one serialized Event (host/io/tensorboard_event.proto). The first
// Event carries file_version "brain.Event:2"; then one Event per logging step
// with its scalars as Summary values. A resumed run starts with a SessionLog
// START at the first step it will write: TensorBoard then drops the older
// file's events from that step on, which the resumed run rewrites.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace acx {

// CRC-32C (Castagnoli, RFC 3720), table-driven. Chains: crc32c(b, crc32c(a)) == crc32c(a + b).
uint32_t crc32c(const void* data, size_t n_bytes, uint32_t crc = 0);
// TFRecord's masked CRC of the bytes.
uint32_t masked_crc32c(const void* data, size_t n_bytes);
// One TFRecord around `payload`.
std::string tfrecord_frame(std::string_view payload);

class TensorBoardWriter {
 public:
  // Creates DIR/events.out.tfevents.<unix seconds>.<host>.acx (".acx.N" if
  // that name is taken) and writes the file-version event.
  // `first_step`: set when resuming; the first step this writer will log.
  // Throws acx::Error when the file cannot be created.
  explicit TensorBoardWriter(const std::string& dir, std::optional<int64_t> first_step = std::nullopt);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One Event at `step` with a simple_value (float) per scalar, written and
  // flushed to the OS before returning. wall_time_s < 0: now.
  void add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& scalars, double wall_time_s = -1);

  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& payload);
  std::string path_;
  int fd_ = -1;
};

}  // namespace acx
