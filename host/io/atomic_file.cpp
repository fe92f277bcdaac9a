// atomic_file.cpp: see atomic_file.h.
#include "host/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "kernels/runtime/error.h"

namespace acx {
namespace {

[[noreturn]] void fail_errno(const std::string& what, int err) {
  throw Error(what + ": " + std::strerror(err));
}

std::string parent_dir(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  ACX_CHECK(!path_.empty(), "empty path");
  temp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  // O_EXCL: a stale temporary of a dead process with our pid is not ours to
  // append to; remove it first.
  ::unlink(temp_path_.c_str());
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_errno(path_ + ": cannot write (creating " + temp_path_ + ")", errno);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) abandon();
}

void AtomicFileWriter::abandon() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFileWriter::write(const void* data, size_t n_bytes) {
  ACX_CHECK(fd_ >= 0 && !committed_, path_ + ": write after commit or failure");
  const char* p = static_cast<const char*>(data);
  while (n_bytes > 0) {
    const ssize_t n = ::write(fd_, p, n_bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      abandon();
      fail_errno(path_ + ": write failed (" + temp_path_ + " removed, " + path_ + " unchanged)", err);
    }
    p += n;
    n_bytes -= static_cast<size_t>(n);
  }
}

void AtomicFileWriter::commit() {
  ACX_CHECK(fd_ >= 0 && !committed_, path_ + ": commit after commit or failure");
  if (::fsync(fd_) != 0) {
    const int err = errno;
    abandon();
    fail_errno(path_ + ": fsync failed (" + path_ + " unchanged)", err);
  }
  const int close_status = ::close(fd_);
  fd_ = -1;
  if (close_status != 0) {
    const int err = errno;
    abandon();
    fail_errno(path_ + ": close failed (" + path_ + " unchanged)", err);
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    abandon();
    fail_errno(path_ + ": cannot rename " + temp_path_ + " over it", err);
  }
  committed_ = true;
  // The rename is in the directory's data: sync it too, or a power loss can
  // bring back the old file. Some file systems refuse fsync on a directory
  // (EINVAL); the file itself is already safe then.
  const std::string dir = parent_dir(path_);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) fail_errno(path_ + ": written, but cannot open its directory " + dir + " to sync it", errno);
  const int sync_status = ::fsync(dir_fd);
  const int err = errno;
  ::close(dir_fd);
  if (sync_status != 0 && err != EINVAL) fail_errno(path_ + ": written, but syncing directory " + dir + " failed", err);
}

void write_file_atomic(const std::string& path, std::span<const uint8_t> bytes) {
  AtomicFileWriter out(path);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

void write_file_atomic(const std::string& path, std::string_view text) {
  AtomicFileWriter out(path);
  out.write(text);
  out.commit();
}

}  // namespace acx
