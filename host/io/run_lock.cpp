#include "host/io/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <thread>

#include "kernels/runtime/error.h"

namespace acx {

namespace {

// The holder's note. It writes it right after taking the lock; a second
// process that lost the race by microseconds may find it empty, so wait for
// it briefly.
std::string holder_of(int fd) {
  char buf[512] = {};
  ssize_t n = 0;
  for (int attempt = 0; attempt < 50 && n <= 0; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    n = ::pread(fd, buf, sizeof buf - 1, 0);
  }
  std::string text = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (char& c : text) if (c == '\n') c = ',';
  return text.empty() ? std::string("a process that has not yet written its pid") : printable(text, 200);
}

}  // namespace

RunLock::RunLock(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / kFileName).string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(path + ": cannot create the run lock: " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = err == EWOULDBLOCK ? holder_of(fd_) : std::string();
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw UsageError(dir + " is in use by another acx process (" + holder +
                       "); a run directory has one owner at a time: wait for it to end, or choose another --out");
    throw Error(path + ": cannot lock: " + std::strerror(err));
  }
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  char when[64] = {};
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  const std::string text = "pid " + std::to_string(::getpid()) + "\nhost " + host + "\nsince " + when + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    // The lock holds without the note; only the message to a second process is poorer.
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

namespace {
// NAME.tmp.PID, as AtomicFileWriter names its temporaries.
bool is_temporary(const std::string& name) {
  const size_t dot = name.rfind(".tmp.");
  if (dot == std::string::npos || dot == 0 || dot + 5 == name.size()) return false;
  return std::all_of(name.begin() + static_cast<long>(dot) + 5, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}
}  // namespace

std::vector<std::string> remove_stale_temporaries(const std::string& dir, uint64_t* bytes) {
  namespace fs = std::filesystem;
  std::vector<std::string> removed;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || !is_temporary(name)) continue;
    const uint64_t size = e.file_size(ec);
    if (fs::remove(e.path(), ec)) {
      removed.push_back(name);
      if (bytes) *bytes += size;
    }
  }
  return removed;
}

}  // namespace acx
