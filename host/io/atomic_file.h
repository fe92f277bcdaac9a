// host/io/: file formats and logs: .npy arrays, safetensors checkpoints,
// TensorBoard event files, metrics.csv, the TOML config schema, and the
// atomic write they all go through (this file). It stands on the runtime
// (kernels/runtime/) alone, with no kernels, envs or training, so that each
// format is read, written and tested on its own.
//
// atomic_file.h: write a file so that a reader (or a crash) sees either the
// old contents or the new, never a part. Checkpoints, summary.json and
// config.toml go through here.
//
// How: write PATH.tmp.<pid> in the same directory, fsync it, rename it over
// PATH (atomic on POSIX file systems), then fsync the directory so that the
// rename itself survives a power loss. On any failure the temporary file is
// removed, PATH is left as it was, and acx::Error names the path and errno.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace acx {

// Streams a file into place: write() any number of times, then commit().
// Destroyed without commit() (an exception on the way), it removes its
// temporary file and leaves PATH untouched.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);  // creates PATH.tmp.<pid>; throws acx::Error
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t n_bytes);
  void write(std::string_view text) { write(text.data(), text.size()); }
  void commit();  // fsync, rename over PATH, fsync the directory

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  void abandon() noexcept;

  std::string path_, temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

void write_file_atomic(const std::string& path, std::span<const uint8_t> bytes);
void write_file_atomic(const std::string& path, std::string_view text);

}  // namespace acx
